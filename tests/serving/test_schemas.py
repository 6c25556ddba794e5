"""Request models: derived from the case record, strict, refusing what the loader refuses."""

from __future__ import annotations

import json
import typing

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from features.load import validate_frame
from features.record import FIELDS, PII_FIELDS, PROVINCES, RECORD_FIELDS, Kind, example_case
from features.rules import RULES, AtMost, EmptyUnless, PrefixIs
from serving.schemas import (
    MAX_BATCH,
    BatchRequest,
    Case,
    Decision,
    TriageRequest,
    describe_errors,
)
from tests.conftest import INQUIRY_NAMES


def errors_of(body: str, model=TriageRequest) -> list[dict]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(body)
    return describe_errors(caught.value.errors(include_input=False, include_context=False))


def fields_of(body: str, model=TriageRequest) -> dict[str, str]:
    return {e["field"]: e["type"] for e in errors_of(body, model)}


def request(**changes) -> str:
    case = example_case() | changes
    return json.dumps({"case": {k: v for k, v in case.items() if v is not ...}})


def test_the_example_case_is_valid_and_kept_as_plain_values():
    case = TriageRequest.model_validate_json(request()).case
    assert case.__dict__ == example_case()


def test_every_record_field_and_nothing_else_is_in_the_request_model():
    assert list(Case.model_fields) == [f.name for f in RECORD_FIELDS]
    outcome = {f.name for f in FIELDS} - {f.name for f in RECORD_FIELDS}
    assert outcome and not outcome & set(Case.model_fields)


@pytest.mark.parametrize("spec", RECORD_FIELDS, ids=lambda s: s.name)
def test_each_field_follows_its_spec(spec):
    schema = Case.model_json_schema()
    field = schema["properties"][spec.name]
    assert spec.zh in field["description"] and spec.description in field["description"]
    assert (spec.name in schema["required"]) == spec.required
    # OpenAPI 3.0 forms (what /docs.json declares): `nullable`, boolean exclusive bounds
    assert "anyOf" not in field and field.get("nullable", False) == (not spec.required)
    if spec.kind is Kind.CODE:
        nulls = [] if spec.required else [None]
        assert field["enum"] == [*spec.code_values, *nulls]
        assert all(c.zh in field["description"] for c in spec.codes)
    if spec.minimum is not None:
        assert field["minimum"] == spec.minimum
        assert field.get("exclusiveMinimum", False) is spec.min_exclusive
    if spec.maximum is not None:
        assert field["maximum"] == spec.maximum
    if spec.example is not None:
        assert field["example"] == spec.example


@pytest.mark.parametrize(
    ("changes", "field", "kind"),
    [
        ({"claim_amount": "125000.5"}, "case.claim_amount", "float_type"),
        ({"n_applicants": 1.0}, "case.n_applicants", "int_type"),
        ({"n_applicants": True}, "case.n_applicants", "int_type"),
        ({"dishonest_listed": "false"}, "case.dishonest_listed", "bool_type"),
        ({"dishonest_listed": 0}, "case.dishonest_listed", "bool_type"),
        ({"cause": "bogus"}, "case.cause", "literal_error"),
        ({"province": 44}, "case.province", "literal_error"),
        ({"claim_amount": 0}, "case.claim_amount", "greater_than"),
        ({"bank_balance": -1.0}, "case.bank_balance", "greater_than_equal"),
        ({"respondent_age": 12}, "case.respondent_age", "greater_than_equal"),
        ({"n_respondents": 10**30}, "case.n_respondents", "less_than_equal"),
        ({"court_id": "4403051"}, "case.court_id", "string_too_long"),
        ({"court_id": "44<305"}, "case.court_id", "court_id_characters"),
        ({"court_id": "44\x00305"}, "case.court_id", "court_id_characters"),
        ({"court_id": "44\u202e305"}, "case.court_id", "court_id_characters"),
        ({"court_id": "44\u202e3051"}, "case.court_id", "string_too_long"),
        ({"case_id": "(2024)粤0305执\x07号"}, "case.case_id", "control_character"),
        ({"case_id": "(2024)粤0305执\u202e号"}, "case.case_id", "control_character"),
        ({"case_id": "(2024)粤0305执\u200b号"}, "case.case_id", "control_character"),
        ({"case_id": "x" * 101}, "case.case_id", "string_too_long"),
        ({"case_id": ""}, "case.case_id", "string_too_short"),
        ({"filing_date": "2024-02-30"}, "case.filing_date", "date_format"),
        ({"filing_date": "2024/03/15"}, "case.filing_date", "date_format"),
        ({"case_id": None}, "case.case_id", "string_type"),
        ({"cause": ...}, "case.cause", "missing"),
        ({"surprise": 1}, "case.surprise", "extra_forbidden"),
    ],
)
def test_bad_values_are_refused_naming_the_field(changes, field, kind):
    assert fields_of(request(**changes)) == {field: kind}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused(literal):
    body = request().replace('"claim_amount": 125000.5', f'"claim_amount": {literal}')
    assert fields_of(body) == {"case.claim_amount": "finite_number"}


