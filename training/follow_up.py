"""`triage follow-up`: a file of terminated cases in, the follow-up list out.

The edges around :func:`models.follow_up.rank_follow_ups`: the file is read
and validated against the terminated-case record (refused whole, with row,
``case_id`` and field, on any problem; personal-data columns dropped on
entry), the two champions are loaded from the registry, and the list is
written atomically — a failure leaves no file and the old one in place.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa

from app.files import atomic_table_writer, file_format
from app.settings import TriageSettings, get_settings
from features.load import CaseDataError, read_cases
from features.terminated import TERMINATED_RECORD
from models.case_model import LoadedModel
from models.follow_up import LEGAL_INQUIRY_NOTICE, OUTPUT_COLUMNS, budget_count, rank_follow_ups

_TYPES = {
    "rank": pa.int64(),
    "expected_yuan": pa.float64(),
    "p_resume": pa.float64(),
    "expected_amount": pa.float64(),
    "unpaid_amount": pa.float64(),
}
#: Column types of the list (fixed, so an empty list is still a valid file); the notice
#: travels in a Parquet file's metadata too.
OUTPUT_SCHEMA = pa.schema(
    [(name, _TYPES.get(name, pa.string())) for name in OUTPUT_COLUMNS],
    metadata={"legal_inquiry": LEGAL_INQUIRY_NOTICE},
)


def follow_up_file(
    data: str | Path,
    out: str | Path,
    *,
    budget: str | int,
    court: str | None = None,
    reasons: int = 3,
    models: tuple[LoadedModel, LoadedModel] | None = None,
    settings: TriageSettings | None = None,
) -> dict[str, object]:
    """Rank the terminated cases of ``data`` (of ``court``, if given); write the top ``budget``.

    ``budget`` is a count (``300``) or a share of the inventory considered
    (``"5%"``).  ``models`` are the resume and recovery models (default: the
    registry's champions).  Returns a summary: cases considered, kept,
    expected yuan of the list, the model versions.
    """
    from models import registry

    settings = settings or get_settings()
    out = Path(out)
    file_format(out)  # an unknown extension is refused before anything is read
    frame, report = read_cases(data, contract=TERMINATED_RECORD)
    if not report.ok:
        raise CaseDataError(report)
    if court is not None:
        frame = frame[frame["court_id"].astype(str) == court].reset_index(drop=True)
    count = budget_count(budget, len(frame))
    if models is None:
        registry.configure_mlflow(settings)
        models = (
            registry.load_case_model(
                registry.model_name("resume", settings), threads=settings.threads
            ),
            registry.load_case_model(
                registry.model_name("recovery", settings), threads=settings.threads
            ),
        )
    resume, recovery = models
    started = time.monotonic()
    ranked = rank_follow_ups(
        frame,
        resume.model,
        recovery.model,
        count,
        versions=(resume.version, recovery.version),
        reasons=reasons,
    )
    with atomic_table_writer(out, OUTPUT_SCHEMA) as write:
        write(pa.Table.from_pandas(ranked, schema=OUTPUT_SCHEMA, preserve_index=False))
    return {
        "inventory": len(frame),
        "kept": len(ranked),
        "court": court,
        "expected_yuan": float(ranked["expected_yuan"].sum()) if len(ranked) else 0.0,
        "seconds": round(time.monotonic() - started, 3),
        "resume_model": f"{resume.name} v{resume.version}",
        "recovery_model": f"{recovery.name} v{recovery.version}",
        "out": str(out),
        "notice": LEGAL_INQUIRY_NOTICE,
    }
