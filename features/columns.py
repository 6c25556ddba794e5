"""Parsing and checking one column of cases, vectorised with Arrow compute.

A column arrives as what a file says — text, a typed Parquet column or Python
values from records — and leaves as a column of the canonical frame (see
:mod:`features.load`) with, for each kind of failure, the rows that have it.
The contract's single-field rules (kinds, codes, bounds, text rules) are applied
here; rules across fields are in :mod:`features.rules`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.record import DATE_MESSAGE, FieldSpec, Kind, TextRule

_TRUE = {"true", "1", "是", "1.0", "t", "yes", "y"}
_FALSE = {"false", "0", "否", "0.0", "f", "no", "n"}
# A plain decimal: no thousands separators, no currency signs, optional exponent
# (spreadsheets write 1.2E+07 for large amounts).
_NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: One flag per row of a column (where a value is present, where a check fails).
Mask: TypeAlias = npt.NDArray[np.bool_]
#: The numbers of a numeric column, NaN where there is none.
Numbers: TypeAlias = npt.NDArray[np.float64]


def to_arrow(values: pa.ChunkedArray | pa.Array | pd.Series) -> pa.Array:
    """A column as one Arrow array, whatever held it (an Arrow table, a pandas frame)."""
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


def as_text(values: pa.Array) -> pa.Array:
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


def _flags(values: pa.Array) -> Mask:
    """A boolean Arrow array without nulls as numpy."""
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.bool_)


def _mask(values: pa.Array) -> Mask:
    """A boolean Arrow result as numpy, null counting as False."""
    return _flags(pc.fill_null(values, False))


def _matches(text: pa.Array, pattern: re.Pattern[str]) -> Mask:
    """True where a cell is missing or matches; False where it is malformed."""
    return _flags(pc.fill_null(pc.match_substring_regex(text, pattern.pattern), True))


@dataclass
class ColumnResult:
    """A parsed column: its canonical values, its failures with their messages, its filled rows."""

    values: pd.Series
    failures: list[tuple[Mask, str]]
    present: Mask


def parse_column(spec: FieldSpec, raw: pa.Array) -> ColumnResult:
    """Parse and check one column of raw cases against its field of the contract."""
    if spec.kind in (Kind.AMOUNT, Kind.INTEGER, Kind.LABEL):
        return _parse_numeric_column(spec, raw)
    failures: list[tuple[Mask, str]] = []
    text = as_text(raw)
    present = _flags(text.is_valid())
    if spec.kind is Kind.STRING:
        if spec.text is not None:
            failures.extend(_text_failures(spec.text, text))
        return ColumnResult(_text_series(text), failures, present)
    if spec.kind is Kind.DATE:
        shaped = _matches(text, _DATE)
        dates = pd.to_datetime(_text_series(text).where(shaped), format="%Y-%m-%d", errors="coerce")
        failures.append((present & (~shaped | dates.isna().to_numpy()), DATE_MESSAGE))
        return ColumnResult(dates.astype("datetime64[ns]"), failures, present)
    if spec.kind is Kind.CODE:
        known = _mask(pc.is_in(text, value_set=pa.array(spec.code_values)))
        unknown = present & ~known
        failures.append((unknown, f"unknown code; allowed: {', '.join(spec.code_values)}"))
        return ColumnResult(_text_series(text).where(known, None), failures, present)
    # Booleans.
    lowered = pc.utf8_lower(text)
    true = _mask(pc.is_in(lowered, value_set=pa.array(sorted(_TRUE))))
    false = _mask(pc.is_in(lowered, value_set=pa.array(sorted(_FALSE))))
    wrong = present & ~true & ~false
    failures.append((wrong, "is not a boolean (true/false, 1/0, 是/否)"))
    values = np.where(true, 1.0, np.where(false, 0.0, np.nan))
    return ColumnResult(pd.Series(values, dtype="float64"), failures, present)


def _text_failures(rule: TextRule, text: pa.Array) -> list[tuple[Mask, str]]:
    """The rows of a text column whose value is too short or long, or has a refused character."""
    lengths = pc.utf8_length(text)
    wrong_length = _mask(
        pc.or_(pc.less(lengths, rule.min_length), pc.greater(lengths, rule.max_length))
    )
    # Arrow's regular expressions are RE2's: the rule's \p{..} classes mean what they
    # mean to the API's request model.
    allowed = _flags(pc.fill_null(pc.match_substring_regex(text, rule.characters_pattern), True))
    return [(wrong_length, rule.length_message), (~allowed, rule.message)]


def _text_series(text: pa.Array) -> pd.Series:
    """The canonical frame's text column: pandas ``str`` dtype, NaN for missing."""
    return text.to_pandas().astype("str")


def _as_numbers(values: pa.Array) -> Numbers:
    """A numeric Arrow array as float64 numpy, NaN for null."""
    return np.asarray(
        pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
    )


def _parse_numbers(raw: pa.Array) -> tuple[Numbers, Mask, Mask]:
    """(numbers, present, malformed) of a numeric field, from text or typed Parquet."""
    kind = raw.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        numbers = _as_numbers(raw)
        present = _flags(raw.is_valid()) & ~np.isnan(numbers)
        return numbers, present, np.zeros(len(raw), dtype=bool)
    text = as_text(raw)
    present = _flags(text.is_valid())
    well_formed = _matches(text, _NUMBER)
    cleaned = pc.if_else(pa.array(well_formed), text, pa.scalar(None, text.type))
    return _as_numbers(cleaned), present, present & ~well_formed


def _parse_numeric_column(spec: FieldSpec, raw: pa.Array) -> ColumnResult:
    failures: list[tuple[Mask, str]] = []
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
        checks: list[tuple[Mask, str]] = []
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
    return ColumnResult(pd.Series(values, dtype="float64"), failures, present)


def missing_column(spec: FieldSpec, length: int) -> pd.Series:
    """An all-missing column of the canonical frame, for an optional field a file leaves out."""
    if spec.kind in (Kind.STRING, Kind.CODE):
        return pd.Series(np.nan, index=range(length), dtype="str")
    if spec.kind is Kind.DATE:
        return pd.Series(pd.NaT, index=range(length), dtype="datetime64[ns]")
    return pd.Series(np.nan, index=range(length), dtype="float64")
