"""Files that readers see whole or not at all, and JSON of numpy values.

Every command that writes a result — a scores file, a decision export, a
report, a model, the keys — goes through here, so a failure or a crash
half-way leaves the old file (or none), never a torn one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["atomic_table_writer", "file_format", "json_default", "write_atomically"]

_TABLE_FORMATS: dict[str, Literal["csv", "parquet"]] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def file_format(path: str | os.PathLike[str]) -> Literal["csv", "parquet"]:
    """``"csv"`` or ``"parquet"`` by extension, to read or to write; anything else is refused."""
    suffix = Path(path).suffix.lower()
    if suffix not in _TABLE_FORMATS:
        raise ValueError(
            f"{path}: a '{suffix or 'extensionless'}' file is neither CSV nor Parquet; "
            "give a .csv (UTF-8) or .parquet file"
        )
    return _TABLE_FORMATS[suffix]


def write_atomically(
    path: str | os.PathLike[str], text: str, *, mode: int | None = None, durable: bool = False
) -> None:
    """Write a text file so that readers see the old file or the whole new one.

    ``mode`` sets the permissions before any byte is written (e.g. ``0o600``
    for secrets); ``durable`` flushes the new file to disk before it replaces
    the old one, so a crash right after cannot leave it empty.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if mode is not None:
            os.fchmod(handle, mode)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_table_writer(
    path: str | os.PathLike[str], schema: pa.Schema
) -> Iterator[Callable[[pa.Table], None]]:
    """``write(table)`` appends Arrow tables to a CSV or Parquet file (by extension).

    The file appears only when the block ends without an error (readers see
    the old file or the whole new one); with nothing written it holds the
    header (CSV) or the schema (Parquet) and no rows.
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path)
    kind = file_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    writer = (pacsv.CSVWriter if kind == "csv" else pq.ParquetWriter)(temporary, schema)
    written = False

    def write(table: pa.Table) -> None:
        nonlocal written
        writer.write_table(table)
        written = True

    try:
        yield write
        if not written:
            writer.write_table(schema.empty_table())
        writer.close()
        os.replace(temporary, path)
    except BaseException:
        writer.close()
        Path(temporary).unlink(missing_ok=True)
        raise


def json_default(value: object) -> object:
    """numpy numbers, timestamps and arrays as JSON values (``json.dumps(default=…)``)."""
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, dt.date):  # pandas' Timestamp is a datetime, so a date too
        return value.strftime("%Y-%m-%d")
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
