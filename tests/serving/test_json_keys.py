"""Duplicate JSON keys: found at any depth, named with where they are; nothing else refused."""

from __future__ import annotations

import json

import pytest

from features.record import example_case
from serving.json_keys import MAX_KEY_SHOWN, MAX_REPORTED, duplicate_keys, refusal


def fields(body: bytes | str) -> list[str]:
    raw = body.encode() if isinstance(body, str) else body
    return [duplicate.field for duplicate in duplicate_keys(raw)]


def test_a_valid_request_has_none():
    assert duplicate_keys(json.dumps({"case": example_case()}).encode()) == []
    batch = {"cases": [dict(example_case(), case_id=f"c{i}") for i in range(50)]}
    assert duplicate_keys(json.dumps(batch).encode()) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"case": {"case_id": "first", "case_id": "second"}}', ["case.case_id"]),
        ('{"case": {"a": 1}, "case": {"a": 2}}', ["case"]),
        ('{"case": {"claim_amount": 1, "x": 0, "claim_amount": 2}}', ["case.claim_amount"]),
        ('{"cases": [{"a": 1}, {"a": 1}, {"b": 1, "b": 2}]}', ["cases.2.b"]),
        ('{"a": {"b": [[{"c": 1, "c": 1}]]}}', ["a.b.0.0.c"]),
        # The same key written differently is the same key once decoded.
        ('{"case": {"case_id": "a", "case\\u005fid": "b"}}', ["case.case_id"]),
        # Three copies are one duplicate; every object that has one is named, outer first.
        ('{"x": 1, "x": 2, "x": 3, "y": {"z": 0, "z": 0}}', ["x", "y.z"]),
        ('[{"k": 1, "k": 2}]', ["0.k"]),
    ],
)
def test_duplicates_are_found_at_any_depth_with_where_they_are(body, expected):
    assert fields(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        '{"case": {',  # malformed: the API's parser says so in its own words
        '{"a": 1, "a": 2, oops',  # malformed after the duplicate
        "[" * 100_000,  # deeper than the standard parser goes
        b"\xff\xfe{}",  # not UTF-8
        '{"a": 1, "A": 2, "a ": 3}',  # different keys
        '{"a": {"k": 1}, "b": {"k": 1}}',  # the same key in two objects
        "[1, 1, 1]",
    ],
)
def test_what_is_not_a_duplicate_is_left_to_the_request_parser(body):
    assert fields(body) == []


def test_the_refusal_names_the_key_and_the_object():
    body = b'{"cases": [{"a": 1}, {"a": 1}, {"a": 1}, {"case_id": "x", "case_id": "y"}]}'
    answer = refusal(duplicate_keys(body))
    assert answer == {
        "error": "duplicate JSON key 'case_id' in cases.3: each key may appear once per object",
        "fields": [
            {
                "field": "cases.3.case_id",
                "loc": ["cases", 3, "case_id"],
                "type": "duplicate_key",
                "message": "key appears more than once in the same object",
            }
        ],
    }
    assert "x" not in json.dumps(answer["fields"]) and "'y'" not in answer["error"]


def test_a_top_level_duplicate_is_in_the_body():
    assert refusal(duplicate_keys(b'{"case": 1, "case": 2}'))["error"].startswith(
        "duplicate JSON key 'case' in the body"
    )


def test_the_answer_stays_small_whatever_the_body():
    key = "k" * 10_000
    body = json.dumps({"cases": [{"a": 0} for _ in range(100)]}).replace(
        '"a": 0', f'"{key}": 0, "{key}": 1'
    )
    found = duplicate_keys(body.encode())
    assert len(found) == MAX_REPORTED
    answer = refusal(found)
    assert len(json.dumps(answer)) < MAX_REPORTED * (2 * MAX_KEY_SHOWN + 200)  # field and loc
    assert answer["fields"][0]["field"] == "cases.0." + "k" * MAX_KEY_SHOWN + "…"
