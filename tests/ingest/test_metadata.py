"""The fictional flag: an invented example is marked as such and can never pass for a rule."""

from __future__ import annotations

import pytest

from app.core.errors import ValidationError
from ingest import metadata as md


@pytest.mark.parametrize(("value", "flag"), [("true", True), (True, True), ("是", True), ("false", False), (False, False)])
def test_fictional_values(value: object, flag: bool) -> None:
    assert md.validate({"fictional": value})["fictional"] is flag


def test_a_bad_fictional_value_says_what_is_allowed() -> None:
    with pytest.raises(ValidationError, match="fictional"):
        md.validate({"fictional": "maybe"})


def test_a_fictional_document_is_never_typed_policy() -> None:
    assert md.merge({"doc_type": "其他"}, {"fictional": True}).fictional
    with pytest.raises(ValidationError, match="不能标为“政策”"):
        md.merge({"doc_type": "政策"}, md.validate({"fictional": "true"}))
