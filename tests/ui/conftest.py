"""Every browser test also checks that its pages broke no rule of the content security policy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def no_csp_violations(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test that drove the browser (the ``browser`` fixture of test_browser.py) when any of
    its pages reported a CSP violation; the policy is app/api/security.py's."""
    if "browser" not in request.fixturenames:
        yield
        return
    browser = request.getfixturevalue("browser")
    browser.take()
    yield
    found = browser.take()
    assert not found, "content security policy violations:\n" + "\n".join(dict.fromkeys(found))
