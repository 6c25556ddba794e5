"""The contract in code: loading, every refusal with its message, the PII drop."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from app.cli import main
from features.load import (
    SHOWN_PROBLEMS,
    CaseDataError,
    iter_cases,
    load_cases,
    read_cases,
    validate_file,
    validate_frame,
)
from features.record import FIELDS, LABELS, PII_FIELDS, Kind
from tests.conftest import INQUIRY_NAMES, valid_rows


def write_csv(tmp_path, rows, name="cases.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def problems_of(rows, **kwargs):
    _, report = validate_frame(pd.DataFrame(rows).astype(object), **kwargs)
    return report


def test_valid_rows_load_into_the_canonical_frame(tmp_path):
    frame = load_cases(write_csv(tmp_path, valid_rows()), require_labels=True)
    assert len(frame) == 6
    assert list(frame.columns) == [
        f.name for f in FIELDS if f.name not in ("recovered_amount", "duration_days")
    ]
    assert frame["filing_date"].dtype.kind == "M"
    for spec in FIELDS:
        if spec.name in frame and spec.kind in (
            Kind.AMOUNT,
            Kind.INTEGER,
            Kind.BOOLEAN,
            Kind.LABEL,
        ):
            assert frame[spec.name].dtype == np.float64, spec.name
    # Empty means unknown: the inquiry fields of a not-yet-inquired case stay NaN.
    not_done = frame["inquiry_done"] == 0
    assert not_done.any()
    assert frame.loc[not_done, "bank_balance"].isna().all()


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("true", 1.0),
        ("false", 0.0),
        ("1", 1.0),
        ("0", 0.0),
        ("是", 1.0),
        ("否", 0.0),
        ("TRUE", 1.0),
    ],
)
def test_booleans_in_every_spelling(written, expected):
    rows = valid_rows(1)
    rows[0]["dishonest_listed"] = written
    frame, report = validate_frame(pd.DataFrame(rows).astype(str))
    assert report.ok, report.render()
    assert frame.loc[0, "dishonest_listed"] == expected


def test_integer_with_zero_fraction_is_accepted_and_non_zero_fraction_refused():
    rows = valid_rows(2)
    rows[0]["n_respondents"] = "3.0"
    rows[1]["n_respondents"] = "3.5"
    frame, report = validate_frame(pd.DataFrame(rows).astype(str))
    assert frame.loc[0, "n_respondents"] == 3.0
    assert [(p.row, p.field) for p in report.problems] == [(2, "n_respondents")]
    assert "whole number" in report.problems[0].message


def _bad_value(spec):
    """A value of the wrong type (or out of the contract) for each kind of field."""
    return {
        Kind.STRING: None,  # only required strings can be wrong: empty
        Kind.DATE: "2024/03/15",
        Kind.CODE: "no_such_code",
        Kind.AMOUNT: "12,000",
        Kind.INTEGER: "two",
        Kind.BOOLEAN: "maybe",
        Kind.LABEL: "2",
    }[spec.kind]


@pytest.mark.parametrize(
    "spec", [f for f in FIELDS if f.kind is not Kind.STRING], ids=lambda f: f.name
)
def test_every_field_refuses_a_wrong_value_naming_row_case_and_field(spec):
    rows = valid_rows(3)
    rows[1][spec.name] = _bad_value(spec)
    if spec.name in INQUIRY_NAMES:
        rows[1]["inquiry_done"] = True
    report = problems_of(rows, require_labels=True)
    mine = [p for p in report.problems if p.field == spec.name]
    assert len(mine) == 1, report.render()
    assert mine[0].row == 2
    assert mine[0].case_id == rows[1]["case_id"]


@pytest.mark.parametrize("spec", [f for f in FIELDS if f.required], ids=lambda f: f.name)
def test_every_required_column_is_required(spec):
    frame = pd.DataFrame(valid_rows(2)).drop(columns=[spec.name])
    _, report = validate_frame(frame)
    assert any(
        p.field == spec.name and p.row is None and "required column is missing" in p.message
        for p in report.problems
    ), report.render()


@pytest.mark.parametrize("spec", [f for f in FIELDS if f.required], ids=lambda f: f.name)
def test_every_required_value_is_required(spec):
    rows = valid_rows(2)
    rows[0][spec.name] = ""
    report = problems_of(rows)
    assert any(
        p.field == spec.name and p.row == 1 and "required value is empty" in p.message
        for p in report.problems
    ), report.render()


def test_labels_are_required_only_for_training():
    frame = pd.DataFrame(valid_rows(2)).drop(columns=list(LABELS))
    assert validate_frame(frame)[1].ok
    _, report = validate_frame(frame, require_labels=True)
    assert {p.field for p in report.problems} == set(LABELS)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("claim_amount", "-5", "must be greater than 0"),
        ("claim_amount", "0", "must be greater than 0"),
        ("bank_balance", "-1.5", "amount is negative"),
        ("preserved_amount", "-100", "amount is negative"),
        ("claim_amount", "¥12000", "plain decimal amount"),
        ("claim_amount", "12 000", "plain decimal amount"),
        ("respondent_age", "12", "must be at least 16"),
        ("respondent_age", "101", "must be at most 100"),
        ("n_respondents", "0", "must be at least 1"),
        ("respondent_prior_cases", "-1", "must be at least 0"),
        ("province", "99", "unknown code"),
        ("court_level", "supreme", "unknown code"),
        ("filing_date", "2024-02-30", "YYYY-MM-DD"),
        ("filing_date", "15/03/2024", "YYYY-MM-DD"),
        ("court_id", "4403", "must be 6 characters"),
        ("court_id", "44<305", "must be ASCII letters or digits only"),
        ("court_id", "44\x00305", "must be ASCII letters or digits only"),
        ("court_id", "44０３05", "must be ASCII letters or digits only"),  # full-width digits
        ("case_id", "(2024)粤0305执\x071号", "control or invisible formatting character"),
        ("case_id", "(2024)粤0305执\u202e1号", "control or invisible formatting character"),
        ("case_id", "x" * 101, "must be at most 100 characters"),
        ("is_complex", "0.5", "outcome must be 0 or 1"),
        ("has_recoverable_assets", "yes", "outcome must be 0 or 1"),
        ("claim_amount", "inf", "plain decimal amount"),
    ],
)
def test_refusals_say_what_was_wrong(field, value, message):
    rows = valid_rows(2)
    rows[0][field] = value
    report = problems_of(rows, require_labels=True)
    assert not report.ok
    assert any(p.field == field and p.row == 1 and message in p.message for p in report.problems), (
        report.render()
    )


def test_prior_terminated_above_prior_cases_is_refused():
    rows = valid_rows(2)
    rows[1]["respondent_prior_cases"] = 1
    rows[1]["respondent_prior_terminated"] = 2
    report = problems_of(rows)
    assert [(p.row, p.field, p.message) for p in report.problems] == [
        (2, "respondent_prior_terminated", "is greater than respondent_prior_cases")
    ]


def test_duplicate_case_id_is_refused_with_the_later_row():
    rows = valid_rows(3)
    rows[2]["case_id"] = rows[0]["case_id"]
    report = problems_of(rows)
    assert [(p.row, p.field, p.case_id) for p in report.problems] == [
        (3, "case_id", rows[0]["case_id"])
    ]


def test_inquiry_fields_must_be_empty_before_the_inquiry_answers():
    rows = valid_rows(3)
    assert rows[2]["inquiry_done"] is False
    rows[2]["bank_balance"] = 100.0
    report = problems_of(rows)
    assert [(p.row, p.field) for p in report.problems] == [(3, "bank_balance")]


def test_court_id_must_start_with_the_province_code():
    rows = valid_rows(2)
    rows[0]["court_id"] = "110105"
    report = problems_of(rows)
    assert [(p.row, p.field) for p in report.problems] == [(1, "court_id")]


def test_every_problem_is_reported_not_only_the_first(tmp_path):
    rows = valid_rows(120)
    for i, row in enumerate(rows):
        row["case_id"] = f"c{i}"
        row["claim_amount"] = "1,000"  # 120 problems in one column
    rows[7]["cause"] = "bogus"
    report = validate_file(write_csv(tmp_path, rows))
    assert report.n_problems == 121
    shown = report.shown()
    assert len(shown) == SHOWN_PROBLEMS
    assert [p.row for p in shown] == sorted(p.row for p in shown)
    text = report.render()
    assert "121 problem(s)" in text
    assert "row 8 (case_id c7), field cause: unknown code" in text


def test_unknown_columns_are_ignored_with_one_warning_naming_them(tmp_path):
    frame = pd.DataFrame(valid_rows(3))
    frame["judge_notes"] = "x"
    frame["handler"] = "y"
    path = tmp_path / "cases.csv"
    frame.to_csv(path, index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded, report = read_cases(path)
    assert report.ok
    assert report.ignored_columns == ["judge_notes", "handler"]
    messages = [str(w.message) for w in caught if "unknown columns" in str(w.message)]
    assert len(messages) == 1 and "judge_notes, handler" in messages[0]
    assert "judge_notes" not in loaded.columns
    # A validation report lists them itself: said once there, not warned as well.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = validate_file(path)
    assert report.ignored_columns == ["judge_notes", "handler"]
    assert not [w for w in caught if "unknown columns" in str(w.message)]


def test_a_file_without_a_header_is_refused_by_every_reader(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    for read in (read_cases, lambda path: next(iter_cases(path)), validate_file):
        try:
            report = read(empty)
        except CaseDataError as error:
            report = error.report
        assert [p.message for p in report.problems] == ["file has no header row"]


def _with_pii(rows):
    secrets = {
        "respondent_name": "张三丰",
        "respondent_id_number": "11010519491231002X",
        "applicant_name": "李四光",
        "phone": "13912345678",
        "address": "广东省深圳市福田区深南大道1号",
    }
    for row in rows:
        row.update(secrets)
    return rows, secrets


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_personal_data_is_dropped_on_load(tmp_path, suffix):
    rows, secrets = _with_pii(valid_rows(4))
    path = tmp_path / f"cases{suffix}"
    frame = pd.DataFrame(rows)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.astype({"respondent_age": "float64"}).to_parquet(path, index=False)
    loaded, report = read_cases(path)
    assert report.ok, report.render()
    assert report.dropped_personal_columns == list(PII_FIELDS)
    assert not set(PII_FIELDS) & set(loaded.columns)
    dumped = loaded.to_csv(index=False) + report.render() + json.dumps(report.to_dict())
    for value in secrets.values():
        assert value not in dumped


def test_parquet_with_typed_columns_loads_like_csv(tmp_path):
    rows = valid_rows(6)
    csv_frame = load_cases(write_csv(tmp_path, rows))
    typed = pd.DataFrame(rows)
    typed["province"] = 44  # a number in a typed export
    typed["filing_date"] = pd.to_datetime(typed["filing_date"])
    typed = typed.astype({"respondent_age": "float64", "registered_capital": "float64"})
    path = tmp_path / "cases.parquet"
    typed.to_parquet(path, index=False)
    parquet_frame = load_cases(path)
    pd.testing.assert_frame_equal(
        csv_frame.drop(columns=list(LABELS)), parquet_frame.drop(columns=list(LABELS))
    )


def test_chunks_number_rows_within_the_file_and_catch_duplicates_across_chunks(tmp_path):
    rows = valid_rows(30)
    for i, row in enumerate(rows):
        row["case_id"] = f"c{i}"
    rows[25]["case_id"] = "c3"
    rows[27]["cause"] = "bogus"
    path = tmp_path / "cases.parquet"
    pd.DataFrame(rows).astype({"respondent_age": "float64"}).to_parquet(path, index=False)
    reports = [report for _, report in iter_cases(path, chunk_rows=10)]
    assert len(reports) == 3
    found = sorted((p.row, p.field) for r in reports for p in r.problems)
    assert found == [(26, "case_id"), (28, "cause")]


def test_a_ragged_row_is_named_by_number_and_its_text_never_shown(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text(
        "respondent_name,case_id,province\n张三,a,11\n\n李四,b,44,9\n", encoding="utf-8"
    )
    report = validate_file(path)
    assert [(p.row, p.field) for p in report.problems] == [(2, "(file)")]
    assert "expected 3 columns, got 4" in report.render()
    assert "李四" not in report.render() and "张三" not in report.render()


def test_unreadable_files_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("case_id,province\n(2024)\xe7\xb2\xa4,44\n".encode() + b"\xff\xfe\n")
    report = validate_file(path)
    assert not report.ok and report.problems[0].field == "(file)"
    assert str(path) in report.render()
    with pytest.raises(ValueError, match="give a .csv"):
        load_cases(tmp_path / "cases.xlsx")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "no header" in validate_file(empty).render()


def test_load_cases_refuses_bad_data_with_the_whole_report(tmp_path):
    rows = valid_rows(3)
    rows[0]["claim_amount"] = "-1"
    rows[1]["cause"] = "x"
    with pytest.raises(CaseDataError) as caught:
        load_cases(write_csv(tmp_path, rows))
    assert caught.value.report.n_problems == 2
    assert "claim_amount" in str(caught.value) and "cause" in str(caught.value)


def test_cli_validate_reports_and_exits_non_zero(tmp_path, capsys):
    good = write_csv(tmp_path, valid_rows(), "good.csv")
    assert main(["validate", "--data", str(good), "--labels"]) == 0
    assert "OK: no problems" in capsys.readouterr().out

    rows = valid_rows()
    rows[1]["claim_amount"] = "-3"
    rows[2]["court_level"] = "supreme"
    rows[3]["respondent_prior_terminated"] = 9
    rows[4]["case_id"] = rows[0]["case_id"]
    rows[5]["is_complex"] = 7
    bad = write_csv(tmp_path, rows, "bad.csv")
    results = tmp_path / "report.json"
    assert main(["validate", "--data", str(bad), "--labels", "--results", str(results)]) == 1
    out = capsys.readouterr().out
    for expected in (
        "row 2 (case_id (2024)粤0305执1001号), field claim_amount",
        "row 3 (case_id (2024)粤0305执1002号), field court_level: unknown code",
        "row 4 (case_id (2024)粤0305执1003号), field respondent_prior_terminated",
        "row 5 (case_id (2024)粤0305执1000号), field case_id: duplicate",
        "row 6 (case_id (2024)粤0305执1005号), field is_complex: outcome must be 0 or 1",
    ):
        assert expected in out
    saved = json.loads(results.read_text(encoding="utf-8"))
    assert saved["n_problems"] == 5 and not saved["ok"]

    missing = pd.DataFrame(valid_rows()).drop(columns=["claim_amount"])
    path = tmp_path / "missing.csv"
    missing.to_csv(path, index=False)
    assert main(["validate", "--data", str(path)]) == 1
    assert "column, field claim_amount: required column is missing" in capsys.readouterr().out


def test_cli_validate_refuses_court_ids_and_case_ids_outside_the_record_rule(tmp_path, capsys):
    rows = valid_rows(5)
    rows[0]["court_id"] = "44<305"
    rows[1]["court_id"] = "44\x00305"
    rows[2]["case_id"] = "(2024)粤0305执\x07号"
    rows[3]["case_id"] = "(2024)粤0305执\u202e号"
    bad = write_csv(tmp_path, rows, "bad.csv")
    assert main(["validate", "--data", str(bad)]) == 1
    out = capsys.readouterr().out
    for expected in (
        f"row 1 (case_id {rows[0]['case_id']}), field court_id: must be ASCII letters or digits",
        f"row 2 (case_id {rows[1]['case_id']}), field court_id: must be ASCII letters or digits",
        # The refused characters are shown escaped: the row is still found by its case_id.
        r"row 3 (case_id (2024)粤0305执\x07号), field case_id: contains a control",
        r"row 4 (case_id (2024)粤0305执\u202e号), field case_id: contains a control",
    ):
        assert expected in out, out
    assert "\x07" not in out and "\u202e" not in out and "\x00" not in out
