"""Loading case exports (CSV or Parquet) against the case record.

Everything that reads cases goes through here, so every reader gets the same
guarantees:

* personal-data columns are never read (CSV) or dropped at once (Parquet);
* every problem of a file is reported — row, ``case_id``, field and what was
  wrong — not only the first; unknown extra columns are reported once;
* the result is the *canonical frame*: identity and coded fields as pandas
  ``str`` with NaN for missing (``filing_date`` as ``datetime64``), and amounts, integers, booleans (1.0/0.0) and labels as
  ``float64`` with NaN for missing.

Row numbers are 1-based data rows (row 1 is the first case; in a CSV it sits
on line 2, under the header).

This module reads files in chunks and holds the public entry points; the
checks live in :mod:`features.validate` (a frame), :mod:`features.columns`
(one column) and :mod:`features.rules` (across fields), the report in
:mod:`features.report`.
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from app.files import file_format
from features.contract import CASE_RECORD, Contract
from features.record import FIELD_BY_NAME, PII_FIELDS, Kind
from features.report import (
    SHOWN_PROBLEMS,
    WHOLE_FILE,
    CaseDataError,
    Problem,
    ValidationReport,
)
from features.validate import validate_frame

# The loader's public names, wherever they are defined: other packages import
# them from here.
__all__ = [
    "FIELD_BY_NAME",
    "SHOWN_PROBLEMS",
    "WHOLE_FILE",
    "CaseDataError",
    "Problem",
    "ValidationReport",
    "iter_cases",
    "load_cases",
    "read_cases",
    "records_from_frame",
    "validate_file",
    "validate_frame",
]

# --------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------

#: Bytes per CSV block when streaming (about 100k cases of the contract).
_CSV_BLOCK_BYTES = 32 << 20


def _is_personal(column: str) -> bool:
    return column.strip() in PII_FIELDS


def _header(path: str | os.PathLike[str]) -> list[str]:
    """Column names of a file, as written."""
    path = Path(path)
    file_format(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if file_format(path) == "csv":
        with open(path, encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
        header = next(csv.reader([first]), []) if first.strip() else []
    else:
        import pyarrow.parquet as pq

        header = list(pq.ParquetFile(path).schema_arrow.names)
    if not header:
        report = ValidationReport(source=str(path))
        report.add([Problem(field=WHOLE_FILE, message="file has no header row")])
        raise CaseDataError(report)
    return header


#: Arrow's message for a ragged CSV row ends with the row's text, which may be personal data.
_RAGGED_ROW = re.compile(r"Expected (\d+) columns, got (\d+)")


def _unreadable(path: str | os.PathLike[str], error: BaseException) -> CaseDataError:
    report = ValidationReport(source=str(path))
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    ragged = _RAGGED_ROW.search(message)
    if ragged:
        # Never echo the row: name it by number and say what was wrong with it.
        expected, got = ragged.groups()
        report.add(
            [
                Problem(
                    field=WHOLE_FILE,
                    row=_first_ragged_row(path, int(expected)),
                    message=f"cannot be read: expected {expected} columns, got {got}",
                )
            ]
        )
    else:
        report.add([Problem(field=WHOLE_FILE, message=f"cannot be read: {message}")])
    return CaseDataError(report)


def _first_ragged_row(path: str | os.PathLike[str], n_columns: int) -> int | None:
    """The data-row number (1 = the first after the header) of the first row of another width."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = (row for row in csv.reader(handle) if row)  # Arrow skips empty lines too
            next(rows, None)  # the header
            for number, row in enumerate(rows, start=1):
                if len(row) != n_columns:
                    return number
    except (OSError, UnicodeDecodeError, csv.Error):
        pass
    return None


def _read_raw_chunks(
    path: str | os.PathLike[str], chunk_rows: int | None, header: Sequence[str]
) -> Iterator[pa.Table]:
    """Raw chunks of a file (whose ``header`` the caller read) as Arrow tables.

    Personal-data columns are never read.  A file that cannot be parsed (not UTF-8, ragged rows, not Parquet) raises
    :class:`CaseDataError` naming the file.
    """
    try:
        yield from _read_raw_chunks_unchecked(path, chunk_rows, header)
    except (OSError, UnicodeDecodeError, pa.ArrowException) as error:
        raise _unreadable(path, error) from error


def _read_raw_chunks_unchecked(
    path: str | os.PathLike[str], chunk_rows: int | None, header: Sequence[str]
) -> Iterator[pa.Table]:
    # CSV cells are read as text (empty = missing) so that validation sees
    # what the file says, not what a type guesser made of it.
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path)
    columns = [name for name in dict.fromkeys(header) if not _is_personal(name)]
    if file_format(path) == "parquet":
        parquet = pq.ParquetFile(path)
        if chunk_rows is None:
            yield parquet.read(columns=columns)
            return
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
            yield pa.Table.from_batches([batch])
        return
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        include_columns=columns,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )
    if chunk_rows is None:
        yield pacsv.read_csv(path, convert_options=convert)
        return
    block = max(1 << 20, min(_CSV_BLOCK_BYTES, chunk_rows * 200))
    reader = pacsv.open_csv(
        path, convert_options=convert, read_options=pacsv.ReadOptions(block_size=block)
    )
    for batch in reader:
        yield pa.Table.from_batches([batch])


