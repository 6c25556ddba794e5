"""Drift: how far live cases have moved from what a model version learned.

Each model version carries a *reference profile* (:mod:`models.profile`,
built at training time): for every model feature the share of training cases
in each bin, and for the model's score the share of test cases in each
probability band.  Monitoring counts recent cases into the same bins and
compares the two distributions with the **population stability index**

    PSI = Σ_b (a_b − e_b) · ln(a_b / e_b),

``e_b`` the reference share of bin ``b`` and ``a_b`` the current one; shares
below :data:`EPSILON` are raised to it, so that a bin empty on one side costs
a finite amount instead of infinity.  Conventional reading (and the defaults
of :class:`DriftThresholds`): below 0.1 stable, 0.1–0.25 worth a look, from
0.25 the population has moved.

Live cases go through the model's own feature builder, so a feature means
the same thing in the profile and in the comparison.  Coded fields are
compared on the codes themselves (the builder turns a code it never learned
into missing; here it keeps its name, in a bin of its own).  The scores are
the probabilities the *compared* model gives the live cases, recomputed from
their features: a score profile describes one model version, and the log
may hold decisions of earlier versions (the report says which versions made
them).

Everything here is computation on frames and rows; reading the decision log
is the caller's (``triage drift``, the dashboard's drift panel).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.builder import FEATURE_LABELS, CaseFeatureBuilder
from features.record import FEATURE_FIELDS, FIELD_BY_NAME, Kind, code_label
from models.case_model import LoadedModel
from models.profile import SCORE_KEY, CodeProfile, NumericProfile, ProfileEntry
from serving.drift_report import SCORES, DriftReport, DriftThresholds, ItemDrift

__all__ = [
    "EPSILON",
    "DriftMonitor",
    "DriftThresholds",
    "decisions_frame",
    "drift_report",
    "monitor_decisions",
    "population_stability_index",
]

#: Floor of a bin's share in the PSI: an empty bin on one side costs a finite amount.
EPSILON = 1e-4
_MISSING = "(missing)"
#: Decision-log identity columns kept in the case frame of :func:`decisions_frame`.
_IDENTITY = ("case_id", "court_id", "filing_date")


def population_stability_index(
    expected: Sequence[float] | np.ndarray,
    actual: Sequence[float] | np.ndarray,
    epsilon: float = EPSILON,
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


@dataclass
class _Track:
    """The running counts of one feature (or score) against one reference entry."""

    name: str
    entry: ProfileEntry
    models: list[str]
    group: int  # which feature matrix (models with one vocabulary share one)
    column: int  # its column there (-1: the score)
    counts: np.ndarray | None = None  # numeric and score: per bin, missing last
    codes: Counter[str] = field(default_factory=Counter)  # categorical: per code
    missing: int = 0  # categorical
    n: int = 0

    @property
    def kind(self) -> str:
        return self.entry.kind


class DriftMonitor:
    """Counts live cases into the bins of the models' reference profiles, chunk by chunk.

    Memory stays flat however many decisions are read: only counts are kept.

    Parameters
    ----------
    models : mapping of ``"stream"``/``"assets"`` to :class:`~models.case_model.LoadedModel`
        The model versions to compare against (usually the champions); each
        needs a reference profile in its metadata.
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
            if loaded.model.metadata.reference_profile is None:
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
        self.decided_by: dict[str, Counter[str]] = {kind: Counter() for kind in SCORES}
        self.first: str | None = None
        self.last: str | None = None

    def _add_tracks(self, kind: str, loaded: LoadedModel) -> None:
        profile = loaded.model.metadata.reference_profile or {}
        group = self._group_of[kind]
        for column, name in enumerate(loaded.model.feature_names):
            entry = profile.get(name)
            if entry is None:
                continue
            for track in self._features:
                # The same feature with the same reference: one row for both models.
                if track.name == name and track.group == group and track.entry == entry:
                    track.models.append(kind)
                    break
            else:
                self._features.append(_new_track(name, entry, kind, group, column))
        score = profile.get(SCORE_KEY)
        if score is not None:
            self._scores.append(_new_track(SCORES[kind][0], score, kind, group, -1))

    # --- adding cases ------------------------------------------------------------------------

    def add_cases(self, frame: pd.DataFrame) -> None:
        """Count the cases of a canonical frame (see :mod:`features.load`)."""
        if len(frame) == 0:
            return
        matrices = [builder.transform(frame) for builder in self._groups]
        for track in self._features:
            if isinstance(track.entry, CodeProfile):
                codes = frame[track.name] if track.name in frame.columns else None
                if codes is None:
                    track.missing += len(frame)
                else:
                    track.missing += int(codes.isna().sum())
                    track.codes.update(codes.dropna().astype(str).tolist())
            else:
                column = matrices[track.group][:, track.column]
                track.counts = _counted(track) + track.entry.bins.counts(column)
            track.n += len(frame)
        for track in self._scores:
            (kind,) = track.models
            model = self.models[kind].model
            p = model.predict_features(matrices[track.group], reasons=0).probability
            assert isinstance(track.entry, NumericProfile)  # a score entry is numeric
            track.counts = _counted(track) + track.entry.bins.counts(p)
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
        unseen: tuple[str, ...] = ()
        if isinstance(entry, CodeProfile):
            labels, reference, current, unseen = _categorical_distributions(track, entry)
        else:
            reference = np.array([*entry.shares, entry.missing])
            current = _counted(track) / max(track.n, 1)
            labels = [*_bin_labels(entry.edges, _shower(track.name)), _MISSING]
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
            n_reference=entry.n,
            missing_now=float(current[-1]),
            missing_then=entry.missing,
            bins=tuple(labels),
            reference=tuple(float(x) for x in reference),
            current=tuple(float(x) for x in current),
            models=tuple(track.models),
            zh=zh,
            en=en,
            unseen=unseen,
        )


