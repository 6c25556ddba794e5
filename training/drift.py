"""Drift: how far live cases have moved from what a model version learned.

At training each model version stores a *reference profile* in its metadata
(:func:`build_reference_profile`, called by ``training.train.reference_profile``):
for every model feature the share of training cases in each bin, and for the
model's score the share of test cases in each probability band.  Monitoring
counts recent cases into the same bins and compares the two distributions
with the **population stability index**

    PSI = Σ_b (a_b − e_b) · ln(a_b / e_b),

``e_b`` the reference share of bin ``b`` and ``a_b`` the current one; shares
below :data:`EPSILON` are raised to it, so that a bin empty on one side costs
a finite amount instead of infinity.  Conventional reading (and the defaults
of :class:`DriftThresholds`): below 0.1 stable, 0.1–0.25 worth a look, from
0.25 the population has moved.

Bins
----
* numeric features: the deciles of the training values are the cut points
  ``c_0 < … < c_k`` (ties merged, so a flag has two cut points and a count a
  few); the bins are ``(−∞, c_0], (c_0, c_1], …, (c_k, ∞)``.  The first bin
  holds the training minimum — the zeros of a zero-inflated amount, the
  ``0`` of a flag — and the last one values *above* anything seen in
  training, which is where a jump in claim sizes shows first;
* coded fields (province, cause …): one bin per code of the model's
  vocabulary, plus one bin per code the reference never saw;
* the score: ten bands of width 0.1;
* every profile has one more bin for *missing* (a field left empty, or an
  inquiry feature before the first network inquiry answered), so a change in
  what is filled in is drift too.

Live cases go through the model's own feature builder, so a feature means
the same thing in the profile and in the comparison.  Coded fields are
compared on the codes themselves (the builder turns a code it never learned
into missing; here it keeps its name).  The scores are the probabilities the
*compared* model gives the live cases, recomputed from their features: a
score profile describes one model version, and the log may hold decisions of
earlier versions (the report says which versions made them).

Everything here is computation on frames and dicts; reading the decision log
and the registry is the ``triage drift`` command's job (``training.cli``).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.builder import FEATURE_LABELS, CaseFeatureBuilder
from features.record import FEATURE_FIELDS, FIELD_BY_NAME, Kind, code_label
from training.registry import LoadedModel

__all__ = [
    "EPSILON",
    "PROFILE_QUANTILES",
    "SCORES",
    "SCORE_CUTS",
    "SCORE_KEY",
    "STATES",
    "DriftMonitor",
    "DriftReport",
    "DriftThresholds",
    "ItemDrift",
    "build_reference_profile",
    "decisions_frame",
    "drift_report",
    "monitor_decisions",
    "population_stability_index",
    "render_html",
]

#: Floor of a bin's share in the PSI: an empty bin on one side costs a finite amount.
EPSILON = 1e-4
#: Where the cut points of a numeric feature's bins come from: the training deciles.
PROFILE_QUANTILES: tuple[float, ...] = tuple(i / 10 for i in range(11))
#: Cut points of the score bands (width 0.1).
SCORE_CUTS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 10))
#: The score each model gives, and what users read for it.
SCORES: Mapping[str, tuple[str, str, str]] = {
    "stream": ("p_complex", "难案概率", "probability of a complex case"),
    "assets": ("p_assets", "有可执行财产概率", "probability of recoverable assets"),
}
#: The states of a PSI, mildest first.
STATES = ("ok", "warn", "alert")
#: The profile's key of the score entry.
SCORE_KEY = "__score__"
_MISSING = "(missing)"
#: How numeric entries are cut: bins (e_i-1, e_i], open at both ends (said in each entry).
_RIGHT_CLOSED = "right"
#: Decision-log identity columns kept in the case frame of :func:`decisions_frame`.
_IDENTITY = ("case_id", "court_id", "filing_date")


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


# --------------------------------------------------------------------------
# The index
# --------------------------------------------------------------------------


def population_stability_index(
    expected: Sequence[float], actual: Sequence[float], epsilon: float = EPSILON
) -> float:
    """PSI of two distributions over the same bins (shares, each summing to 1).

    Shares below ``epsilon`` count as ``epsilon``; a bin empty on both sides
    adds nothing.
    """
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape:
        raise ValueError(f"the distributions have {e.size} and {a.size} bins")
    e = np.maximum(e, epsilon)
    a = np.maximum(a, epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


# --------------------------------------------------------------------------
# Bins of numeric features and scores
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bins:
    """The bins of a numeric profile entry (the missing bin not included)."""

    edges: np.ndarray

    @classmethod
    def of(cls, entry: Mapping[str, object]) -> _Bins:
        return cls(np.asarray(entry.get("edges", ()), dtype=np.float64))

    @property
    def size(self) -> int:
        return len(self.edges) + 1

    def index(self, known: np.ndarray) -> np.ndarray:
        """Bin of each (non-missing) value."""
        return np.searchsorted(self.edges, known, side="left")

    def counts(self, values: np.ndarray) -> np.ndarray:
        """Cases per bin, the missing ones in one more bin at the end."""
        values = np.asarray(values, dtype=np.float64)
        missing = np.isnan(values)
        known = values[~missing]
        counts = np.bincount(self.index(known), minlength=self.size).astype(np.int64)
        return np.append(counts, int(missing.sum()))

    def labels(self, show) -> list[str]:
        e = [show(x) for x in self.edges]
        if not e:
            return ["all"]
        middle = [f"{lo}–{hi}" for lo, hi in zip(e[:-1], e[1:], strict=True)]
        return [f"≤ {e[0]}", *middle, f"> {e[-1]}"]


def _numeric_entry(values: np.ndarray, cuts: Sequence[float] | None = None) -> dict:
    """Profile entry of a numeric feature (cut at its deciles) or of a score (fixed cuts)."""
    values = np.asarray(values, dtype=np.float64)
    known = values[~np.isnan(values)]
    if cuts is None:
        # Cut at values that occur (no interpolation): a flag cuts at 0 and 1, not at 0.6.
        cuts = (
            np.unique(np.quantile(known, PROFILE_QUANTILES, method="inverted_cdf"))
            if len(known)
            else []
        )
    bins = _Bins(np.asarray(cuts, dtype=np.float64))
    counts = bins.counts(values)
    n = max(len(values), 1)
    return {
        "kind": "numeric",
        "closed": _RIGHT_CLOSED,
        "edges": [float(x) for x in cuts],
        "shares": (counts[:-1] / n).tolist(),
        "missing": float(counts[-1] / n),
        "n": int(len(values)),
    }


def _categorical_entry(values: np.ndarray, vocabulary: Sequence[str]) -> dict:
    """Profile entry of a coded feature: share of each learned code (by index and by name)."""
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    found, counts = np.unique(values[~missing], return_counts=True)
    n = max(len(values), 1)
    return {
        "kind": "categorical",
        "values": found.tolist(),
        "codes": [vocabulary[int(v)] for v in found],
        "shares": (counts / n).tolist(),
        "missing": float(missing.mean()) if len(values) else 0.0,
        "n": int(len(values)),
    }


def build_reference_profile(
    feature_names: Sequence[str],
    builder: CaseFeatureBuilder,
    X_train: np.ndarray,
    p_test: np.ndarray,
) -> dict[str, dict[str, object]]:
    """The reference profile of a model version: its training features and test scores.

    Shares are of *all* cases of the sample, so an entry's shares and its
    ``missing`` add up to 1.  ``p_test`` (scores of the out-of-time test split)
    rather than training scores: a model scores its own training cases more
    confidently than any new case.
    """
    profile: dict[str, dict[str, object]] = {}
    categorical = set(builder.categorical_features_)
    for index, name in enumerate(feature_names):
        column = X_train[:, index]
        if index in categorical:
            profile[name] = _categorical_entry(column, builder.categories_[name])
        else:
            profile[name] = _numeric_entry(column)
    profile[SCORE_KEY] = _numeric_entry(np.asarray(p_test, dtype=np.float64), SCORE_CUTS) | {
        "kind": "score"
    }
    return profile


# --------------------------------------------------------------------------
# From the decision log to cases
# --------------------------------------------------------------------------


def decisions_frame(rows: Sequence[Mapping[str, object]]) -> pd.DataFrame:
    """The canonical case frame of decision-log rows, for the feature builder.

    Feature fields come from each row's ``case_features`` JSON (every
    contract feature field, an absent or ``null`` one missing), identity
    fields from the row's own columns; dtypes are those of
    :mod:`features.load` (codes ``str`` with NaN, numbers and flags float64).
    """
    records = [json.loads(str(row["case_features"])) for row in rows]
    columns: dict[str, pd.Series] = {}
    for name in _IDENTITY:
        values = [row.get(name) for row in rows]
        if name == "filing_date":
            columns[name] = pd.Series(pd.to_datetime(values, errors="coerce")).astype(
                "datetime64[ns]"
            )
        else:
            columns[name] = pd.Series(values, dtype="str")
    for spec in FEATURE_FIELDS:
        values = [record.get(spec.name) for record in records]
        if spec.kind is Kind.CODE:
            columns[spec.name] = pd.Series(values, dtype="str")
        else:
            # float64 turns null into NaN and true/false into 1.0/0.0.
            columns[spec.name] = pd.Series(np.array(values, dtype=np.float64))
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))


# --------------------------------------------------------------------------
# Counting live cases into the reference bins
# --------------------------------------------------------------------------


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


@dataclass
class _Track:
    """The running counts of one feature (or score) against one reference entry."""

    name: str
    kind: str
    entry: Mapping[str, object]
    models: list[str]
    group: int  # which feature matrix (models with one vocabulary share one)
    column: int  # its column there (-1: the score)
    counts: np.ndarray | None = None  # numeric and score: per bin, missing last
    codes: Counter = field(default_factory=Counter)  # categorical: per code
    missing: int = 0  # categorical
    n: int = 0


class DriftMonitor:
    """Counts live cases into the bins of the models' reference profiles, chunk by chunk.

    Memory stays flat however many decisions are read: only counts are kept.

    Parameters
    ----------
    models : mapping of ``"stream"``/``"assets"`` to :class:`~training.registry.LoadedModel`
        The model versions to compare against (usually the champions); each
        needs ``reference_profile`` in its metadata.
    thresholds : DriftThresholds, optional
    """

    def __init__(
        self, models: Mapping[str, LoadedModel], thresholds: DriftThresholds | None = None
    ) -> None:
        if not models:
            raise ValueError("no models to compare against")
        self.models = dict(models)
        self.thresholds = thresholds or DriftThresholds()
        for kind, loaded in self.models.items():
            if kind not in SCORES:
                raise ValueError(f"model kind must be one of {sorted(SCORES)}, got {kind!r}")
            if not isinstance(loaded.model.metadata.get("reference_profile"), Mapping):
                raise ValueError(
                    f"{loaded.name} version {loaded.version} carries no reference profile: "
                    "it was trained before drift monitoring; retrain to monitor it"
                )
        # Models of one training run share the vocabulary: build features once for them.
        self._groups: list[CaseFeatureBuilder] = []
        self._group_of: dict[str, int] = {}
        for kind, loaded in self.models.items():
            builder = loaded.model.builder
            for i, other in enumerate(self._groups):
                if other.categories_ == builder.categories_:
                    self._group_of[kind] = i
                    break
            else:
                self._group_of[kind] = len(self._groups)
                self._groups.append(builder)
        self._features: list[_Track] = []
        self._scores: list[_Track] = []
        for kind, loaded in self.models.items():
            self._add_tracks(kind, loaded)
        self.n = 0
        self.decided_by: dict[str, Counter] = {kind: Counter() for kind in SCORES}
        self.first: str | None = None
        self.last: str | None = None

    def _add_tracks(self, kind: str, loaded: LoadedModel) -> None:
        profile = loaded.model.metadata["reference_profile"]
        group = self._group_of[kind]
        for column, name in enumerate(loaded.model.feature_names):
            entry = profile.get(name)
            if not isinstance(entry, Mapping):
                continue
            for track in self._features:
                # The same feature with the same reference: one row for both models.
                if track.name == name and track.group == group and track.entry == entry:
                    track.models.append(kind)
                    break
            else:
                self._features.append(
                    self._new_track(name, str(entry.get("kind")), entry, kind, group, column)
                )
        score = profile.get(SCORE_KEY)
        if isinstance(score, Mapping):
            self._scores.append(self._new_track(SCORES[kind][0], "score", score, kind, group, -1))

    @staticmethod
    def _new_track(name, kind, entry, model_kind, group, column) -> _Track:
        track = _Track(name, kind, entry, [model_kind], group, column)
        if kind != "categorical":
            track.counts = np.zeros(_Bins.of(entry).size + 1, dtype=np.int64)
        return track

    # --- adding cases ------------------------------------------------------------------------

    def add_cases(self, frame: pd.DataFrame) -> None:
        """Count the cases of a canonical frame (see :mod:`features.load`)."""
        if len(frame) == 0:
            return
        matrices = [builder.transform(frame) for builder in self._groups]
        for track in self._features:
            if track.kind == "categorical":
                codes = frame[track.name] if track.name in frame.columns else None
                if codes is None:
                    track.missing += len(frame)
                else:
                    missing = int(codes.isna().sum())
                    track.missing += missing
                    track.codes.update(codes.dropna().astype(str).tolist())
            else:
                column = matrices[track.group][:, track.column]
                track.counts += _Bins.of(track.entry).counts(column)
            track.n += len(frame)
        for track in self._scores:
            (kind,) = track.models
            model = self.models[kind].model
            p = model.predict_features(matrices[track.group], reasons=0).probability
            track.counts += _Bins.of(track.entry).counts(p)
            track.n += len(frame)
        self.n += len(frame)

    def add_decisions(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Count decision-log rows: their cases, and which model versions decided them."""
        if not rows:
            return
        self.add_cases(decisions_frame(rows))
        for kind in SCORES:
            column = f"{kind}_model_version"
            self.decided_by[kind].update(str(row.get(column)) for row in rows)
        times = sorted(str(row["decided_at"]) for row in rows if row.get("decided_at"))
        if times:
            self.first = times[0] if self.first is None else min(self.first, times[0])
            self.last = times[-1] if self.last is None else max(self.last, times[-1])

    # --- the result --------------------------------------------------------------------------

    def report(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        generated_at: str | None = None,
    ) -> DriftReport:
        """The drift of everything counted so far; raises ``ValueError`` before any case."""
        if self.n == 0:
            raise ValueError("no cases to compare: the window holds no decisions")
        features = sorted(
            (self._item(track) for track in self._features), key=lambda i: (-i.psi, i.name)
        )
        scores = [self._item(track) for track in self._scores]
        models = {kind: _model_summary(loaded) for kind, loaded in self.models.items()}
        decided_by = {
            kind: dict(sorted(counter.items(), key=lambda kv: _version_key(kv[0])))
            for kind, counter in self.decided_by.items()
            if counter
        }
        return DriftReport(
            features=features,
            scores=scores,
            models=models,
            decided_by=decided_by,
            window={"since": since, "until": until, "first": self.first, "last": self.last},
            n_cases=self.n,
            thresholds=self.thresholds,
            generated_at=generated_at
            or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        )

    def _item(self, track: _Track) -> ItemDrift:
        entry = track.entry
        n_reference = entry.get("n")
        missing_then = float(entry.get("missing", 0.0))
        unseen: tuple[str, ...] = ()
        if track.kind == "categorical":
            labels, reference, current, unseen = _categorical_distributions(track)
        else:
            bins = _Bins.of(entry)
            shares = [float(s) for s in entry.get("shares", ())]
            reference = np.array([*shares, missing_then])
            current = track.counts / max(track.n, 1)
            labels = [*bins.labels(_shower(track.name)), _MISSING]
        reference = _normalised(reference)
        current = _normalised(current)
        psi = population_stability_index(reference, current)
        if track.kind == "score":
            zh, en = _score_labels(track.name)
        else:
            zh, en = FEATURE_LABELS.get(track.name, (track.name, track.name))
        return ItemDrift(
            name=track.name,
            kind=track.kind,
            psi=psi,
            state=self.thresholds.state(psi),
            n=track.n,
            n_reference=int(n_reference) if isinstance(n_reference, int | float) else None,
            missing_now=float(current[-1]),
            missing_then=missing_then,
            bins=tuple(labels),
            reference=tuple(float(x) for x in reference),
            current=tuple(float(x) for x in current),
            models=tuple(track.models),
            zh=zh,
            en=en,
            unseen=unseen,
        )


