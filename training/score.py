"""`triage score`: a file of cases in, a file of decisions out.

The input is read, validated and scored in chunks, so memory stays flat for
any file size; the output goes to a temporary file beside the target and is
moved into place only when every chunk scored, so a failure leaves no partial
output.  When a chunk fails validation, the rest of the file is still
validated (not scored) so that the report lists every problem.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pyarrow as pa

from app.files import atomic_table_writer, file_format
from app.settings import TriageSettings, get_settings
from features.load import CaseDataError, ValidationReport, iter_cases
from models.court_routing import CourtRouter
from models.policy_book import PolicyBook
from models.triage import OUTPUT_COLUMNS, Triage

_TYPES = {
    "p_complex": pa.float64(),
    "p_assets": pa.float64(),
    "expected_recovery": pa.float64(),  # null where the assets version has no amount part
    "policy_version": pa.int64(),
}
#: Column types of the scores file (fixed, so an empty input still writes a valid file).
OUTPUT_SCHEMA = pa.schema([(name, _TYPES.get(name, pa.string())) for name in OUTPUT_COLUMNS])


def score_file(
    data: str | Path,
    out: str | Path,
    *,
    chunk_rows: int = 50_000,
    reasons: int = 3,
    triage: Triage | None = None,
    book: PolicyBook | None = None,
    settings: TriageSettings | None = None,
    progress: bool | None = None,
) -> dict[str, object]:
    """Score every case of ``data`` with the champions; write decisions to ``out``.

    ``reasons`` is the number of reasons per probability (0 leaves them out:
    LightGBM's contributions cost about ten times its prediction).  Each case
    is routed by its court's policy in ``book`` (default: the registry's
    policies, read once at the start, as a running service applies them;
    with a ``triage`` given, no policy unless ``book`` is given too).
    """
    from tqdm import tqdm

    from models import registry

    settings = settings or get_settings()
    out = Path(out)
    file_format(out)  # an unknown extension is refused before the models load
    if triage is None:
        from models.policy_store import read_book

        registry.configure_mlflow(settings)
        triage = Triage.from_registry(threads=settings.threads)
        book = read_book(settings) if book is None else book
        for refused in book.refused:  # as `triage serve` refuses it: the old policy applies
            print(f"policy tag {refused.key} refused: {refused.error}", file=sys.stderr)
    book = PolicyBook() if book is None else book
    if book.uses_review_per_day() and book.intake is None:
        # Only `triage serve` measures courts' intake: said here, not applied silently.
        print(
            "a court policy states its review capacity in cases per day: `triage score` "
            "measures no intake, so those courts are routed by their policy's max_review",
            file=sys.stderr,
        )
    router = CourtRouter(book, triage.stream)
    report = ValidationReport(source=str(data))
    started = time.monotonic()
    rows = 0
    show = sys.stderr.isatty() if progress is None else progress
    with (
        atomic_table_writer(out, OUTPUT_SCHEMA) as write,
        tqdm(unit=" cases", desc="scoring", disable=not show, file=sys.stderr) as bar,
    ):
        for frame, chunk_report in iter_cases(data, chunk_rows=chunk_rows):
            report.merge(chunk_report)
            if not report.ok:
                continue  # keep validating: the report lists every problem
            routing = router.routing(frame["court_id"].astype(str).tolist())
            decisions = triage.decide_frame(frame, reasons=reasons, routing=routing)
            write(pa.Table.from_pandas(decisions, schema=OUTPUT_SCHEMA, preserve_index=False))
            rows += len(frame)
            bar.update(len(frame))
        if not report.ok:
            raise CaseDataError(report)  # leaves no file, and the old one in place
    seconds = time.monotonic() - started
    return scoring_summary(triage, book, rows, seconds) | {"out": str(out)}


def scoring_summary(
    triage: Triage, book: PolicyBook, rows: int, seconds: float
) -> dict[str, object]:
    """What a scoring run reports, in one process or on a cluster: rows, speed, models, policies."""
    return {
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_second": rows / seconds if seconds else 0.0,
        "stream_model": f"{triage.stream.name} v{triage.stream.version}",
        "assets_model": f"{triage.assets.name} v{triage.assets.version}",
        "policies_set": len(book.scopes()),
    }
