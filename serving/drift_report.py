"""A drift report: the PSI and state of every feature and score, as data.

:class:`DriftReport` is what :class:`serving.drift.DriftMonitor` produces and
what ``triage drift`` prints (:meth:`DriftReport.summary_lines`), writes as
JSON (:meth:`DriftReport.to_json`) and as a self-contained HTML page
(:meth:`DriftReport.to_html`, rendered from a template by
:mod:`serving.drift_html`); the dashboard's drift panel shows its JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["SCORES", "STATES", "DriftReport", "DriftThresholds", "ItemDrift"]

#: The score each model gives, and what users read for it.
SCORES: Mapping[str, tuple[str, str, str]] = {
    "stream": ("p_complex", "难案概率", "probability of a complex case"),
    "assets": ("p_assets", "有可执行财产概率", "probability of recoverable assets"),
}
#: The states of a PSI, mildest first.
STATES = ("ok", "warn", "alert")


class DriftThresholds(BaseModel):
    """PSI from which a feature or score is worth a look (``warn``) or has moved (``alert``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warn: float = Field(0.1, gt=0, description="PSI from which the state is 'warn'.")
    alert: float = Field(0.25, gt=0, description="PSI from which the state is 'alert'.")

    @model_validator(mode="after")
    def _ordered(self) -> DriftThresholds:
        if self.alert <= self.warn:
            raise ValueError(f"alert ({self.alert}) must be above warn ({self.warn})")
        return self

    def state(self, psi: float) -> str:
        """``ok``, ``warn`` or ``alert`` for a PSI."""
        if psi >= self.alert:
            return "alert"
        if psi >= self.warn:
            return "warn"
        return "ok"


@dataclass(frozen=True)
class ItemDrift:
    """Drift of one feature or score: PSI, state, and both distributions bin by bin."""

    name: str
    kind: str  # "numeric", "categorical" or "score"
    psi: float
    state: str
    n: int  # live cases compared
    n_reference: int | None
    missing_now: float
    missing_then: float
    bins: tuple[str, ...]  # bin labels, the missing bin last
    reference: tuple[float, ...]  # shares per bin, summing to 1
    current: tuple[float, ...]
    models: tuple[str, ...]  # the models ("stream", "assets") whose profile this is
    zh: str
    en: str
    unseen: tuple[str, ...] = ()  # codes the reference never saw

    def to_dict(self) -> dict[str, object]:
        """The item as JSON-ready data (non-finite numbers as null)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "zh": self.zh,
            "en": self.en,
            "psi": _finite(self.psi),
            "state": self.state,
            "n": self.n,
            "n_reference": self.n_reference,
            "missing_now": _finite(self.missing_now),
            "missing_then": _finite(self.missing_then),
            "models": list(self.models),
            "unseen_codes": list(self.unseen),
            "bins": [
                {"bin": label, "reference": _finite(e), "current": _finite(a)}
                for label, e, a in zip(self.bins, self.reference, self.current, strict=True)
            ],
        }


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


@dataclass
class DriftReport:
    """Drift of every feature and score of the compared models over a window of decisions."""

    features: list[ItemDrift]  # sorted by PSI, highest first
    scores: list[ItemDrift]
    models: dict[str, dict[str, object]]  # kind -> name, version, alias, run, training window
    decided_by: dict[str, dict[str, int]]  # kind -> version -> decisions it made
    window: dict[str, str | None]  # since/until asked, first/last decision found
    n_cases: int
    thresholds: DriftThresholds
    generated_at: str

    def in_state(self, state: str) -> list[ItemDrift]:
        """Features and scores in ``state`` (``ok``, ``warn`` or ``alert``), highest PSI first."""
        items = [i for i in [*self.features, *self.scores] if i.state == state]
        return sorted(items, key=lambda i: -i.psi)

    @property
    def alerts(self) -> list[ItemDrift]:
        return self.in_state("alert")

    @property
    def warnings(self) -> list[ItemDrift]:
        return self.in_state("warn")

    def item(self, name: str) -> ItemDrift:
        """The (first) item of a feature or score name."""
        for candidate in [*self.features, *self.scores]:
            if candidate.name == name:
                return candidate
        raise KeyError(name)

    def to_dict(self) -> dict[str, object]:
        """The report as JSON-ready data (``triage drift --json``)."""
        return {
            "generated_at": self.generated_at,
            "window": self.window,
            "n_cases": self.n_cases,
            "thresholds": self.thresholds.model_dump(),
            "models": self.models,
            "decided_by": self.decided_by,
            "counts": {state: len(self.in_state(state)) for state in STATES},
            "alerts": [i.name for i in self.alerts],
            "warnings": [i.name for i in self.warnings],
            "scores": [i.to_dict() for i in self.scores],
            "features": [i.to_dict() for i in self.features],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, allow_nan=False)

    def to_html(self) -> str:
        """The report as one self-contained HTML page (see :mod:`serving.drift_html`)."""
        from serving.drift_html import render_html

        return render_html(self)

    def summary_lines(self) -> list[str]:
        """The few lines ``triage drift`` prints."""
        models = ", ".join(
            f"{m['name']} v{m['version']}" + (f" ({m['alias']})" if m.get("alias") else "")
            for m in self.models.values()
        )
        by = "; ".join(
            f"{kind} " + ", ".join(f"v{v}: {n}" for v, n in versions.items())
            for kind, versions in self.decided_by.items()
        )
        lines = [
            f"{self.n_cases} decisions "
            f"({self.window.get('first') or '?'} … {self.window.get('last') or '?'}) "
            f"against {models}",
        ]
        if by:
            lines.append(f"decided by {by}")
        t = self.thresholds
        for title, items in (
            (f"alert (PSI ≥ {t.alert:g})", self.alerts),
            (f"warn (PSI ≥ {t.warn:g})", self.warnings),
        ):
            listed = ", ".join(f"{i.name} {i.psi:.2f}" for i in items) or "none"
            lines.append(f"{title}: {listed}")
        lines.append("scores: " + ", ".join(f"{i.name} {i.psi:.3f} {i.state}" for i in self.scores))
        return lines
