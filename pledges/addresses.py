"""What makes two spellings of an address line one household, the street a line is on,
and the checks on a line a resident or lead types.

A household is the postcode plus `address_key(line)`. The key is upper-case words of
letters and digits: street types spelled out ("Rd" -> "ROAD"), "Flat", "No" and the like
dropped where they only label a number, and "12 A" joined to "12A". Flat numbers and house
names are kept, so "Flat 2, 12 Brudenell Road" is not "12 Brudenell Road".

Hand-written because no small, maintained UK parser exists: libpostal (PyPI `postal`,
`address-finder`) needs a C library and a 1.9 GB model (824 MB download) and gives several
expansions rather than one key; `uk-address-matcher` links records with a Splink model on
DuckDB; `usaddress` and `pyap` (last release 2020) target US-style lines.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata

from pledges.errors import FieldError

MAX_ADDRESS_LINE = 200
# The key and street are stored in 200-character columns; a longer key ends in a digest.
MAX_ADDRESS_KEY = 200

_EXAMPLE = "Enter the first line of your address, like 12 Brudenell Road."

# Street types and other words written short on envelopes, spelled out wherever they stand.
_ABBREVIATIONS = {
    "AV": "AVENUE",
    "AVE": "AVENUE",
    "AVEN": "AVENUE",
    "APPR": "APPROACH",
    "BDWY": "BROADWAY",
    "BLVD": "BOULEVARD",
    "CL": "CLOSE",
    "CNR": "CORNER",
    "CRES": "CRESCENT",
    "CRESC": "CRESCENT",
    "CRS": "CRESCENT",
    "CRT": "COURT",
    "CT": "COURT",
    "EMB": "EMBANKMENT",
    "ESP": "ESPLANADE",
    "GDNS": "GARDENS",
    "GRDNS": "GARDENS",
    "GR": "GROVE",
    "GRN": "GREEN",
    "GRV": "GROVE",
    "GT": "GREAT",
    "HL": "HILL",
    "HTS": "HEIGHTS",
    "HWY": "HIGHWAY",
    "LN": "LANE",
    "LWR": "LOWER",
    "MDW": "MEADOW",
    "MDWS": "MEADOWS",
    "MT": "MOUNT",
    "NTH": "NORTH",
    "PDE": "PARADE",
    "PK": "PARK",
    "PKWY": "PARKWAY",
    "PL": "PLACE",
    "RD": "ROAD",
    "RDG": "RIDGE",
    "SQ": "SQUARE",
    "STH": "SOUTH",
    "TCE": "TERRACE",
    "TER": "TERRACE",
    "TERR": "TERRACE",
    "UPR": "UPPER",
    "VW": "VIEW",
    "WK": "WALK",
    "WLK": "WALK",
    "WY": "WAY",
    "YD": "YARD",
}
# Short forms that mean a street type only as the last word of a street: "St Johns Rd" is
# SAINT JOHNS ROAD, "High St" is HIGH STREET, "La Rue" is not a lane.
_ABBREVIATIONS_AT_END = {"ST": "STREET", "STR": "STREET", "DR": "DRIVE", "LA": "LANE"}
_ST_ELSEWHERE = "SAINT"

# Words that only say "what follows is a number": dropped before one.
_NUMBER_LABELS = frozenset({"FLAT", "FLT", "APARTMENT", "APT", "UNIT", "NO", "NUMBER", "NUM"})

# The last word of most street names, to tell a street from a house name or locality.
_STREET_TYPES = frozenset(
    {
        *_ABBREVIATIONS.values(),
        *_ABBREVIATIONS_AT_END.values(),
        "ALLEY",
        "BANK",
        "BROW",
        "CAUSEWAY",
        "CHASE",
        "CIRCUS",
        "CLOSE",
        "CROFT",
        "CROSS",
        "DALE",
        "END",
        "FOLD",
        "GARTH",
        "GATE",
        "GLADE",
        "GREEN",
        "HILL",
        "LEA",
        "MALL",
        "MEWS",
        "PASSAGE",
        "PATH",
        "PROMENADE",
        "QUAY",
        "RISE",
        "ROW",
        "VALE",
        "WHARF",
        "WYND",
    }
) - {"GREAT", "LOWER", "UPPER", "NORTH", "SOUTH"}
# Words that end a house name written before its street without a comma.
_HOUSE_WORDS = frozenset(
    {
        "BARN",
        "BUNGALOW",
        "COTTAGE",
        "COTTAGES",
        "FARM",
        "FARMHOUSE",
        "HALL",
        "HOUSE",
        "LODGE",
        "MANOR",
        "RECTORY",
        "SCHOOLHOUSE",
        "STABLES",
        "VICARAGE",
        "VILLA",
    }
)

_APOSTROPHES = re.compile("['\u2018\u2019\u02bc`\u00b4]")
_SEGMENT_BREAK = re.compile("[,;]")
_NOT_WORD = re.compile(r"[\W_]+")
_LABEL_GLUED = re.compile(r"^(FLAT|FLT|APARTMENT|APT|UNIT|NO|NUMBER|NUM)([0-9][0-9A-Z]*)$")
_NUMBER_GLUED = re.compile(r"^([0-9]+)([^\W\d_]{3,})$")
# Unicode categories Cc (controls, NUL to U+001F and U+007F to U+009F) and Cs (lone
# surrogates, which no database can store).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAK = re.compile(r"[\n\r\x0b\x0c\x1c-\x1e\x85]")


def _without_format_characters(text: str) -> str:
    """Without Unicode format characters (category Cf: zero-width spaces and joiners, soft
    hyphens, byte-order marks, bidirectional overrides). They are invisible, so a resident
    cannot see or fix them, and they would split one spelling into two."""
    if text.isascii():
        return text
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def _fold_characters(text: str) -> str:
    """One form per letter: NFKC (full-width and ligatures to plain), case folded, then
    upper-cased; accents off Latin letters ("Tŷ" is "TY"), other scripts' digits to 0-9."""
    text = unicodedata.normalize("NFKC", _without_format_characters(text))
    text = text.casefold().upper()
    if text.isascii():
        return text
    kept: list[str] = []
    for char in unicodedata.normalize("NFD", text):
        if unicodedata.combining(char) and kept and kept[-1].isascii() and kept[-1].isalpha():
            continue
        if char.isdecimal() and not char.isascii():
            char = str(unicodedata.decimal(char))
        kept.append(char)
    return unicodedata.normalize("NFKC", "".join(kept)).casefold().upper()


