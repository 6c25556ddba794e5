"""Writing synthetic cases to CSV or Parquet files, atomically."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from app.files import file_format
from features.record import FIELD_BY_NAME, FieldSpec, Kind
from features.synthetic.blocks import _blocks
from features.synthetic.text import _join
from features.synthetic.world import GeneratorConfig

#: Cases from ``n`` on which ``write_synthetic`` shows a progress bar (on a terminal).
PROGRESS_FROM = 200_000


def _decimal_text(column: pa.Array) -> pa.Array:
    """Amounts as plain decimals ("125000.50", "3000"): never an exponent."""
    values = column.to_numpy(zero_copy_only=False)
    missing = np.isnan(values)
    cents = np.rint(np.where(missing, 0.0, values) * 100.0).astype(np.int64)
    whole = pa.array(cents // 100).cast(pa.string())
    fraction = pc.utf8_lpad(pa.array(cents % 100).cast(pa.string()), 2, "0")
    text = pc.if_else(pa.array(cents % 100 == 0), whole, _join(whole, ".", fraction))
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), text)


def _csv_ready(table: pa.Table, fields: Mapping[str, FieldSpec] = FIELD_BY_NAME) -> pa.Table:
    """The table as the CSV should read: amounts as decimal text, the rest as typed."""
    for i, name in enumerate(table.column_names):
        spec = fields.get(name)
        if spec is not None and spec.kind is Kind.AMOUNT:
            text = _decimal_text(table.column(i).combine_chunks())
            table = table.set_column(i, pa.field(name, pa.string()), text)
    return table


class _TableWriter(Protocol):
    """What the Arrow CSV and Parquet writers have in common."""

    def write_table(self, table: pa.Table) -> None: ...

    def close(self) -> None: ...


class _Sink:
    """A streaming CSV or Parquet writer into a temporary file next to its target."""

    def __init__(
        self, target: Path, fmt: str, fields: Mapping[str, FieldSpec] = FIELD_BY_NAME
    ) -> None:
        self.target = target
        self.format = fmt
        self.fields = fields  # the record written: which columns are amounts
        # A fresh name the writer creates itself, so the file gets the usual permissions
        # (mkstemp would make it private to the user).
        self.temporary = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
        self.writer: _TableWriter | None = None

    def write(self, table: pa.Table) -> None:
        """Append a block of rows; the first one opens the file."""
        if self.format == "csv":
            table = _csv_ready(table, self.fields)
        if self.writer is None:
            self.writer = self._open(table.schema)
        self.writer.write_table(table)

    def _open(self, schema: pa.Schema) -> _TableWriter:
        if self.format == "csv":
            import pyarrow.csv as pacsv

            # No quoting: no value of ours holds a comma, quote or line break.
            options = pacsv.WriteOptions(quoting_style="none", quoting_header="none")
            writer: _TableWriter = pacsv.CSVWriter(
                str(self.temporary), schema, write_options=options
            )
            return writer
        import pyarrow.parquet as pq

        writer = pq.ParquetWriter(str(self.temporary), schema)
        return writer

    def close(self) -> None:
        """Finish the temporary file (it stays where it is)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def commit(self) -> None:
        """Move the temporary file into place."""
        os.replace(self.temporary, self.target)

    def discard(self) -> None:
        """Close and delete the temporary file."""
        try:
            self.close()
        finally:
            self.temporary.unlink(missing_ok=True)


def write_synthetic(
    n: int,
    out: str | os.PathLike[str],
    truth: str | os.PathLike[str] | None = None,
    seed: int = 0,
    with_pii: bool = False,
    config: GeneratorConfig | None = None,
) -> None:
    """Write ``n`` synthetic cases to ``out`` and, if given, their truth to ``truth``.

    The format follows the extension (``.csv``: UTF-8, booleans ``true``/``false``,
    integers without a fraction, amounts as plain decimals, empty for missing;
    ``.parquet``).  Files are written atomically: into a temporary file in the same
    folder, moved into place at the end; nothing is left behind on failure.  For
    ``n`` >= :data:`PROGRESS_FROM` a progress bar goes to stderr when it is a terminal.
    """
    from tqdm import tqdm

    config = config or GeneratorConfig()
    targets = [(Path(out), "output")] + ([(Path(truth), "truth file")] if truth is not None else [])
    formats: list[str] = []
    for path, what in targets:
        try:
            formats.append(file_format(path))
        except ValueError as error:
            raise ValueError(f"{what} {error}") from None
    if truth is not None and Path(out).resolve() == Path(truth).resolve():
        raise ValueError(f"the output and the truth file are the same path: {out}")
    sinks: list[_Sink] = []
    try:
        for (path, _), fmt in zip(targets, formats, strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            sinks.append(_Sink(path, fmt))
        show = n >= PROGRESS_FROM and sys.stderr.isatty()
        with tqdm(
            total=n,
            unit="case",
            unit_scale=True,
            desc="generate",
            disable=not show,
            file=sys.stderr,
        ) as progress:
            for block in _blocks(n, seed, config, with_pii):
                sinks[0].write(block.cases)
                if truth is not None:
                    sinks[1].write(block.truth)
                progress.update(block.cases.num_rows)
        for sink in sinks:
            sink.close()
        for sink in sinks:
            sink.commit()
    except BaseException:
        for sink in sinks:
            sink.discard()
        raise
