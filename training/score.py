"""`triage score`: a file of cases in, a file of decisions out.

The input is read, validated and scored in chunks, so memory stays flat for
any file size; the output goes to a temporary file beside the target and is
moved into place only when every chunk scored, so a failure leaves no partial
output.  When a chunk fails validation, the rest of the file is still
validated (not scored) so that the report lists every problem.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from features.load import CaseDataError, ValidationReport, file_format, iter_cases
from features.settings import TriageSettings, get_settings
from training.triage import Triage


class _Writer:
    """Appends Arrow tables to a CSV or Parquet file."""

    def __init__(self, path: Path, kind: str):
        self.path, self.kind, self._writer = path, kind, None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            if self.kind == "csv":
                import pyarrow.csv as pacsv

                self._writer = pacsv.CSVWriter(str(self.path), table.schema)
            else:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(str(self.path), table.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def score_file(
    data: str | Path,
    out: str | Path,
    *,
    chunk_rows: int = 50_000,
    reasons: int = 3,
    triage: Triage | None = None,
    settings: TriageSettings | None = None,
    progress: bool | None = None,
) -> dict[str, object]:
    """Score every case of ``data`` with the champions; write decisions to ``out``.

    ``reasons`` is the number of reasons per probability (0 leaves them out:
    LightGBM's contributions cost about ten times its prediction).
    """
    from tqdm import tqdm

    from training import registry

    settings = settings or get_settings()
    out = Path(out)
    out_kind = file_format(out)
    if triage is None:
        registry.configure_mlflow(settings)
        triage = Triage.from_registry(threads=settings.threads)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(temporary)
    writer = _Writer(temporary, out_kind)
    report = ValidationReport(source=str(data))
    started = time.monotonic()
    rows = 0
    show = sys.stderr.isatty() if progress is None else progress
    try:
        with tqdm(unit=" cases", desc="scoring", disable=not show, file=sys.stderr) as bar:
            for frame, chunk_report in iter_cases(data, chunk_rows=chunk_rows):
                report.merge(chunk_report)
                if not report.ok:
                    continue  # keep validating: the report lists every problem
                decisions = triage.decide_frame(frame, reasons=reasons)
                writer.write(pa.Table.from_pandas(decisions, preserve_index=False))
                rows += len(frame)
                bar.update(len(frame))
        writer.close()
        if not report.ok:
            raise CaseDataError(report)
        if rows == 0 and out_kind == "csv":
            temporary.write_text(",".join(_header()) + "\n", encoding="utf-8")
        os.replace(temporary, out)
    except BaseException:
        writer.close()
        temporary.unlink(missing_ok=True)
        raise
    seconds = time.monotonic() - started
    return {
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_second": rows / seconds if seconds else 0.0,
        "stream_model": f"{triage.stream.name} v{triage.stream.version}",
        "assets_model": f"{triage.assets.name} v{triage.assets.version}",
        "out": str(out),
    }


def _header() -> list[str]:
    from training.triage import OUTPUT_COLUMNS

    return list(OUTPUT_COLUMNS)
