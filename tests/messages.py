"""Checking error messages by what they must say (the input, the place, the fix), not by their
exact wording, so that a clearer sentence never breaks a test."""

from __future__ import annotations


def assert_names(error: BaseException | str, *facts: str) -> None:
    """Every one of `facts` appears in the message of `error` (verbatim, in any order)."""
    message = str(error)
    missing = [fact for fact in facts if fact not in message]
    assert not missing, f"the message {message!r} does not name {missing}"
