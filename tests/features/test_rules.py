"""The rules across fields: one table, applied alike to a frame and to one case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.load import records_from_frame, validate_frame
from features.record import FIELDS, INQUIRY_FIELDS, example_case
from features.rules import (
    RULES,
    AtMost,
    EmptyUnless,
    PrefixIs,
    problems_in_case,
)
from tests.conftest import INQUIRY_NAMES


def test_the_rules_users_see_are_these():
    # The codes, fields and messages are in API 422 bodies and `triage validate`
    # reports: a change here is a change of the contract.
    assert [(rule.code, rule.fields, rule.message) for rule in RULES] == [
        ("at_most", ("respondent_prior_terminated",), "is greater than respondent_prior_cases"),
        ("court_province", ("court_id",), "first two characters differ from the province code"),
        ("inquiry_not_done", INQUIRY_NAMES, "must be empty when inquiry_done is false"),
    ]


def test_the_rules_follow_the_contract():
    bounded = {(r.field, r.bound) for r in RULES if isinstance(r, AtMost)}
    assert bounded == {(f.name, f.at_most_field) for f in FIELDS if f.at_most_field}
    (inquiry,) = [r for r in RULES if isinstance(r, EmptyUnless)]
    assert inquiry.fields == tuple(f.name for f in INQUIRY_FIELDS)
    assert inquiry.reads == ("inquiry_done", *inquiry.fields)


def test_a_rule_on_fields_outside_the_record_is_refused():
    with pytest.raises(ValueError, match="unknown"):
        AtMost(code="at_most", message="m", field="respondent_prior_cases", bound="no_such_field")


# --- each kind, with missing operands -------------------------------------------------------

AT_MOST = AtMost(code="c", message="m", field="respondent_prior_terminated", bound="vehicle_count")
PREFIX = PrefixIs(code="c", message="m", field="court_id", prefix_field="province", length=2)
EMPTY = EmptyUnless(
    code="c", message="m", fields=("bank_balance", "vehicle_count"), flag="inquiry_done"
)


@pytest.mark.parametrize(
    ("rule", "case", "flagged"),
    [
        (AT_MOST, {"respondent_prior_terminated": 2, "vehicle_count": 1}, ("respondent_prior_terminated",)),
        (AT_MOST, {"respondent_prior_terminated": 1, "vehicle_count": 1}, ()),
        (AT_MOST, {"respondent_prior_terminated": 2, "vehicle_count": None}, ()),
        (AT_MOST, {"respondent_prior_terminated": None, "vehicle_count": 1}, ()),
        (PREFIX, {"court_id": "110105", "province": "44"}, ("court_id",)),
        (PREFIX, {"court_id": "440305", "province": "44"}, ()),
        (PREFIX, {"court_id": "4", "province": "44"}, ("court_id",)),
        (PREFIX, {"court_id": None, "province": "44"}, ()),
        (PREFIX, {"court_id": "110105", "province": None}, ()),
        (EMPTY, {"inquiry_done": False, "bank_balance": 0.0, "vehicle_count": 1}, ("bank_balance", "vehicle_count")),
        (EMPTY, {"inquiry_done": False, "bank_balance": None, "vehicle_count": 0}, ("vehicle_count",)),
        (EMPTY, {"inquiry_done": False, "bank_balance": None, "vehicle_count": None}, ()),
        (EMPTY, {"inquiry_done": True, "bank_balance": 5.0, "vehicle_count": 1}, ()),
        (EMPTY, {"inquiry_done": None, "bank_balance": 5.0, "vehicle_count": 1}, ()),
    ],
)  # fmt: skip
def test_each_kind_of_rule_on_one_case_and_on_a_frame(rule, case, flagged):
    assert rule.fields_breaking(case) == flagged
    # The same case as a canonical frame: float64 with NaN, str with NaN, booleans 1.0/0.0.
    frame = pd.DataFrame([{k: np.nan if v is None else v for k, v in case.items()}])
    frame = frame.astype({k: "str" for k in ("court_id", "province") if k in frame})
    rows = rule.rows_breaking(frame)
    assert [name for name in rule.fields if rows[name][0]] == list(flagged)


def test_the_example_case_breaks_no_rule():
    assert problems_in_case(example_case()) == []


def test_a_rule_leaves_out_the_fields_whose_columns_a_frame_lacks():
    frame = pd.DataFrame({"inquiry_done": [0.0], "bank_balance": [1.0]})
    assert list(EMPTY.rows_breaking(frame)) == ["bank_balance"]
    assert EMPTY.rows_breaking(frame.drop(columns=["inquiry_done"])) == {}
    assert AT_MOST.rows_breaking(frame) == {}
    assert PREFIX.rows_breaking(frame) == {}


# --- the two applications agree, over many cases --------------------------------------------

_MAYBE_COUNT = st.one_of(st.none(), st.integers(0, 4), st.sampled_from(["x", "-1", "2.5"]))
_EXAMPLE = example_case()


@st.composite
def raw_cases(draw):
    """A case as a file may hold it, varied where the rules look (values may be invalid)."""
    case = dict(_EXAMPLE)
    case["respondent_prior_cases"] = draw(_MAYBE_COUNT)
    case["respondent_prior_terminated"] = draw(_MAYBE_COUNT)
    case["court_id"] = draw(
        st.one_of(
            st.none(),
            st.sampled_from(["440305", "110105", "4403", "4", " 440305 "]),
            st.text(alphabet="0145x", min_size=1, max_size=7),
        )
    )
    case["province"] = draw(st.sampled_from([None, "44", "11", "99", "", 44]))
    case["inquiry_done"] = draw(st.sampled_from([None, True, False, "否", "maybe"]))
    for name in INQUIRY_NAMES:
        case[name] = draw(st.sampled_from([None, _EXAMPLE[name], "x"]))
    return case


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(raw_cases(), min_size=1, max_size=20))
def test_on_a_frame_and_case_by_case_the_rules_flag_the_same_fields(cases):
    for i, case in enumerate(cases):
        case["case_id"] = f"c{i}"
    frame, report = validate_frame(pd.DataFrame(cases, dtype=object))
    records = records_from_frame(frame)
    by_case = {
        (row, field, rule.message)
        for row, record in enumerate(records, start=1)
        for rule, field in problems_in_case(record)
    }
    by_frame = {
        (int(row) + 1, field, rule.message)
        for rule in RULES
        for field, breaking in rule.rows_breaking(frame).items()
        for row in np.flatnonzero(breaking)
    }
    assert by_frame == by_case
    # ... and the loader reports exactly those.
    messages = {rule.message for rule in RULES}
    reported = {(p.row, p.field, p.message) for p in report.problems if p.message in messages}
    assert reported == by_case
