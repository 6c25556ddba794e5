"""Validating raw cases against the contract into the canonical frame.

:func:`validate_frame` checks what a file (or a batch of records) says —
which columns there are, each column's values (:mod:`features.columns`), the
rules across fields (:mod:`features.rules`) and the uniqueness of
``case_id`` — and reports every problem in a
:class:`~features.report.ValidationReport`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from features.columns import Mask, as_text, missing_column, parse_column, to_arrow
from features.contract import CASE_RECORD, Contract
from features.record import PII_FIELDS, Group
from features.report import SHOWN_PROBLEMS, Problem, ValidationReport


def _problems_from_mask(
    mask: Mask, field_name: str, message: str, case_ids: pa.Array, first_row: int
) -> tuple[list[Problem], int]:
    total = int(mask.sum())
    if total == 0:
        return [], 0
    where = np.flatnonzero(mask)[:SHOWN_PROBLEMS]
    problems = [
        Problem(
            field=field_name,
            message=message,
            row=int(i) + first_row,
            case_id=case_ids[int(i)].as_py(),
        )
        for i in where
    ]
    return problems, total


def validate_frame(
    raw: pd.DataFrame | pa.Table,
    *,
    source: str = "data",
    require_labels: bool = False,
    first_row: int = 1,
    seen_case_ids: set[str] | None = None,
    header: Sequence[str] | None = None,
    contract: Contract = CASE_RECORD,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Check raw cases against a record's contract and return the canonical frame.

    ``raw`` holds what a file says (text, or typed Parquet columns, or Python
    values from records).  Personal-data columns are dropped first.
    ``first_row`` numbers the rows of a chunk within its file;
    ``seen_case_ids`` carries ``case_id`` uniqueness across chunks; ``header``
    is the file's header as written, when the reader has already left out
    personal columns.  The canonical frame has one column per contract field
    (absent optional fields become all-missing columns; outcome columns only
    when present).  ``contract`` is the record checked against: new cases by
    default, or :data:`features.terminated.TERMINATED_RECORD`.
    """
    fields = contract.fields
    names = [
        str(c).strip() for c in (raw.column_names if isinstance(raw, pa.Table) else raw.columns)
    ]
    written = [str(c).strip() for c in header] if header is not None else names
    report = ValidationReport(
        source=source, n_rows=raw.num_rows if isinstance(raw, pa.Table) else len(raw)
    )
    report.dropped_personal_columns = [c for c in dict.fromkeys(written) if c in PII_FIELDS]
    known = {f.name for f in fields}
    report.ignored_columns = [
        c for c in dict.fromkeys(written) if c not in known and c not in PII_FIELDS
    ]
    for column in sorted({c for c in written if written.count(c) > 1}):
        report.add([Problem(field=column, message="column appears more than once")])
    columns: dict[str, pa.Array] = {}
    for position, name in enumerate(names):
        if name in known and name not in columns:
            values = raw.column(position) if isinstance(raw, pa.Table) else raw.iloc[:, position]
            columns[name] = to_arrow(values)

    case_ids = (
        as_text(columns["case_id"])
        if "case_id" in columns
        else pa.nulls(report.n_rows, pa.string())
    )
    required = {f.name for f in fields if f.required}
    if require_labels:
        required |= set(contract.labels)
    parsed: dict[str, pd.Series] = {}
    for spec in fields:
        if spec.name not in columns:
            if spec.name in required:
                report.add([Problem(field=spec.name, message="required column is missing")])
            continue
        result = parse_column(spec, columns[spec.name])
        parsed[spec.name] = result.values
        if spec.name in required:
            result.failures.append((~result.present, "required value is empty"))
        for mask, message in result.failures:
            problems, total = _problems_from_mask(mask, spec.name, message, case_ids, first_row)
            report.add(problems, total)

    frame = pd.DataFrame(parsed, index=pd.RangeIndex(report.n_rows))
    _check_across_fields(frame, report, case_ids, first_row, seen_case_ids, contract)
    for spec in fields:
        if spec.name not in frame.columns and spec.group is not Group.OUTCOME:
            frame[spec.name] = missing_column(spec, len(frame))
    ordered = [f.name for f in fields if f.name in frame.columns]
    return frame[ordered], report


def _check_across_fields(
    frame: pd.DataFrame,
    report: ValidationReport,
    case_ids: pa.Array,
    first_row: int,
    seen_case_ids: set[str] | None,
    contract: Contract,
) -> None:
    """The record's rules across fields, then ``case_id`` unique across rows and chunks."""

    def add(mask: Mask, field_name: str, message: str) -> None:
        problems, total = _problems_from_mask(mask, field_name, message, case_ids, first_row)
        report.add(problems, total)

    for rule in contract.rules:
        for field_name, breaking in rule.rows_breaking(frame).items():
            add(breaking, field_name, rule.message)

    if "case_id" in frame:
        ids = frame["case_id"]
        duplicated = (ids.notna() & ids.duplicated(keep="first")).to_numpy()
        if seen_case_ids is not None:
            # Set membership per case: Series.isin(set) would copy the whole set of
            # earlier chunks every chunk (quadratic over a large file).
            present = ids.dropna().tolist()
            earlier = np.zeros(len(ids), dtype=bool)
            earlier[ids.notna().to_numpy()] = [case_id in seen_case_ids for case_id in present]
            duplicated = duplicated | earlier
            seen_case_ids.update(present)
        add(duplicated, "case_id", "duplicate case_id")
