"""The record's text rules: one rule, read alike by Arrow's RE2 (the loader) and Rust's regex (the API)."""

from __future__ import annotations

import unicodedata
from typing import Annotated

import pyarrow as pa
import pytest
from pydantic import Field, TypeAdapter, ValidationError

from features.columns import parse_column
from features.record import (
    COURT_ID_TEXT,
    FIELD_BY_NAME,
    MAX_TEXT,
    PRINTABLE_TEXT,
    Kind,
    TextRule,
)

#: Every Unicode scalar value (surrogates are not text).
CODE_POINTS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
REFUSED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp"}


def refused_by_the_loader(rule: TextRule, values: list[str]) -> set[int]:
    """Positions of ``values`` the loader's check of a column refuses for their characters."""
    spec = next(s for s in FIELD_BY_NAME.values() if s.text is rule)
    result = parse_column(spec, pa.array(values))
    refused = [mask for mask, message in result.failures if message == rule.message]
    return {int(i) for i in refused[0].nonzero()[0]}


def refused_by_pydantic(rule: TextRule, values: list[str]) -> set[int]:
    """Positions of ``values`` the API's engine (pydantic, Rust regex) refuses for their characters."""
    adapter = TypeAdapter(list[Annotated[str, Field(pattern=rule.characters_pattern)]])
    try:
        adapter.validate_python(values)
    except ValidationError as error:
        return {e["loc"][0] for e in error.errors()}
    return set()


def test_every_string_field_has_a_text_rule():
    strings = [spec for spec in FIELD_BY_NAME.values() if spec.kind is Kind.STRING]
    assert {spec.name for spec in strings} == {"case_id", "court_id"}
    assert FIELD_BY_NAME["case_id"].text is PRINTABLE_TEXT
    assert FIELD_BY_NAME["court_id"].text is COURT_ID_TEXT


def test_the_patterns_say_length_and_characters():
    assert COURT_ID_TEXT.pattern == "^[0-9A-Za-z]{6}$"
    assert COURT_ID_TEXT.length_message == "must be 6 characters"
    assert PRINTABLE_TEXT.pattern == r"^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]{1,100}$"
    assert (PRINTABLE_TEXT.max_length, MAX_TEXT) == (100, 100)
    assert PRINTABLE_TEXT.length_message == "must be at most 100 characters"


def test_both_engines_refuse_the_same_characters_in_a_case_id_over_all_of_unicode():
    # Each character between two allowed ones: a rule on a whole value, not on its ends.
    values = [f"a{chr(c)}a" for c in CODE_POINTS]
    loader = refused_by_the_loader(PRINTABLE_TEXT, values)
    assert loader == refused_by_pydantic(PRINTABLE_TEXT, values)
    # Compared on the characters this Python's Unicode database knows (both engines
    # may know newer format characters).
    for i, c in enumerate(CODE_POINTS):
        category = unicodedata.category(chr(c))
        if category != "Cn":
            assert (i in loader) == (category in REFUSED_CATEGORIES), (hex(c), category)


def test_both_engines_allow_only_ascii_letters_and_digits_in_a_court_id():
    # Latin, Greek, Cyrillic... and the full-width forms (a refusal costs pydantic an
    # error object: not all of Unicode).
    code_points = [*range(0x3000), *range(0xFF00, 0xFFF0), 0x1D7CE]
    values = [f"a{chr(c)}a" for c in code_points]
    loader = refused_by_the_loader(COURT_ID_TEXT, values)
    assert loader == refused_by_pydantic(COURT_ID_TEXT, values)
    allowed = {i for i, c in enumerate(code_points) if chr(c).isascii() and chr(c).isalnum()}
    assert set(range(len(values))) - loader == allowed
    assert len(allowed) == 62


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        ("(2024)粤0305执1234号", False),
        ("（2024）粤0305执恢12号之一", False),  # full-width brackets, Chinese text
        ("ok\u3000ok", False),  # an ideographic space is printable
        ("a\x00b", True),  # NUL
        ("a\x07b", True),  # BEL
        ("a\nb", True),  # a line break splits a log line
        ("a\x85b", True),  # NEL, a C1 control
        ("a\u202eb", True),  # right-to-left override: reads as another case number
        ("a\u2066b", True),  # left-to-right isolate
        ("a\u200bb", True),  # zero-width space: two ids that look the same
        ("\ufeffab", True),  # byte-order mark
        ("a\u2028b", True),  # line separator
    ],
)
def test_a_case_id_is_printable_text(value, refused):
    assert bool(refused_by_the_loader(PRINTABLE_TEXT, [value])) is refused
    assert bool(refused_by_pydantic(PRINTABLE_TEXT, [value])) is refused