def test_unknown_top_level_fields_and_malformed_json_are_refused():
    body = json.dumps({"case": example_case(), "extra": 1})
    assert fields_of(body) == {"extra": "extra_forbidden"}
    assert fields_of('{"case": {') == {"(body)": "json_invalid"}


@pytest.mark.parametrize("name", PII_FIELDS)
def test_personal_data_is_refused_by_name_and_never_echoed(name):
    secret = "张三-110101199003071234"
    problems = errors_of(request(**{name: secret}))
    assert problems == [
        {
            "field": f"case.{name}",
            "loc": ["case", name],
            "type": "personal_data",
            "message": problems[0]["message"],
        }
    ]
    assert "personal data" in problems[0]["message"]
    assert secret not in json.dumps(problems, ensure_ascii=False)
    # also at the top level of the body
    assert fields_of(json.dumps({"case": example_case(), name: secret})) == {name: "personal_data"}


def _loader_problems(cases: list[dict]) -> set[tuple[int, str, str]]:
    """What features.load says about the same cases in a file: (row, field, message)."""
    _, report = validate_frame(pd.DataFrame(cases, dtype=object), source="api")
    return {(p.row, p.field, p.message) for p in report.problems}


def _breaking(rule, name: str) -> dict:
    """The example case, changed to break ``rule`` at field ``name`` and nothing else."""
    case = example_case()
    if isinstance(rule, AtMost):
        case |= {rule.bound: 1, name: 2}
    elif isinstance(rule, PrefixIs):
        other = next(p.code for p in PROVINCES if p.code != case[rule.prefix_field])
        case[name] = other + case[name][rule.length :]
    elif isinstance(rule, EmptyUnless):
        case |= {rule.flag: False} | dict.fromkeys(rule.fields) | {name: case[name]}
    else:
        pytest.fail(f"no broken example of {rule!r}: add one to _breaking")
    return case


@pytest.mark.parametrize(
    ("rule", "name"),
    [(rule, name) for rule in RULES for name in rule.fields],
    ids=lambda value: value if isinstance(value, str) else value.code,
)
def test_each_rule_is_refused_by_the_api_as_the_loader_reports_it(rule, name):
    case = _breaking(rule, name)
    assert errors_of(json.dumps({"case": case})) == [
        {"field": f"case.{name}", "loc": ["case", name], "type": rule.code, "message": rule.message}
    ]
    assert _loader_problems([case]) == {(1, name, rule.message)}


_EXAMPLE = example_case()


@st.composite
def cases_near_the_rules(draw) -> dict:
    """A case the API's types and bounds accept, varied where the rules look."""
    case = dict(_EXAMPLE)
    case["respondent_prior_cases"] = draw(st.integers(0, 3))
    case["respondent_prior_terminated"] = draw(st.integers(0, 3))
    case["court_id"] = draw(st.sampled_from(["440305", "110105", "320102"]))
    case["province"] = draw(st.sampled_from(["44", "11", "32"]))
    case["inquiry_done"] = draw(st.booleans())
    for name in INQUIRY_NAMES:
        case[name] = draw(st.sampled_from([None, _EXAMPLE[name]]))
    return case


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(cases_near_the_rules(), min_size=1, max_size=10))
def test_the_api_refuses_what_the_loader_refuses_in_the_same_words(cases):
    for i, case in enumerate(cases):
        case["case_id"] = f"c{i}"
    code_of = {rule.message: rule.code for rule in RULES}
    refused = set()
    for row, case in enumerate(cases, start=1):
        try:
            TriageRequest.model_validate_json(json.dumps({"case": case}))
        except ValidationError as error:
            for problem in describe_errors(error.errors(include_input=False)):
                assert problem["type"] == code_of[problem["message"]]
                refused.add((row, problem["loc"][-1], problem["message"]))
    assert refused == _loader_problems(cases)


