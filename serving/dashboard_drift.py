"""The dashboard's drift panel: PSI and state of each feature and score, as ``triage drift`` has it.

The latest :data:`DRIFT_SAMPLE` decisions of the selection go through
:func:`serving.drift.monitor_decisions` against the served champions'
reference profiles, the same computation as ``triage drift``; the panel
keeps each item's PSI and state and leaves the bins out.  It rebuilds the
features of thousands of cases, so the app caches it for minutes.
"""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

from serving import stats
from serving.dashboard_source import StatsSource
from serving.stats import Filters

#: How many of the latest decisions of a selection drift reads.
DRIFT_SAMPLE = 10_000
#: Decisions handed to the monitor at a time.
_CHUNK = 2_000
#: What the panel keeps of each item of the report.
_ITEM_KEYS = ("name", "zh", "en", "kind", "psi", "state", "models")


def drift_report(source: StatsSource, filters: Filters) -> dict[str, t.Any]:
    """The drift panel's report: PSI and state per feature and score (bins left out).

    Without models, decisions or reference profiles the report says why in
    ``reason`` (``available`` false) instead of failing.
    """
    # Imported here: the drift monitor pulls in pandas and the feature code, which
    # importing the service (in every BentoML process) need not.
    from serving.drift import DriftThresholds, monitor_decisions

    thresholds = DriftThresholds()
    empty: dict[str, t.Any] = {
        "available": False,
        "generated_at": None,
        "n_cases": 0,
        "sample_limit": DRIFT_SAMPLE,
        "window": {},
        "thresholds": thresholds.model_dump(),
        "counts": {},
        "scores": [],
        "features": [],
    }
    if not source.models:
        return {**empty, "reason": "no models to compare with"}
    with source.engine.connect() as connection:
        rows = stats.latest_decisions(connection, filters, DRIFT_SAMPLE)
    if not rows:
        return {**empty, "reason": "no decisions in the selection"}
    chunks = (rows[start : start + _CHUNK] for start in range(0, len(rows), _CHUNK))
    try:
        # The report as JSON-ready data, of the shape `triage drift --json` prints.
        report: Mapping[str, t.Any] = monitor_decisions(
            chunks, source.models, thresholds=thresholds
        ).to_dict()
    except ValueError as error:  # e.g. a model trained before drift monitoring: no profile
        return {**empty, "reason": str(error)}
    return {
        **empty,
        "available": True,
        "reason": None,
        "generated_at": report["generated_at"],
        "n_cases": report["n_cases"],
        "window": {k: report["window"].get(k) for k in ("first", "last")},
        "counts": report["counts"],
        "scores": [_item(entry) for entry in report["scores"]],
        "features": [_item(entry) for entry in report["features"]],
    }


def _item(entry: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """One feature's or score's entry of the panel."""
    return {key: entry[key] for key in _ITEM_KEYS}