def _words(segment: str) -> list[str]:
    words: list[str] = []
    for word in _NOT_WORD.sub(" ", _APOSTROPHES.sub("", segment)).split():
        glued = _LABEL_GLUED.match(word) or _NUMBER_GLUED.match(word)
        words.extend(glued.groups() if glued else (word,))
    return words


def _spelled_out(words: list[str]) -> list[str]:
    """One segment's words with short forms spelled out."""
    out = []
    for i, word in enumerate(words):
        if word in _ABBREVIATIONS:
            word = _ABBREVIATIONS[word]
        elif word in _ABBREVIATIONS_AT_END:
            if i == len(words) - 1:
                word = _ABBREVIATIONS_AT_END[word]
            elif word == "ST":
                word = _ST_ELSEWHERE
        out.append(word)
    return out


def _is_numberish(word: str) -> bool:
    """A house or flat number: "12", "12A", "A" (flat A), "B2". (Words are letters and
    digits only, so a word that is not all letters has a digit.)"""
    return len(word) == 1 or not word.isalpha()


def _without_labels(words: list[str]) -> list[str]:
    """Drop FLAT, NO and the like when (after any other labels) a number follows them."""
    out: list[str] = []
    labels: list[str] = []
    for word in words:
        if word in _NUMBER_LABELS:
            labels.append(word)
            continue
        if not _is_numberish(word):
            out.extend(labels)
        labels.clear()
        out.append(word)
    out.extend(labels)
    return out


def _flat_first(words: list[str]) -> list[str]:
    """ "12 Brudenell Road, Flat 2" is "Flat 2, 12 Brudenell Road": a labelled number at the
    end of the line moves to the front (its labels go in _without_labels)."""
    labels = 0
    while labels < len(words) - 1 and words[-2 - labels] in _NUMBER_LABELS:
        labels += 1
    head = words[: -1 - labels]
    if not labels or not _is_numberish(words[-1]) or all(w in _NUMBER_LABELS for w in head):
        return words
    return [words[-1], *head]


def _joined_letters(words: list[str]) -> list[str]:
    """ "12 A" is "12A": a number followed by a lone letter."""
    out: list[str] = []
    for word in words:
        if len(word) == 1 and word.isalpha() and out and out[-1].isdigit():
            out[-1] += word
        else:
            out.append(word)
    return out