def _categorical_distributions(track: _Track):
    """Labels, reference and current shares of a coded feature; codes the reference lacks."""
    entry = track.entry
    codes = [str(c) for c in entry.get("codes", ())]
    shares = [float(s) for s in entry.get("shares", ())]
    contract = FIELD_BY_NAME[track.name].code_values if track.name in FIELD_BY_NAME else ()
    known = set(codes)
    unseen = sorted(
        (c for c in track.codes if c not in known),
        key=lambda c: (contract.index(c) if c in contract else len(contract), c),
    )
    order = [*codes, *unseen]
    n = max(track.n, 1)
    reference = np.array([*shares, *([0.0] * len(unseen)), float(entry.get("missing", 0.0))])
    current = np.array([track.codes.get(c, 0) / n for c in order] + [track.missing / n])
    labels = [_code_text(track.name, c) for c in order] + [_MISSING]
    return labels, reference, current, tuple(unseen)


def _normalised(shares: np.ndarray) -> np.ndarray:
    shares = np.asarray(shares, dtype=np.float64)
    total = shares.sum()
    return shares / total if total > 0 else shares


def _code_text(field_name: str, code: str) -> str:
    if field_name in FIELD_BY_NAME:
        zh = code_label(field_name, code, "zh")
        if zh != code:
            return f"{code} {zh}"
    return code


