"""Loading and validating case exports (CSV or Parquet) against the case record.

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
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from app.files import file_format, write_atomically
from features.record import (
    FIELD_BY_NAME,
    FIELDS,
    INQUIRY_FIELDS,
    LABELS,
    PII_FIELDS,
    FieldSpec,
    Group,
    Kind,
)

#: How many problems a report shows; the count is always complete.
SHOWN_PROBLEMS = 50
#: Problems kept per (field, kind of problem), enough to fill the shown list.

_TRUE = {"true", "1", "是", "1.0", "t", "yes", "y"}
_FALSE = {"false", "0", "否", "0.0", "f", "no", "n"}
# A plain decimal: no thousands separators, no currency signs, optional exponent
# (spreadsheets write 1.2E+07 for large amounts).
_NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CaseDataError(ValueError):
    """Cases that break the contract; carries the full :class:`ValidationReport`."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.render())


#: The ``field`` of a problem with the file as a whole (unreadable, no header, empty).
WHOLE_FILE = "(file)"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one cell (or a whole column when ``row`` is None)."""

    field: str
    message: str
    row: int | None = None
    case_id: str | None = None

    def render(self) -> str:
        if self.field == WHOLE_FILE:
            return f"{'file' if self.row is None else f'row {self.row}'}: {self.message}"
        where = "column" if self.row is None else f"row {self.row}"
        case = f" (case_id {self.case_id})" if self.case_id else ""
        return f"{where}{case}, field {self.field}: {self.message}"


@dataclass
class ValidationReport:
    """Everything wrong with a file (or a batch of records)."""

    source: str
    n_rows: int = 0
    problems: list[Problem] = field(default_factory=list)
    n_problems: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    dropped_personal_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.n_problems == 0

    def add(self, problems: Sequence[Problem], total: int | None = None) -> None:
        self.problems.extend(problems)
        self.n_problems += len(problems) if total is None else total

    def merge(self, other: ValidationReport) -> None:
        self.n_rows += other.n_rows
        self.problems.extend(other.problems)
        self.n_problems += other.n_problems
        for column in other.ignored_columns:
            if column not in self.ignored_columns:
                self.ignored_columns.append(column)
        for column in other.dropped_personal_columns:
            if column not in self.dropped_personal_columns:
                self.dropped_personal_columns.append(column)

    def shown(self) -> list[Problem]:
        """The first problems by row (column-level problems first)."""
        ordered = sorted(self.problems, key=lambda p: (-1 if p.row is None else p.row, p.field))
        return ordered[:SHOWN_PROBLEMS]

    def render(self) -> str:
        lines = [f"{self.source}: {self.n_rows} rows"]
        if self.dropped_personal_columns:
            lines.append(
                "personal-data columns dropped on load: " + ", ".join(self.dropped_personal_columns)
            )
        if self.ignored_columns:
            lines.append("unknown columns ignored: " + ", ".join(self.ignored_columns))
        if self.ok:
            lines.append("OK: no problems")
            return "\n".join(lines)
        shown = self.shown()
        lines.append(f"{self.n_problems} problem(s); the first {len(shown)}:")
        lines.extend("  " + p.render() for p in shown)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "ok": self.ok,
            "n_rows": self.n_rows,
            "n_problems": self.n_problems,
            "problems": [p.__dict__ for p in self.shown()],
            "ignored_columns": self.ignored_columns,
            "dropped_personal_columns": self.dropped_personal_columns,
        }

    def write_json(self, path: str | os.PathLike) -> None:
        write_atomically(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=2))


# --------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------

#: Bytes per CSV block when streaming (about 100k cases of the contract).
_CSV_BLOCK_BYTES = 32 << 20


def _is_personal(column: str) -> bool:
    return column.strip() in PII_FIELDS


def _header(path: str | os.PathLike) -> list[str]:
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


def _unreadable(path: str | os.PathLike, error: BaseException) -> CaseDataError:
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


def _first_ragged_row(path: str | os.PathLike, n_columns: int) -> int | None:
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
    path: str | os.PathLike, chunk_rows: int | None, header: Sequence[str]
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
    path: str | os.PathLike, chunk_rows: int | None, header: Sequence[str]
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
# Parsing and validating one column (vectorised with Arrow compute)
# --------------------------------------------------------------------------


def _to_arrow(values: pa.ChunkedArray | pa.Array | pd.Series) -> pa.Array:
    if isinstance(values, pd.Series):
        if values.dtype == object:
            # Mixed Python objects (records from an API): text of each cell.
            cells = [None if _is_missing(v) else _cell_text(v) for v in values.tolist()]
            return pa.array(cells, type=pa.string())
        return pa.array(values, from_pandas=True)
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    return values


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _as_text(values: pa.Array) -> pa.Array:
    """Text of each cell, null where empty or missing; typed columns become text too."""
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pc.utf8_trim_whitespace(values)
        return pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)
    if pa.types.is_boolean(kind):
        return pc.if_else(values, "true", "false")
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return pc.strftime(values, format="%Y-%m-%d")
    if pa.types.is_floating(kind):
        # A whole float in a text field (Parquet from a spreadsheet): 44.0 -> "44".
        whole = pc.equal(values, pc.floor(values))
        as_int = pc.cast(pc.if_else(whole, values, None), pa.int64(), safe=False)
        return pc.if_else(whole, pc.cast(as_int, pa.string()), pc.cast(values, pa.string()))
    return pc.cast(values, pa.string())


def _mask(values: pa.Array) -> np.ndarray:
    """A boolean Arrow result as numpy, null counting as False."""
    return pc.fill_null(values, False).to_numpy(zero_copy_only=False)


def _matches(text: pa.Array, pattern: re.Pattern[str]) -> np.ndarray:
    """True where a cell is missing or matches; False where it is malformed."""
    return pc.fill_null(pc.match_substring_regex(text, pattern.pattern), True).to_numpy(
        zero_copy_only=False
    )


@dataclass
class _ColumnResult:
    values: pd.Series
    failures: list[tuple[np.ndarray, str]]
    present: np.ndarray


def _parse_column(spec: FieldSpec, raw: pa.Array) -> _ColumnResult:
    if spec.kind in (Kind.AMOUNT, Kind.INTEGER, Kind.LABEL):
        return _parse_numeric_column(spec, raw)
    failures: list[tuple[np.ndarray, str]] = []
    text = _as_text(raw)
    present = text.is_valid().to_numpy(zero_copy_only=False)
    if spec.kind is Kind.STRING:
        length = spec.extra.get("length")
        if length is not None:
            wrong = _mask(pc.not_equal(pc.utf8_length(text), length))
            failures.append((wrong, f"must be {length} characters"))
        return _ColumnResult(_text_series(text), failures, present)
    if spec.kind is Kind.DATE:
        shaped = _matches(text, _DATE)
        dates = pd.to_datetime(_text_series(text).where(shaped), format="%Y-%m-%d", errors="coerce")
        failures.append(
            (present & (~shaped | dates.isna().to_numpy()), "is not a date written YYYY-MM-DD")
        )
        return _ColumnResult(dates.astype("datetime64[ns]"), failures, present)
    if spec.kind is Kind.CODE:
        known = _mask(pc.is_in(text, value_set=pa.array(spec.code_values)))
        unknown = present & ~known
        failures.append((unknown, f"unknown code; allowed: {', '.join(spec.code_values)}"))
        return _ColumnResult(_text_series(text).where(known, None), failures, present)
    # Booleans.
    lowered = pc.utf8_lower(text)
    true = _mask(pc.is_in(lowered, value_set=pa.array(sorted(_TRUE))))
    false = _mask(pc.is_in(lowered, value_set=pa.array(sorted(_FALSE))))
    wrong = present & ~true & ~false
    failures.append((wrong, "is not a boolean (true/false, 1/0, 是/否)"))
    values = np.where(true, 1.0, np.where(false, 0.0, np.nan))
    return _ColumnResult(pd.Series(values, dtype="float64"), failures, present)


def _text_series(text: pa.Array) -> pd.Series:
    """The canonical frame's text column: pandas ``str`` dtype, NaN for missing."""
    return text.to_pandas().astype("str")


