"""/api/v1 letters with one-time codes: the lead issues the codes for the premises on the
campaign's list (the letters as JSON, for a mail merge), and a resident, or a site acting
for one, enters a code to verify their household."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from app.api.contract import Answer, Operation, answer, operation, validated
from app.api.models import NOT_BLANK, PY_SPACE, Input, Shape, stated, trimmed_text
from app.api.requests import json_body, require_lead
from app.bootstrap import services
from pledges import letters as letter_service
from pledges.addresses import MAX_ADDRESS_LINE

# The domain's reading of a code: its alphabet in either case, spaces and hyphens anywhere.
_CODE_CHAR = letter_service.ALPHABET + "".join(
    c.lower() for c in letter_service.ALPHABET if c.isalpha()
)
CODE_PATTERN = f"^[{PY_SPACE}-]*(?:[{_CODE_CHAR}][{PY_SPACE}-]*){{{letter_service.CODE_LENGTH}}}$"

ADDRESS_LINE = trimmed_text(
    1,
    MAX_ADDRESS_LINE,
    "The first line of the address, as on the letter; other spellings of it are the same address.",
)

# ----- models ----------------------------------------------------------------------------


class Letter(Shape):
    address_line: str
    postcode: str
    street: str
    code: str = Field(
        description="The one-time code, as printed (XXXX-XXXX). Shown this once: only a hash "
        "of it is kept."
    )


class Letters(Shape):
    """One letter per premise on the list whose code is not used yet, street by street."""

    verify_url: str = Field(
        json_schema_extra={"format": "uri"},
        description="Where residents enter their code; print it (or a QR code) on each letter.",
    )
    letters: list[Letter]


class LetterClaim(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"postcode": "LS6 1AB", "address_line": "12 Brudenell Road", "code": "BCDF-2345"}
            ]
        }
    )

    postcode: str = Field(
        json_schema_extra={"pattern": NOT_BLANK},
        examples=["LS6 1AB"],
        description="A real UK postcode: the letter's.",
    )
    address_line: ADDRESS_LINE  # type: ignore[valid-type]
    code: str = stated(
        CODE_PATTERN,
        examples=["BCDF-2345"],
        description="The code on the letter: 8 characters; case, spaces and hyphens do not matter.",
    )


class VerifiedHousehold(Shape):
    level: Literal["letter"] = Field(description="How the household is verified.")
    counted: bool = Field(
        description="Whether it counts now: it needs a confirmed pledge from someone there."
    )


class Verified(Shape):
    verified: Literal[True]
    household: VerifiedHousehold


# ----- handlers --------------------------------------------------------------------------


@operation(
    "POST",
    "/api/v1/campaigns/{slug}/letters",
    operation_id="issueLetters",
    summary="Issue the letters' codes for the premises list (the lead's own)",
    tag="letters",
    caller="lead",
    answers={200: Answer("The letters to print, each with its code", Letters)},
    errors=(403, 404, 409),
    description="Every premise on the list whose code is not used yet gets a new code: the "
    "unused codes of letters issued before stop working. A 409 when the campaign counts "
    "people, has no premises list, or has closed.",
)
async def issue_letters(request: Request) -> Response:
    lead = await require_lead(request)
    svc = services(request)
    slug = request.path_params["slug"]
    letters = await letter_service.issue_letters(svc.store, slug, lead.id, svc.signer)
    body = Letters(
        verify_url=f"{svc.settings.base_url.rstrip('/')}/c/{slug}/verify",
        letters=[
            Letter(address_line=x.address_line, postcode=x.postcode, street=x.street, code=x.code)
            for x in letters
        ],
    )
    return answer(body, headers={"Cache-Control": "no-store"})


def _claim_words(data: object) -> None:
    values = data if isinstance(data, dict) else {}
    letter_service.parse_claim(
        values.get("postcode"), values.get("address_line"), values.get("code")
    )


@operation(
    "POST",
    "/api/v1/campaigns/{slug}/verify",
    operation_id="verifyLetter",
    summary="Verify a household with the code from its letter",
    tag="letters",
    caller="anyone",
    body=LetterClaim,
    answers={200: Answer("The household is verified by letter", Verified)},
    errors=(404, 409, 429),
    description="A 422 naming `code` when the code is wrong, used already, or for another "
    "address (which of these is not said). Wrong codes are limited: "
    f"{letter_service.WRONG_CODES_PER_ADDRESS} a day for one address and "
    f"{letter_service.WRONG_CODES_PER_CAMPAIGN} an hour for one campaign; past either, a "
    "429 with `Retry-After`, and nothing is checked or counted. A 409 when the campaign "
    "sends no letters or has closed.",
)
async def verify_letter(request: Request) -> Response:
    svc = services(request)
    body = await validated(
        LetterClaim, await json_body(request), "Some of what was sent is not valid.", _claim_words
    )
    outcome = await letter_service.verify_letter(
        svc.store,
        request.path_params["slug"],
        svc.signer,
        postcode=body.postcode,
        address_line=body.address_line,
        code=body.code,
    )
    household = VerifiedHousehold(level="letter", counted=outcome.counted)
    return answer(Verified(verified=True, household=household))


operations: list[Operation] = [issue_letters, verify_letter]