@functools.lru_cache(maxsize=1024)  # address_key and street_of of one line, one after the other
def _segments(line: str) -> tuple[tuple[str, ...], ...]:
    """The line's comma-separated parts, each as normalised words (empty parts left out)."""
    parts = (_spelled_out(_words(part)) for part in _SEGMENT_BREAK.split(_fold_characters(line)))
    return tuple(tuple(words) for words in parts if words)


def address_key(line: str) -> str:
    """The normalised first line of an address: two spellings of one home give one key.

    "12a Brudenell Rd", "12A, Brudenell Road" and "Flat 12A Brudenell road" give
    "12A BRUDENELL ROAD"; "Flat 2, 12 Brudenell Road" gives "2 12 BRUDENELL ROAD". At most
    MAX_ADDRESS_KEY characters; never empty when the line has a letter or digit; the key of
    a key is itself."""
    words = [word for segment in _segments(line) for word in segment]
    if not words:  # letters that fold to marks alone (Arabic isolated forms) or apostrophes
        words = ["".join(c for c in line if c.isalnum()).casefold().upper()]
    key = " ".join(_joined_letters(_without_labels(_flat_first(words))))
    if len(key) <= MAX_ADDRESS_KEY:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16].upper()
    head = key[: MAX_ADDRESS_KEY - len(digest) - 1].rstrip()
    return f"{head} {digest}"


def _street_words(words: list[str]) -> list[str]:
    """A street from words that may begin with a house name: "ROSE COTTAGE MILL LANE"."""
    if words[-1] not in _STREET_TYPES:
        return words
    for i in range(len(words) - 3, -1, -1):
        if words[i] in _HOUSE_WORDS:
            return words[i + 1 :]
    return words


def street_of(line: str) -> str:
    """The street a line is on, title-cased with short forms spelled out, for coverage by
    street and walk sheets: "12a Brudenell Rd" and "Flat 2, 12 Brudenell Road" are on
    "Brudenell Road", "Rose Cottage, Mill Lane" on "Mill Lane". Empty when the line has no
    words but numbers."""
    runs: list[list[str]] = []  # stretches of words between numbers and commas
    after_number: list[bool] = []
    for segment in _segments(line):
        run: list[str] = []
        follows_number = False
        for word in _without_labels(list(segment)):
            if _is_numberish(word):
                if run:
                    runs.append(run)
                    after_number.append(follows_number)
                run = []
                follows_number = True
            else:
                run.append(word)
        if run:
            runs.append(run)
            after_number.append(follows_number)
    if not runs:
        return ""
    typed = [run for run in runs if any(word in _STREET_TYPES for word in run)]
    numbered = [run for run, numbered in zip(runs, after_number, strict=True) if numbered]
    chosen = typed[-1] if typed else numbered[0] if numbered else runs[-1]
    while chosen[-1] not in _STREET_TYPES and typed:  # "High Street Leeds": a locality after
        chosen = chosen[:-1]
    street = " ".join(word.capitalize() for word in _street_words(chosen))
    return street[:MAX_ADDRESS_KEY].rstrip()


def parse_address_line(
    value: object, field: str = "address_line", *, required: bool
) -> tuple[str | None, list[FieldError]]:
    """The first line of an address as typed: trimmed, without invisible format characters
    (zero-width spaces, bidirectional overrides: see _without_format_characters), 1 to
    MAX_ADDRESS_LINE characters, no control characters, at least one letter or digit.
    Returns (line, []) or (None, [the one error]); (None, []) when absent and not required.
    """
    if value is None:
        value = ""
    if not isinstance(value, str):
        return None, [FieldError(field, "not_text", _EXAMPLE)]
    line = _without_format_characters(value).strip()
    if not line:
        if required:
            return None, [FieldError(field, "required", _EXAMPLE)]
        return None, []
    if len(line) > MAX_ADDRESS_LINE:
        message = (
            f"The first line of an address must be {MAX_ADDRESS_LINE} characters or fewer: "
            "enter the house number or name and the street, like 12 Brudenell Road."
        )
        return None, [FieldError(field, "too_long", message, {"max": MAX_ADDRESS_LINE})]
    if _CONTROL.search(line):
        if _LINE_BREAK.search(line):
            message = "Enter only the first line of your address, on one line."
        else:
            message = (
                "The first line of your address contains a hidden control character: "
                "type it again, like 12 Brudenell Road."
            )
        return None, [FieldError(field, "contains_control", message)]
    if not any(c.isalnum() for c in line):
        return None, [FieldError(field, "not_an_address", _EXAMPLE)]
    return line, []