def _parse_numbers(raw: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(numbers, present, malformed) of a numeric field, from text or typed Parquet."""
    kind = raw.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        numbers = pc.cast(raw, pa.float64()).to_numpy(zero_copy_only=False)
        present = raw.is_valid().to_numpy(zero_copy_only=False) & ~np.isnan(numbers)
        return numbers, present, np.zeros(len(raw), dtype=bool)
    text = _as_text(raw)
    present = text.is_valid().to_numpy(zero_copy_only=False)
    well_formed = _matches(text, _NUMBER)
    cleaned = pc.if_else(pa.array(well_formed), text, pa.scalar(None, text.type))
    numbers = pc.cast(cleaned, pa.float64()).to_numpy(zero_copy_only=False)
    return numbers, present, present & ~well_formed


def _parse_numeric_column(spec: FieldSpec, raw: pa.Array) -> _ColumnResult:
    failures: list[tuple[np.ndarray, str]] = []
    numbers, present, malformed = _parse_numbers(raw)
    if spec.kind is Kind.AMOUNT:
        failures.append(
            (malformed, "is not a plain decimal amount (no separators or currency signs)")
        )
    elif spec.kind is Kind.LABEL:
        failures.append((malformed, "outcome must be 0 or 1"))
    else:
        failures.append((malformed, "is not a whole number"))
        with np.errstate(invalid="ignore"):
            fractional = ~malformed & present & np.isfinite(numbers) & (np.mod(numbers, 1) != 0)
        failures.append((fractional, "is not a whole number (has a fraction)"))
        malformed = malformed | fractional
    finite = np.isfinite(numbers)
    failures.append((present & ~malformed & ~finite, "is not a finite number"))
    ok = present & ~malformed & finite
    out_of_range = np.zeros(len(numbers), dtype=bool)
    with np.errstate(invalid="ignore"):
        checks: list[tuple[np.ndarray, str]] = []
        if spec.kind is Kind.LABEL:
            checks.append((~np.isin(numbers, (0.0, 1.0)), "outcome must be 0 or 1"))
        elif spec.minimum is not None and spec.min_exclusive:
            checks.append((numbers <= spec.minimum, f"must be greater than {spec.minimum:g}"))
        elif spec.minimum == 0 and spec.kind is Kind.AMOUNT:
            checks.append((numbers < 0, "amount is negative"))
        elif spec.minimum is not None:
            checks.append((numbers < spec.minimum, f"must be at least {spec.minimum:g}"))
        if spec.maximum is not None:
            checks.append((numbers > spec.maximum, f"must be at most {spec.maximum:g}"))
    for mask, message in checks:
        failures.append((ok & mask, message))
        out_of_range |= ok & mask
    values = np.where(ok & ~out_of_range, numbers, np.nan)
    return _ColumnResult(pd.Series(values, dtype="float64"), failures, present)


# --------------------------------------------------------------------------
# Validating a frame
# --------------------------------------------------------------------------


def _problems_from_mask(
    mask: np.ndarray, field_name: str, message: str, case_ids: pa.Array, first_row: int
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
) -> tuple[pd.DataFrame, ValidationReport]:
    """Check raw cases against the contract and return the canonical frame.

    ``raw`` holds what a file says (text, or typed Parquet columns, or Python
    values from records).  Personal-data columns are dropped first.
    ``first_row`` numbers the rows of a chunk within its file;
    ``seen_case_ids`` carries ``case_id`` uniqueness across chunks; ``header``
    is the file's header as written, when the reader has already left out
    personal columns.  The canonical frame has one column per contract field
    (absent optional fields become all-missing columns; outcome columns only
    when present).
    """
    names = [
        str(c).strip() for c in (raw.column_names if isinstance(raw, pa.Table) else raw.columns)
    ]
    written = [str(c).strip() for c in header] if header is not None else names
    report = ValidationReport(
        source=source, n_rows=raw.num_rows if isinstance(raw, pa.Table) else len(raw)
    )
    report.dropped_personal_columns = [c for c in dict.fromkeys(written) if c in PII_FIELDS]
    known = {f.name for f in FIELDS}
    report.ignored_columns = [
        c for c in dict.fromkeys(written) if c not in known and c not in PII_FIELDS
    ]
    for column in sorted({c for c in written if written.count(c) > 1}):
        report.add([Problem(field=column, message="column appears more than once")])
    columns: dict[str, pa.Array] = {}
    for position, name in enumerate(names):
        if name in known and name not in columns:
            values = raw.column(position) if isinstance(raw, pa.Table) else raw.iloc[:, position]
            columns[name] = _to_arrow(values)

    case_ids = (
        _as_text(columns["case_id"])
        if "case_id" in columns
        else pa.nulls(report.n_rows, pa.string())
    )
    required = {f.name for f in FIELDS if f.required}
    if require_labels:
        required |= set(LABELS)
    parsed: dict[str, pd.Series] = {}
    for spec in FIELDS:
        if spec.name not in columns:
            if spec.name in required:
                report.add([Problem(field=spec.name, message="required column is missing")])
            continue
        result = _parse_column(spec, columns[spec.name])
        parsed[spec.name] = result.values
        if spec.name in required:
            result.failures.append((~result.present, "required value is empty"))
        for mask, message in result.failures:
            problems, total = _problems_from_mask(mask, spec.name, message, case_ids, first_row)
            report.add(problems, total)

    frame = pd.DataFrame(parsed, index=pd.RangeIndex(report.n_rows))
    _check_across_fields(frame, report, case_ids, first_row, seen_case_ids)
    for spec in FIELDS:
        if spec.name not in frame.columns and spec.group is not Group.OUTCOME:
            frame[spec.name] = _missing_column(spec, len(frame))
    ordered = [f.name for f in FIELDS if f.name in frame.columns]
    return frame[ordered], report


def _missing_column(spec: FieldSpec, length: int) -> pd.Series:
    if spec.kind in (Kind.STRING, Kind.CODE):
        return pd.Series(np.nan, index=range(length), dtype="str")
    if spec.kind is Kind.DATE:
        return pd.Series(pd.NaT, index=range(length), dtype="datetime64[ns]")
    return pd.Series(np.nan, index=range(length), dtype="float64")


def _check_across_fields(
    frame: pd.DataFrame,
    report: ValidationReport,
    case_ids: pa.Array,
    first_row: int,
    seen_case_ids: set[str] | None,
) -> None:
    def add(mask: np.ndarray, field_name: str, message: str) -> None:
        problems, total = _problems_from_mask(mask, field_name, message, case_ids, first_row)
        report.add(problems, total)

    for spec in FIELDS:
        if spec.at_most_field and spec.name in frame and spec.at_most_field in frame:
            above = (frame[spec.name] > frame[spec.at_most_field]).to_numpy()
            add(above, spec.name, f"is greater than {spec.at_most_field}")

    if "court_id" in frame and "province" in frame:
        prefix = frame["court_id"].str.slice(0, 2)
        mismatch = (
            frame["province"].notna() & prefix.notna() & (prefix != frame["province"])
        ).to_numpy()
        add(mismatch, "court_id", "first two characters differ from the province code")

    if "inquiry_done" in frame:
        not_done = (frame["inquiry_done"] == 0).to_numpy()
        for spec in INQUIRY_FIELDS:
            if spec.name in frame:
                filled = not_done & frame[spec.name].notna().to_numpy()
                add(filled, spec.name, "must be empty when inquiry_done is false")

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


# --------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------


def read_cases(
    path: str | os.PathLike, *, require_labels: bool = False
) -> tuple[pd.DataFrame, ValidationReport]:
    """Read and validate a whole file: ``(canonical frame, report)``.

    The caller decides what to do with a report that is not ``ok``;
    :func:`load_cases` refuses it.
    """
    header = _header(path)
    (raw,) = _read_raw_chunks(path, None, header)
    frame, report = validate_frame(
        raw, source=str(path), require_labels=require_labels, header=header
    )
    _warn_ignored(report)
    return frame, report


def load_cases(path: str | os.PathLike, *, require_labels: bool = False) -> pd.DataFrame:
    """Read a file and return its canonical frame, or raise :class:`CaseDataError`."""
    frame, report = read_cases(path, require_labels=require_labels)
    if not report.ok:
        raise CaseDataError(report)
    return frame


def iter_cases(
    path: str | os.PathLike,
    *,
    chunk_rows: int = 100_000,
    require_labels: bool = False,
    warn_ignored: bool = True,
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
        )
        if not warned:
            _warn_ignored(report)
            warned = True
        first_row += raw.num_rows
        yield frame, report


def validate_file(path: str | os.PathLike, *, require_labels: bool = False) -> ValidationReport:
    """Every problem of a file, read in chunks so any size fits in memory."""
    total = ValidationReport(source=str(path))
    try:
        # The report lists the unknown columns: no warning besides.
        for _, report in iter_cases(path, require_labels=require_labels, warn_ignored=False):
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


__all__ = [
    "FIELD_BY_NAME",
    "CaseDataError",
    "Problem",
    "ValidationReport",
    "iter_cases",
    "load_cases",
    "read_cases",
    "validate_file",
    "validate_frame",
]


def records_from_frame(frame: pd.DataFrame) -> list[dict[str, object]]:
    """The case-record fields of each row of a canonical frame as JSON-ready dicts.

    What an API client sends: codes and identity as strings, ``filing_date``
    as ``YYYY-MM-DD``, integers as ``int``, amounts as ``float``, booleans as
    ``bool`` and ``None`` for missing.  Outcome columns are left out.
    """
    from features.record import RECORD_FIELDS

    converters = {
        Kind.INTEGER: int,
        Kind.AMOUNT: float,
        Kind.BOOLEAN: bool,
        Kind.STRING: str,
        Kind.CODE: str,
    }
    columns = {}
    for spec in RECORD_FIELDS:
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