def _score_labels(name: str) -> tuple[str, str]:
    for score, zh, en in SCORES.values():
        if score == name:
            return zh, en
    return name, name


def _shower(feature: str):
    """How a bin's cut point reads: log1p features back in CNY or as a ratio."""
    if feature.endswith("_log"):
        return lambda x: _number(math.expm1(x))
    return _number


def _number(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    size = abs(x)
    if size >= 1e6:
        return f"{x / 1e6:.3g}M"
    if size >= 1e4:
        return f"{x / 1e3:.3g}k"
    if x == round(x):
        return str(int(round(x)))
    return f"{x:.3g}"


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 62, version)


def _model_summary(loaded: LoadedModel) -> dict[str, object]:
    metadata = loaded.model.metadata
    return {
        "name": loaded.name,
        "version": str(loaded.version),
        "alias": loaded.alias,
        "run_id": metadata.get("run_id"),
        "trained_at": metadata.get("trained_at"),
        "training_window": metadata.get("training_window"),
    }


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------


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
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, allow_nan=False)

    def to_html(self) -> str:
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


def drift_report(
    models: Mapping[str, LoadedModel],
    cases: pd.DataFrame,
    *,
    thresholds: DriftThresholds | None = None,
    since: str | None = None,
    until: str | None = None,
) -> DriftReport:
    """Drift of a canonical case frame against the models' reference profiles (one call)."""
    monitor = DriftMonitor(models, thresholds)
    monitor.add_cases(cases)
    return monitor.report(since=since, until=until)


