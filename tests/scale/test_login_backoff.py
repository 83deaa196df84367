"""Login back-off per client address, beside each account's own lock: one address failing on many
accounts is stopped for all of them, another address is not; the address comes from the trusted
proxy's header only when one is configured. Two real nodes on the machine's Redis count together."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from app.api.deps import client_address
from tests.scale.cluster import REDIS_URL, redis_or_skip
from tests.support import PASSWORD, cli, shegong_server


def _request(headers: dict[str, str], peer: str = "10.0.0.9") -> SimpleNamespace:
    return SimpleNamespace(headers=headers, client=SimpleNamespace(host=peer))


def _state(header: str) -> SimpleNamespace:
    return SimpleNamespace(settings=SimpleNamespace(trusted_proxy_header=header))


def test_the_address_is_the_proxys_header_only_when_it_is_trusted() -> None:
    forged = {"X-Forwarded-For": "1.2.3.4"}
    assert client_address(_request(forged), _state("")) == "10.0.0.9"  # a header nobody vouches for
    assert client_address(_request({"X-Forwarded-For": "1.2.3.4, 5.6.7.8"}), _state("X-Forwarded-For")) == "5.6.7.8"
    assert client_address(_request({}), _state("X-Forwarded-For")) == "10.0.0.9"


@pytest.mark.integration
def test_one_address_failing_on_many_accounts_is_stopped_on_both_nodes(tmp_path: Path) -> None:
    redis_or_skip()
    data = tmp_path / "data"
    names = [f"u{uuid.uuid4().hex[:6]}" for _ in range(3)]
    for n in names:
        assert cli(data, "user", "add", n, "--password-stdin", stdin=PASSWORD + "\n").returncode == 0
    env = {"SHEGONG_DATA_DIR": str(data), "SHEGONG_AUTH": "on", "SHEGONG_REDIS_URL": REDIS_URL,
           "SHEGONG_LOGIN_FAILURES_PER_ADDRESS": "3", "SHEGONG_TRUSTED_PROXY_HEADER": "X-Forwarded-For"}
    attacker = {"X-Forwarded-For": f"203.0.113.{uuid.uuid4().int % 250 + 1}"}  # a fresh window each run
    with shegong_server(env) as one, shegong_server(env) as two:  # two nodes on one data dir's records
        for i, n in enumerate(names):  # one wrong password on each account: no account lock is reached
            url = one if i % 2 else two
            r = httpx.post(url + "/api/auth/login", json={"username": n, "password": "wrong"}, headers=attacker)
            assert r.status_code == 401
        r = httpx.post(one + "/api/auth/login", json={"username": names[0], "password": PASSWORD}, headers=attacker)
        assert r.status_code == 429 and "登录失败过于频繁" in r.json()["detail"] and int(r.headers["Retry-After"]) > 0
        r = httpx.post(two + "/login", data={"username": names[0], "password": PASSWORD},
                       headers={**attacker, "Origin": two}, follow_redirects=False)
        assert r.status_code == 401 and "登录失败过于频繁" in r.text  # the sign-in page too, on the other node
        ok = httpx.post(one + "/api/auth/login", json={"username": names[0], "password": PASSWORD},
                        headers={"X-Forwarded-For": "198.51.100.7"})
        assert ok.status_code == 200  # another address is not affected