# --------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------


def read_cases(
    path: str | os.PathLike[str],
    *,
    require_labels: bool = False,
    contract: Contract = CASE_RECORD,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Read and validate a whole file: ``(canonical frame, report)``.

    The caller decides what to do with a report that is not ``ok``;
    :func:`load_cases` refuses it.  ``contract``: the record the file holds
    (new cases by default).
    """
    header = _header(path)
    (raw,) = _read_raw_chunks(path, None, header)
    frame, report = validate_frame(
        raw, source=str(path), require_labels=require_labels, header=header, contract=contract
    )
    _warn_ignored(report)
    return frame, report


def load_cases(
    path: str | os.PathLike[str],
    *,
    require_labels: bool = False,
    contract: Contract = CASE_RECORD,
) -> pd.DataFrame:
    """Read a file and return its canonical frame, or raise :class:`CaseDataError`."""
    frame, report = read_cases(path, require_labels=require_labels, contract=contract)
    if not report.ok:
        raise CaseDataError(report)
    return frame


def iter_cases(
    path: str | os.PathLike[str],
    *,
    chunk_rows: int = 100_000,
    require_labels: bool = False,
    warn_ignored: bool = True,
    contract: Contract = CASE_RECORD,
) -> Iterator[tuple[pd.DataFrame, ValidationReport]]:
    """Validated chunks of a file, for streaming (memory stays flat).

    Each chunk's report numbers rows within the whole file, and ``case_id``
    uniqueness is checked across chunks.  Unknown columns raise one warning
    unless ``warn_ignored`` is False (the caller reports them itself).
    """
    seen: set[str] = set()
    first_row = 1
    warned = not warn_ignored
    header = _header(path)
    for raw in _read_raw_chunks(path, chunk_rows, header):
        frame, report = validate_frame(
            raw,
            source=str(path),
            require_labels=require_labels,
            first_row=first_row,
            seen_case_ids=seen,
            header=header,
            contract=contract,
        )
        if not warned:
            _warn_ignored(report)
            warned = True
        first_row += raw.num_rows
        yield frame, report


def validate_file(
    path: str | os.PathLike[str],
    *,
    require_labels: bool = False,
    contract: Contract = CASE_RECORD,
) -> ValidationReport:
    """Every problem of a file, read in chunks so any size fits in memory."""
    total = ValidationReport(source=str(path))
    try:
        # The report lists the unknown columns: no warning besides.
        chunks = iter_cases(
            path, require_labels=require_labels, warn_ignored=False, contract=contract
        )
        for _, report in chunks:
            total.merge(report)
    except CaseDataError as error:
        total.merge(error.report)
    except (OSError, ValueError) as error:
        total.merge(_unreadable(path, error).report)
    if total.n_rows == 0 and total.ok:
        total.add([Problem(field=WHOLE_FILE, message="file holds no cases")])
    return total


def _warn_ignored(report: ValidationReport) -> None:
    if report.ignored_columns:
        warnings.warn(
            f"{report.source}: unknown columns ignored: {', '.join(report.ignored_columns)}",
            UserWarning,
            stacklevel=3,
        )


def records_from_frame(
    frame: pd.DataFrame, contract: Contract = CASE_RECORD
) -> list[dict[str, object]]:
    """The record fields of each row of a canonical frame as JSON-ready dicts.

    What an API client sends: codes and identity as strings, ``filing_date``
    as ``YYYY-MM-DD``, integers as ``int``, amounts as ``float``, booleans as
    ``bool`` and ``None`` for missing.  Outcome columns are left out.
    ``contract``: the record the frame holds (new cases by default).
    """
    converters: dict[Kind, Callable[[Any], object]] = {
        Kind.INTEGER: int,
        Kind.AMOUNT: float,
        Kind.BOOLEAN: bool,
        Kind.STRING: str,
        Kind.CODE: str,
    }
    columns: dict[str, list[object]] = {}
    for spec in contract.record_fields:
        if spec.name not in frame.columns:
            columns[spec.name] = [None] * len(frame)
            continue
        values = frame[spec.name]
        if spec.kind is Kind.DATE:
            text = pd.to_datetime(values).dt.strftime("%Y-%m-%d")
            columns[spec.name] = [None if pd.isna(v) else v for v in text]
            continue
        convert = converters[spec.kind]
        columns[spec.name] = [None if pd.isna(v) else convert(v) for v in values.tolist()]
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