def _new_track(name: str, entry: ProfileEntry, model_kind: str, group: int, column: int) -> _Track:
    track = _Track(name, entry, [model_kind], group, column)
    if isinstance(entry, NumericProfile):
        track.counts = np.zeros(entry.bins.size + 1, dtype=np.int64)
    return track


def _counted(track: _Track) -> np.ndarray:
    if track.counts is None:
        raise ValueError(f"{track.name} is coded: it has no bins")
    return track.counts


def _categorical_distributions(
    track: _Track, entry: CodeProfile
) -> tuple[list[str], np.ndarray, np.ndarray, tuple[str, ...]]:
    """Labels, reference and current shares of a coded feature; codes the reference lacks."""
    codes = list(entry.codes)
    contract = FIELD_BY_NAME[track.name].code_values if track.name in FIELD_BY_NAME else ()
    known = set(codes)
    unseen = sorted(
        (c for c in track.codes if c not in known),
        key=lambda c: (contract.index(c) if c in contract else len(contract), c),
    )
    order = [*codes, *unseen]
    n = max(track.n, 1)
    reference = np.array([*entry.shares, *([0.0] * len(unseen)), entry.missing])
    current = np.array([track.codes.get(c, 0) / n for c in order] + [track.missing / n])
    labels = [_code_text(track.name, c) for c in order] + [_MISSING]
    return labels, reference, current, tuple(unseen)


def _normalised(shares: np.ndarray) -> np.ndarray:
    shares = np.asarray(shares, dtype=np.float64)
    total = shares.sum()
    return shares / total if total > 0 else shares


def _bin_labels(edges: Sequence[float], show: Callable[[float], str]) -> list[str]:
    """``≤ c0``, ``c0–c1`` … ``> ck``: how the bins of a numeric entry read."""
    e = [show(x) for x in edges]
    if not e:
        return ["all"]
    middle = [f"{lo}–{hi}" for lo, hi in zip(e[:-1], e[1:], strict=True)]
    return [f"≤ {e[0]}", *middle, f"> {e[-1]}"]


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


def _shower(feature: str) -> Callable[[float], str]:
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
        "run_id": metadata.run_id,
        "trained_at": metadata.trained_at,
        "training_window": metadata.window_lists(),
    }


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
