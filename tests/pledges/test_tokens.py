"""Signed links: what one namespace signs, only that namespace accepts, until it expires."""

from __future__ import annotations

import time
from typing import Any

import pytest
from itsdangerous import TimestampSigner

from pledges.errors import InvalidToken
from pledges.tokens import DAY, MAX_AGE, Signer

SECRET = "a-secret-only-these-tests-know"


@pytest.fixture
def signer() -> Signer:
    return Signer(SECRET)


def sign_days_ago(signer: Signer, value: Any, namespace: str, days: float) -> str:
    """A token exactly as the signer would have made it `days` ago."""
    signed_at = int(time.time() - days * DAY)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: signed_at)
        return signer.sign(value, namespace)


@pytest.mark.parametrize("value", [1, 987654321, "pledge-42", {"pledge_id": 7, "kind": "x"}])
@pytest.mark.parametrize("namespace", sorted(MAX_AGE))
def test_round_trip(signer: Signer, value: Any, namespace: str) -> None:
    token = signer.sign(value, namespace)
    assert signer.unsign(token, namespace) == value


def test_tokens_are_url_safe(signer: Signer) -> None:
    token = signer.sign({"pledge_id": 123456}, "pledge-confirm")
    assert all(c.isalnum() or c in "-_." for c in token)


def test_a_new_signer_with_the_same_secret_accepts_the_token(signer: Signer) -> None:
    """Links outlive the process that made them."""
    token = signer.sign(42, "pledge-confirm")
    assert Signer(SECRET).unsign(token, "pledge-confirm") == 42


def test_a_different_secret_is_rejected(signer: Signer) -> None:
    token = signer.sign(42, "pledge-confirm")
    with pytest.raises(InvalidToken) as caught:
        Signer("another-secret").unsign(token, "pledge-confirm")
    assert caught.value.reason == "This link is not valid."


@pytest.mark.parametrize(
    ("signed_for", "used_for"),
    [
        ("pledge-confirm", "pledge-withdraw"),
        ("pledge-withdraw", "pledge-confirm"),
        ("unsubscribe", "pledge-withdraw"),
        ("pledge-confirm", "unsubscribe"),
    ],
)
def test_a_token_of_one_namespace_is_rejected_in_another(
    signer: Signer, signed_for: str, used_for: str
) -> None:
    token = signer.sign(42, signed_for)
    with pytest.raises(InvalidToken):
        signer.unsign(token, used_for)


def test_a_forged_payload_is_rejected(signer: Signer) -> None:
    """Someone swaps in another pledge's id but keeps their own signature."""
    mine = signer.sign(41, "pledge-withdraw")
    theirs = signer.sign(42, "pledge-withdraw")
    forged = theirs.split(".")[0] + "." + ".".join(mine.split(".")[1:])
    assert forged not in (mine, theirs)
    with pytest.raises(InvalidToken):
        signer.unsign(forged, "pledge-withdraw")


def _flip(char: str) -> str:
    return "B" if char == "A" else "A"


@pytest.mark.parametrize("position", ["payload", "timestamp", "signature"])
def test_a_changed_character_is_rejected(signer: Signer, position: str) -> None:
    token = signer.sign(42, "pledge-confirm")
    payload, timestamp, signature = token.split(".")
    if position == "payload":
        payload = _flip(payload[0]) + payload[1:]
    elif position == "timestamp":
        timestamp = timestamp[:-1] + _flip(timestamp[-1])
    else:
        # Not the last character: its low bits may be padding that decodes the same.
        middle = len(signature) // 2
        signature = signature[:middle] + _flip(signature[middle]) + signature[middle + 1 :]
    tampered = f"{payload}.{timestamp}.{signature}"
    assert tampered != token
    with pytest.raises(InvalidToken):
        signer.unsign(tampered, "pledge-confirm")


@pytest.mark.parametrize("token", ["", "nonsense", "a.b.c", "...", "42", "é.é.é"])
def test_garbage_is_rejected(signer: Signer, token: str) -> None:
    with pytest.raises(InvalidToken):
        signer.unsign(token, "pledge-confirm")


@pytest.mark.parametrize(
    ("namespace", "days_valid"),
    [("pledge-confirm", 7), ("pledge-withdraw", 180), ("unsubscribe", 365)],
)
def test_tokens_expire_after_their_namespace_max_age(
    signer: Signer, namespace: str, days_valid: int
) -> None:
    assert MAX_AGE[namespace] == days_valid * DAY
    fresh_enough = sign_days_ago(signer, 42, namespace, days_valid - 0.5)
    assert signer.unsign(fresh_enough, namespace) == 42

    too_old = sign_days_ago(signer, 42, namespace, days_valid + 0.5)
    with pytest.raises(InvalidToken) as caught:
        signer.unsign(too_old, namespace)
    assert caught.value.reason == "This link has expired."


def test_an_explicit_max_age_overrides_the_namespace_default(signer: Signer) -> None:
    token = sign_days_ago(signer, 42, "pledge-confirm", 1)
    assert signer.unsign(token, "pledge-confirm") == 42
    with pytest.raises(InvalidToken) as caught:
        signer.unsign(token, "pledge-confirm", max_age=3600)
    assert caught.value.reason == "This link has expired."


def test_a_token_from_now_with_negative_max_age_has_expired(signer: Signer) -> None:
    token = signer.sign(42, "unsubscribe")
    with pytest.raises(InvalidToken) as caught:
        signer.unsign(token, "unsubscribe", max_age=-1)
    assert caught.value.reason == "This link has expired."


def test_an_expired_token_with_a_bad_signature_is_not_valid(signer: Signer) -> None:
    """Expired or not, a token this secret never signed is reported as not valid."""
    old = sign_days_ago(Signer("another-secret"), 42, "pledge-confirm", 30)
    with pytest.raises(InvalidToken) as caught:
        signer.unsign(old, "pledge-confirm")
    assert caught.value.reason == "This link is not valid."