def test_date_message_is_the_loaders():
    case = example_case() | {"filing_date": "2024-02-30"}
    ours = errors_of(json.dumps({"case": case}))
    assert [(1, "filing_date", ours[0]["message"])] == sorted(_loader_problems([case]))


def test_batch_size_bounds_and_duplicate_case_ids():
    case = example_case()
    assert fields_of(json.dumps({"cases": []}), BatchRequest) == {"cases": "too_short"}
    too_many = {"cases": [case] * (MAX_BATCH + 1)}
    assert fields_of(json.dumps(too_many), BatchRequest) == {"cases": "too_long"}
    twice = {"cases": [case, dict(case, case_id="other"), case]}
    assert fields_of(json.dumps(twice), BatchRequest) == {"cases.2.case_id": "duplicate"}
    (error,) = errors_of(json.dumps(twice), BatchRequest)
    assert error["message"] == f"duplicate case_id {case['case_id']}, first at cases.0"


def test_documented_examples_validate():
    assert TriageRequest.model_json_schema()["example"] == {"case": example_case()}
    BatchRequest.model_validate(BatchRequest.model_json_schema()["example"])
    assert typing.get_args(Decision.model_fields["stream"].annotation) == (
        "simple",
        "complex",
        "review",
    )


def test_a_refused_character_is_named_in_the_records_words_not_a_regular_expression():
    (error,) = errors_of(request(court_id="44<305"))
    assert error == {
        "field": "case.court_id",
        "loc": ["case", "court_id"],
        "type": "court_id_characters",
        "message": "must be ASCII letters or digits only",
    }
    (error,) = errors_of(request(case_id="a\x07b"))
    assert error["message"] == "contains a control or invisible formatting character"
    assert "\x07" not in json.dumps(error, ensure_ascii=False)


@pytest.mark.parametrize("name", ["case_id", "court_id"])
def test_the_api_and_the_loader_refuse_the_same_text(name):
    """One rule, two engines (Rust regex in the API, RE2 in the loader): same verdicts."""
    values = [
        "440305", "AB12cd", "44<305", "44\x00305", "４４0305", "44 305", "4403\u200b5",
        "(2024)粤0305执1234号", "a\tb", "a\u2028b", "a\u00adb", "\ufeffx", "ok\u3000ok", "x" * 101,
    ]  # fmt: skip
    for value in values:
        row = dict(example_case(), **{name: value})
        if name == "court_id":
            row["province"] = value[:2] if value[:2] in [p.code for p in PROVINCES] else "44"
        _, report = validate_frame(pd.DataFrame([row]).astype(object))
        loader_refuses = any(p.field == name for p in report.problems)
        api_refuses = any(e["field"] == f"case.{name}" for e in _errors_or_none(request(**row)))
        assert api_refuses == loader_refuses, (name, value, report.render())


def _errors_or_none(body: str) -> list[dict]:
    try:
        TriageRequest.model_validate_json(body)
    except ValidationError as error:
        return describe_errors(error.errors(include_input=False, include_context=False))
    return []


def test_text_rules_are_documented_as_openapi_3_0_reads_them():
    properties = Case.model_json_schema()["properties"]
    assert properties["court_id"]["pattern"] == "^[0-9A-Za-z]{6}$"
    assert (properties["court_id"]["minLength"], properties["court_id"]["maxLength"]) == (6, 6)
    # ECMA-262 without the `u` flag has no \p{..}: the rule is in words, and still applied.
    case_id = properties["case_id"]
    assert "pattern" not in case_id and case_id["maxLength"] == 100
    assert "no control or invisible formatting characters" in case_id["description"]
    assert fields_of(request(case_id="a\x07")) == {"case.case_id": "control_character"}