def monitor_decisions(
    chunks: Iterable[Sequence[Mapping[str, object]]],
    models: Mapping[str, LoadedModel],
    *,
    thresholds: DriftThresholds | None = None,
    since: str | None = None,
    until: str | None = None,
) -> DriftReport:
    """Drift of decision-log rows (e.g. ``DecisionLog.rows(since=…)``), read chunk by chunk."""
    monitor = DriftMonitor(models, thresholds)
    for chunk in chunks:
        monitor.add_decisions(chunk)
    return monitor.report(since=since, until=until)


# --------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------

_STATE_TEXT = {"ok": ("正常", "ok"), "warn": ("注意", "warn"), "alert": ("警报", "alert")}
_KIND_TEXT = {"stream": ("繁简分流", "stream"), "assets": ("可执行财产", "assets")}

_CSS = """
:root { --ok:#1b5e20; --ok-bg:#e6f4ea; --warn:#7a4f00; --warn-bg:#fff3d6;
  --alert:#b3261e; --alert-bg:#fde7e6; --ref:#9aa0a6; --cur:#1a73e8; --line:#dadce0; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "PingFang SC", "Noto Sans CJK SC",
  "Microsoft YaHei", "Segoe UI", sans-serif; margin: 0 auto; max-width: 1180px;
  padding: 24px; color: #202124; background: #fff; line-height: 1.45; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.en { color: #5f6368; font-weight: normal; }
.meta { color: #3c4043; margin: 4px 0; }
.cards { display: flex; gap: 12px; margin: 16px 0; flex-wrap: wrap; }
.card { border-radius: 8px; padding: 10px 16px; min-width: 150px; }
.card b { font-size: 1.6rem; display: block; }
table { border-collapse: collapse; width: 100%; font-size: 0.92rem; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: middle; }
th { background: #f8f9fa; font-weight: 600; }
td.nowrap { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.state { display: inline-block; border-radius: 10px; padding: 1px 10px; font-weight: 600; white-space: nowrap; }
.ok { color: var(--ok); background: var(--ok-bg); }
.warn { color: var(--warn); background: var(--warn-bg); }
.alert { color: var(--alert); background: var(--alert-bg); }
tr.row-alert td:first-child { border-left: 4px solid var(--alert); }
tr.row-warn td:first-child { border-left: 4px solid #f9ab00; }
tr.row-alert { background: #fffafa; }
.name { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.8rem; color: #5f6368; }
.swatch { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; vertical-align: middle; }
svg { display: block; }
footer { margin-top: 28px; color: #5f6368; font-size: 0.85rem; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(moment: object, empty: str = "–") -> str:
    """``2025-03-10 09:00 UTC`` of an ISO-8601 time (the text itself when it is none)."""
    if not moment:
        return empty
    try:
        parsed = dt.datetime.fromisoformat(str(moment).replace("Z", "+00:00"))
    except ValueError:
        return str(moment)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC)
    return parsed.strftime("%Y-%m-%d %H:%M") + (" UTC" if parsed.tzinfo else "")


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _state_badge(state: str) -> str:
    zh, en = _STATE_TEXT[state]
    return f'<span class="state {state}">{zh} {en}</span>'


def _bars(item: ItemDrift, width_per_bin: int = 12, height: int = 44) -> str:
    """Reference (grey) and current (blue) share of each bin, side by side, as inline SVG."""
    top = max(max(item.reference, default=0.0), max(item.current, default=0.0), 1e-9)
    width = width_per_bin * len(item.bins) + 2
    bar = (width_per_bin - 2) / 2
    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_e(item.en)}">'
    ]
    for i, (label, e, a) in enumerate(zip(item.bins, item.reference, item.current, strict=True)):
        x = 1 + i * width_per_bin
        he, ha = (height - 2) * e / top, (height - 2) * a / top
        parts.append(
            f"<g><title>{_e(label)}: 训练 reference {_pct(e)} → 现在 now {_pct(a)}</title>"
            f'<rect x="{x:.1f}" y="{height - 1 - he:.1f}" width="{bar:.1f}" '
            f'height="{he:.1f}" fill="var(--ref)"/>'
            f'<rect x="{x + bar:.1f}" y="{height - 1 - ha:.1f}" width="{bar:.1f}" '
            f'height="{ha:.1f}" fill="var(--cur)"/></g>'
        )
    # A dotted line sets the missing bin (always the last) apart from the values.
    split = 1 + (len(item.bins) - 1) * width_per_bin - 1
    parts.append(
        f'<line x1="{split}" y1="0" x2="{split}" y2="{height}" stroke="#bdc1c6" '
        'stroke-dasharray="2,2"/>'
        f'<line x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}" stroke="#bdc1c6"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _models_of(item: ItemDrift) -> str:
    if len(item.models) == len(_KIND_TEXT):
        return "两个模型 both"
    return " · ".join(f"{_KIND_TEXT[k][0]} {_KIND_TEXT[k][1]}" for k in item.models)


def _item_rows(items: Sequence[ItemDrift]) -> str:
    rows = []
    for item in items:
        unseen = (
            f'<div class="name">未见过的代码 unseen codes: {_e(", ".join(item.unseen))}</div>'
            if item.unseen
            else ""
        )
        rows.append(
            f'<tr class="row-{item.state}">'
            f'<td><div>{_e(item.zh)}</div><div class="en">{_e(item.en)}</div>'
            f'<div class="name">{_e(item.name)}</div>{unseen}</td>'
            f'<td class="num"><b>{item.psi:.3f}</b></td>'
            f"<td>{_state_badge(item.state)}</td>"
            f'<td class="num">{_pct(item.missing_then)} → {_pct(item.missing_now)}</td>'
            f'<td class="num">{item.n:,}</td>'
            f"<td>{_bars(item)}</td>"
            f'<td class="nowrap">{_e(_models_of(item))}</td>'
            "</tr>"
        )
    return "\n".join(rows)


_ITEM_HEADER = (
    "<tr><th>名称 <span class='en'>Name</span></th><th>PSI</th>"
    "<th>状态 <span class='en'>State</span></th>"
    "<th>缺失 训练→现在 <span class='en'>Missing then → now</span></th>"
    "<th>案件数 <span class='en'>Cases</span></th>"
    "<th>分布 <span class='en'>Distribution</span></th>"
    "<th>模型 <span class='en'>Model</span></th></tr>"
)


def render_html(report: DriftReport) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG; no scripts, no links)."""
    t = report.thresholds
    window = report.window
    asked = f"{_when(window.get('since'), '…')} – {_when(window.get('until'), '…')}"
    found = f"{_when(window.get('first'))} – {_when(window.get('last'))}"
    cards = "".join(
        f'<div class="card {state}"><b>{len(report.in_state(state))}</b>'
        f"{_STATE_TEXT[state][0]} <span>{_STATE_TEXT[state][1]}</span></div>"
        for state in reversed(STATES)
    )
    model_rows = []
    for kind, model in report.models.items():
        zh, en = _KIND_TEXT.get(kind, (kind, kind))
        versions = report.decided_by.get(kind, {})
        made = ", ".join(f"v{_e(v)}: {n:,}" for v, n in versions.items()) or "–"
        if set(versions) - {str(model["version"])}:
            made += (
                f'<div class="name">分数按 v{_e(model["version"])} 重新计算 '
                f"scores recomputed with v{_e(model['version'])}</div>"
            )
        training = model.get("training_window") or {}
        train_window = " – ".join(training.get("train", [])) if isinstance(training, dict) else ""
        model_rows.append(
            f"<tr><td>{zh} <span class='en'>{en}</span></td><td>{_e(model['name'])}</td>"
            f"<td>v{_e(model['version'])}</td><td>{_e(model.get('alias') or '–')}</td>"
            f"<td>{_e(_when(model.get('trained_at')))}</td><td>{_e(train_window or '–')}</td>"
            f"<td>{made}</td></tr>"
        )
    return f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>数据漂移报告 Drift report · {_e(found)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>数据漂移报告 <span class="en">Drift report</span></h1>
<p class="meta">近期案件与模型训练数据的差异（群体稳定性指数 PSI）
<span class="en">— how far recent cases have moved from the data the models learned
(population stability index)</span></p>
<p class="meta">决定 <span class="en">Decisions</span>: <b>{report.n_cases:,}</b> ·
查询区间 <span class="en">window asked</span>: {_e(asked)} ·
实际 <span class="en">found</span>: {_e(found)} ·
生成 <span class="en">generated</span>: {_e(_when(report.generated_at))}</p>
</header>
<div class="cards">{cards}</div>
<p class="meta">阈值 <span class="en">Thresholds</span>:
注意 <span class="en">warn</span> PSI ≥ {t.warn:g} · 警报 <span class="en">alert</span> PSI ≥ {t.alert:g}
<i class="swatch" style="background:var(--ref)"></i>训练 <span class="en">reference</span>
<i class="swatch" style="background:var(--cur)"></i>现在 <span class="en">now</span>
（缺失在最右 <span class="en">missing is the last bar</span>）</p>

<h2>模型 <span class="en">Models compared</span></h2>
<table>
<tr><th>模型 <span class='en'>Model</span></th><th>名称 <span class='en'>Name</span></th>
<th>版本 <span class='en'>Version</span></th><th>别名 <span class='en'>Alias</span></th>
<th>训练时间 <span class='en'>Trained</span></th><th>训练数据 <span class='en'>Training window</span></th>
<th>作出决定的版本 <span class='en'>Decisions made by</span></th></tr>
{"".join(model_rows)}
</table>

<h2>分数 <span class="en">Scores</span></h2>
<table>
{_ITEM_HEADER}
{_item_rows(report.scores)}
</table>

<h2>特征（按 PSI 排序） <span class="en">Features, by PSI</span></h2>
<table>
{_ITEM_HEADER}
{_item_rows(report.features)}
</table>

<footer>
<p>PSI = Σ (现在 − 训练) · ln(现在 ÷ 训练)，各区间份额下限 {EPSILON:g}；缺失单独成一个区间。
数值特征按训练数据的十分位切分，最后一个区间是高于训练最大值的部分；分数由被比较的模型对近期案件重新计算。</p>
<p class="en">PSI = Σ (now − reference) · ln(now ÷ reference), each share floored at {EPSILON:g};
missing values are a bin of their own. Numeric features are cut at the training deciles, the last
bin holding values above anything seen in training; scores are recomputed by the compared model on
the recent cases.</p>
</footer>
</body>
</html>
"""
