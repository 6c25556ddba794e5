"""The model card: what a model is, how well it does, and where not to trust it.

:class:`ModelCardData` gathers what training knows about one model (its
registry name and version, the data windows, test metrics of the model and
its baselines, the Bayes limit, calibration, slices, routing thresholds);
:func:`render_model_card` turns it into markdown for the MLflow run and the
registry, and :func:`summary_lines` into the few lines ``triage train`` and
``make demo`` print.  Both are pure: no I/O, no clock.

Optional parts (Bayes limit, calibration, slices, routing, figures) get a
section only when they are given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.record import FIELD_BY_NAME, code_label
from training.evaluate import gap_to_bayes

__all__ = [
    "DEFAULT_INTENDED_USE",
    "ExpectedRecoveryCard",
    "ModelCardData",
    "SplitSummary",
    "describe_split",
    "render_model_card",
    "summary_lines",
]

DEFAULT_INTENDED_USE = (
    "Decision support for the filing desk (立案/执行指挥中心): routing new enforcement cases "
    "to the simple or the complex stream (繁简分流) and prioritising the work of each stream. "
    "It is not a decision on the merits of a case, on a party's rights or on any enforcement "
    "measure. Cases whose score falls in the human-review band between the thresholds are "
    "routed by a person, and a clerk may overrule any routing; every decision is logged with "
    "the model version that made it."
)

_NO_VALUE = "–"


# --- the data -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitSummary:
    """One data split: its size, filing-date window and positive rate."""

    name: str
    n: int
    start: object = None  # first filing date (date, Timestamp or ISO string)
    end: object = None  # last filing date
    positive_rate: float | None = None


def describe_split(name: str, frame: pd.DataFrame, label: str | None = None) -> SplitSummary:
    """Size, filing-date window and (given ``label``) positive rate of a case frame."""
    dates = (
        pd.to_datetime(frame["filing_date"]) if "filing_date" in frame.columns else pd.Series([])
    )
    rate = None
    if label is not None and label in frame.columns:
        y = frame[label].to_numpy(dtype=np.float64, na_value=np.nan)
        labelled = y[~np.isnan(y)]
        rate = float(labelled.mean()) if labelled.size else None
    return SplitSummary(
        name=name,
        n=len(frame),
        start=dates.min() if len(dates) else None,
        end=dates.max() if len(dates) else None,
        positive_rate=rate,
    )


@dataclass(frozen=True)
class ExpectedRecoveryCard:
    """The assets model's amount part on its card (``problem`` says why there is none).

    ``amount_metrics``: E[recovered_amount | recovered] on the recovered test
    cases (:func:`training.evaluate.amount_metrics` by scorer);
    ``amount_deciles``: its calibration per decile; ``calibration``: expected
    recovery (p_assets × amount) per decile on every test case
    (:func:`training.evaluate.amount_calibration`); ``totals``: predicted and
    realised totals over the test split and their ``ratio``.
    """

    problem: str | None = None
    amount_metrics: Mapping[str, Mapping[str, float]] | None = None
    amount_deciles: pd.DataFrame | None = None
    calibration: pd.DataFrame | None = None
    totals: Mapping[str, float] | None = None


@dataclass
class ModelCardData:
    """Everything the model card shows.  Only ``model_name`` and ``target`` are required.

    Attributes
    ----------
    model_name, target :
        Registry name of the model and the label it predicts (``is_complex``
        or ``has_recoverable_assets``).
    target_meaning :
        What a positive label means; the contract's description by default.
    model_version, run_id, git_commit, data_fingerprint :
        Provenance; the version is None before registering.
    splits :
        One :class:`SplitSummary` per split (train, validation, test …).
    metrics :
        Test-split metrics (:func:`training.evaluate.binary_metrics`) by
        scorer name: the model and each baseline.  The model's entry is
        ``model_key`` (default: the entry named ``model_name``, else the
        first).
    bayes_metrics, bayes_gaps :
        Metrics of the true probabilities on the test split, and the gap of
        each scorer (:func:`training.evaluate.gap_to_bayes`, computed from
        ``metrics`` when not given).
    calibration_method, ece_before, ece_after :
        Calibration chosen and the ECE before and after it (validation data).
    slice_table :
        :func:`training.evaluate.slice_metrics` of the model on the test split.
    routing :
        Only for the stream model: a plain dict such as ``{"policy": "…" or
        {"max_complex_to_simple": 0.1, …}, "thresholds": {"simple_below":
        0.3, "complex_from": 0.7}, "shares": {"simple": 0.35, "review": 0.2,
        "complex": 0.45}}``.  Thresholds are probabilities (4 decimals);
        shares and other fractions are shown as percentages (a ``share_``
        prefix is dropped, so ``training.thresholds.routing_outcome`` output fits);
        further keys (dicts, DataFrames, lists, scalars) are shown as tables or lines.
        A court policy's ``cost_*`` fields are shown in days.
    policy_cost :
        Only with the truth: :func:`training.thresholds.cost_against_bayes`,
        the routing's expected cost against the Bayes-optimal routing's at
        the same review share.
    tradeoff :
        Only for the stream model: :func:`models.tradeoff.tradeoff_curve`
        as rows (``TradeoffPoint.to_dict``), the routing policy's least-cost
        routing at each review capacity on the validation cases.
    synthetic_data, data_source :
        Whether the cases come from the synthetic generator, and where they
        come from in words.
    extra_limits :
        Further known limits, one sentence each.
    figures :
        Chart title → path relative to the card (shown as images).
    boosting :
        The final fit: ``learning_rate``, ``trees``, ``validation_log_loss``
        and whether the time budget ``cut_short`` the fit or the model was
        ``refitted`` on training and validation cases.
    """

    model_name: str
    target: str
    target_meaning: str | None = None
    model_version: str | None = None
    run_id: str | None = None
    git_commit: str | None = None
    data_fingerprint: str | None = None
    splits: Sequence[SplitSummary] = ()
    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    model_key: str | None = None
    bayes_metrics: Mapping[str, float] | None = None
    bayes_gaps: Mapping[str, Mapping[str, float]] | None = None
    calibration_method: str | None = None
    ece_before: float | None = None
    ece_after: float | None = None
    slice_table: pd.DataFrame | None = None
    slice_rows: int = 15
    slice_flag_gap: float = 0.05
    routing: Mapping[str, Any] | None = None
    policy_cost: Mapping[str, float] | None = None
    policy_cost_curve: Sequence[Mapping[str, float]] | None = None
    tradeoff: Sequence[Mapping[str, Any]] | None = None
    intended_use: str = DEFAULT_INTENDED_USE
    synthetic_data: bool = False
    data_source: str | None = None
    extra_limits: Sequence[str] = ()
    figures: Mapping[str, str] = field(default_factory=dict)
    boosting: Mapping[str, Any] | None = None
    #: Terminated-case models: yuan per 100 follow-ups by ranking and budget
    #: (:func:`training.terminated.follow_up_value` rows).
    follow_up: Sequence[Mapping[str, Any]] | None = None
    #: The yuan model: predicted against realised (and true) yuan per decile.
    yuan_calibration: pd.DataFrame | None = None
    #: The new-case assets model: its amount part and expected recovery in yuan.
    expected_recovery: ExpectedRecoveryCard | None = None
    #: The served reasons against LightGBM's pred_contrib (:func:`training.train.reasons_check`).
    reasons: Mapping[str, float] | None = None

    @property
    def meaning(self) -> str:
        if self.target_meaning:
            return self.target_meaning
        spec = FIELD_BY_NAME.get(self.target)
        return spec.description if spec is not None else ""

    @property
    def model_entry(self) -> str | None:
        """Key of the model's own metrics in :attr:`metrics`."""
        if self.model_key is not None:
            return self.model_key
        if self.model_name in self.metrics:
            return self.model_name
        return next(iter(self.metrics), None)

    def gaps(self) -> dict[str, dict[str, float]]:
        """Gap to the Bayes limit of every scorer (empty without the Bayes limit)."""
        if self.bayes_gaps is not None:
            return {k: dict(v) for k, v in self.bayes_gaps.items()}
        if self.bayes_metrics is None:
            return {}
        return {
            name: gap_to_bayes(dict(m), dict(self.bayes_metrics))
            for name, m in self.metrics.items()
        }


# --- formatting ---------------------------------------------------------------------------


def _missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _num(value: Any, digits: int = 4) -> str:
    return _NO_VALUE if _missing(value) else f"{float(value):.{digits}f}"


def _pct(value: Any, digits: int = 1) -> str:
    return _NO_VALUE if _missing(value) else f"{float(value) * 100:.{digits}f} %"


def _signed_pct(value: Any) -> str:
    """A value already in percent, with its sign."""
    return _NO_VALUE if _missing(value) else f"{float(value):+.1f} %"


def _hundred(value: Any) -> Any:
    """A fraction as percent (for :func:`_signed_pct`), missing kept missing."""
    return None if _missing(value) else 100 * float(value)


def _count(value: Any) -> str:
    return _NO_VALUE if _missing(value) else f"{int(value):,}"


def _date(value: object) -> str:
    if _missing(value):
        return _NO_VALUE
    return pd.Timestamp(value).date().isoformat()


def _text(value: object) -> str:
    return _NO_VALUE if _missing(value) or value == "" else str(value)


def _metric(name: str, value: object) -> str:
    if name == "n":
        return _count(value)
    if name in ("positive_rate", "mean_p"):
        return _pct(value)
    return _num(value)


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A markdown table (cells already text; ``|`` escaped)."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def _slice_value_label(slice_name: str, value: str) -> str:
    """``44 广东`` for a coded field, the value itself otherwise."""
    spec = FIELD_BY_NAME.get(slice_name)
    if spec is None or not spec.codes:
        return value
    label = code_label(slice_name, value)
    return value if label == value else f"{value} {label}"


# --- sections -----------------------------------------------------------------------------

_METRIC_COLUMNS = (
    ("auc", "AUC"),
    ("log_loss", "log loss"),
    ("brier", "Brier"),
    ("ece", "ECE"),
    ("n", "cases"),
    ("positive_rate", "positive rate"),
    ("mean_p", "mean p"),
)


def _details(card: ModelCardData) -> list[str]:
    provenance = card.data_source or ("synthetic generator" if card.synthetic_data else None)
    rows = [
        ("Model", f"`{card.model_name}`"),
        ("Version", _text(card.model_version) if card.model_version else "not registered yet"),
        ("Target", f"`{card.target}` — {card.meaning}"),
        ("Run id", _text(card.run_id)),
        ("Git commit", _text(card.git_commit)),
        ("Data fingerprint", _text(card.data_fingerprint)),
        ("Data", _text(provenance)),
    ]
    return ["## Model details", "", *_table(("", ""), rows)]


def _data(card: ModelCardData) -> list[str]:
    rows = [
        (s.name, _count(s.n), _date(s.start), _date(s.end), _pct(s.positive_rate))
        for s in card.splits
    ]
    headers = ("split", "cases", "first filing", "last filing", f"`{card.target}` = 1")
    return [
        "## Training data",
        "",
        "Splits are out of time: each split's cases were filed after the previous split's.",
        "",
        *_table(headers, rows),
    ]


def _metrics(card: ModelCardData) -> list[str]:
    model = card.model_entry
    rows = []
    for name, metrics in card.metrics.items():
        shown = f"**{name}** (this model)" if name == model else name
        rows.append([shown, *(_metric(k, metrics.get(k)) for k, _ in _METRIC_COLUMNS)])
    return [
        "## Test metrics",
        "",
        "The model and its baselines on the same out-of-time test split.",
        "",
        *_table(("scorer", *(h for _, h in _METRIC_COLUMNS)), rows),
    ]


def _bayes(card: ModelCardData) -> list[str]:
    lines = [
        "## Bayes limit",
        "",
        "The best any model could do on this test split: the metrics of each case's true "
        "probability (known because the generator draws the labels from it).",
    ]
    if card.bayes_metrics is not None:
        b = card.bayes_metrics
        lines += [
            "",
            *_table(
                [h for _, h in _METRIC_COLUMNS],
                [[_metric(k, b.get(k)) for k, _ in _METRIC_COLUMNS]],
            ),
        ]
    gaps = card.gaps()
    if gaps:
        model = card.model_entry
        rows = [
            (
                f"**{name}**" if name == model else name,
                _num(g.get("auc_gap")),
                _signed_pct(g.get("log_loss_gap_pct")),
                _signed_pct(g.get("brier_gap_pct")),
            )
            for name, g in gaps.items()
        ]
        lines += [
            "",
            "Gap to the limit (AUC gap = Bayes − scorer; log loss and Brier gaps relative to "
            "the Bayes value):",
            "",
            *_table(("scorer", "AUC gap", "log loss gap", "Brier gap"), rows),
        ]
    return lines


def _calibration(card: ModelCardData) -> list[str]:
    rows = [
        ("method", _text(card.calibration_method)),
        ("ECE before", _num(card.ece_before)),
        ("ECE after", _num(card.ece_after)),
    ]
    return [
        "## Calibration",
        "",
        "Expected calibration error over 15 equal-mass bins, on data the model was not fit on.",
        "",
        *_table(("", ""), rows),
    ]


def _boosting(card: ModelCardData) -> list[str]:
    fit = card.boosting or {}
    rows = [
        ("learning rate", _num(fit.get("learning_rate"))),
        ("trees", _count(fit.get("trees"))),
        ("validation log loss", _num(fit.get("validation_log_loss"))),
        ("stopped by", "the time budget" if fit.get("cut_short") else "early stopping"),
        ("refitted on train + validation", "yes" if fit.get("refitted") else "no"),
    ]
    return [
        "## Boosting",
        "",
        # Why the two numbers sit together: the rate is a trade, read it as one.
        "Every case scored walks every tree (its reasons too): halving the learning rate "
        "about doubles the trees, and so the cost of scoring, for a small gain in log loss.",
        "",
        *_table(("", ""), rows),
    ]


def _reasons(card: ModelCardData) -> list[str]:
    check = card.reasons or {}
    rows = [
        ("cases compared (from the test split)", _count(check.get("cases"))),
        ("same top 3 reasons (features and signs)", _pct(check.get("top3_agreement"))),
        (
            "largest difference of a contribution",
            f"{check.get('largest_difference', float('nan')):.1e}",
        ),
        (
            "tables (MB, seconds to build once per machine, or to read)",
            f"{_num(check.get('tables_megabytes'), 1)}, {_num(check.get('tables_build_seconds'), 1)}",
        ),
        ("cases/s: prediction alone", _count(check.get("prediction_rows_per_second"))),
        ("cases/s: contributions from the tables", _count(check.get("tables_rows_per_second"))),
        ("cases/s: LightGBM's pred_contrib", _count(check.get("pred_contrib_rows_per_second"))),
    ]
    return [
        "## Reasons",
        "",
        # Why a clerk can trust them: they are TreeSHAP's, not an approximation of it.
        "A case's reasons are its three largest TreeSHAP contributions, read from tables "
        "built once per model version (`models/treeshap.py`). They are LightGBM's own "
        "TreeSHAP (`pred_contrib`), to float rounding, at about the cost of a prediction; "
        "measured on this model's test cases while training, on the training machine:",
        "",
        *_table(("", ""), rows),
    ]


def _evaluated_slices(table: pd.DataFrame) -> pd.DataFrame:
    rows = table[table["slice"] != "all"]
    return rows[rows["log_loss"].notna()]


def _overall_auc(card: ModelCardData) -> float:
    table = card.slice_table
    if table is not None:
        overall = table.loc[table["slice"] == "all", "auc"]
        if len(overall) and not _missing(overall.iloc[0]):
            return float(overall.iloc[0])
    model = card.model_entry
    if model is not None and not _missing(card.metrics[model].get("auc")):
        return float(card.metrics[model]["auc"])
    return math.nan


def _flagged(card: ModelCardData) -> pd.DataFrame:
    """Evaluated slices, worst AUC first, with a flag where AUC trails the overall AUC."""
    rows = _evaluated_slices(card.slice_table).sort_values("auc", na_position="last")
    overall = _overall_auc(card)
    flag = rows["auc"] < overall - card.slice_flag_gap
    return rows.assign(flag=flag.to_numpy(dtype=bool))


def _slices(card: ModelCardData) -> list[str]:
    table = card.slice_table
    assert table is not None  # a card gets this section only with a slice table
    rows = _flagged(card)
    n_flagged = int(rows["flag"].sum())
    shown = rows.head(card.slice_rows)
    body = [
        (
            "⚠" if r.flag else "",
            r.slice,
            _slice_value_label(r.slice, str(r.value)),
            _count(r.n),
            _num(r.auc),
            _num(r.log_loss),
            _num(r.brier),
            _num(r.ece),
            _pct(r.positive_rate),
            _pct(r.mean_p),
        )
        for r in shown.itertuples(index=False)
    ]
    small = table[(table["slice"] != "all") & table["log_loss"].isna()]
    overall = _overall_auc(card)
    lines = [
        "## Slices",
        "",
        f"Test metrics per slice, worst AUC first ({len(shown)} of {len(rows)} evaluated "
        f"slices shown). ⚠ marks an AUC more than {card.slice_flag_gap:.2f} below the "
        f"overall {_num(overall)} ({n_flagged} flagged).",
        "",
        *_table(
            (
                "",
                "slice",
                "value",
                "cases",
                "AUC",
                "log loss",
                "Brier",
                "ECE",
                "positive rate",
                "mean p",
            ),
            body,
        ),
    ]
    if len(small):
        few = "1 slice" if len(small) == 1 else f"{len(small)} slices"
        lines += ["", f"{few} had too few cases to evaluate (see Known limits)."]
    return lines


def _fraction_or_text(value: object) -> str:
    """A fraction in [0, 1] as a percentage, any other number to 4 decimals, else text."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return _text(value)
    return _pct(value) if 0.0 <= float(value) <= 1.0 else _num(value)


def _stream_name(key: str) -> str:
    return key.removeprefix("share_")


def _routing(card: ModelCardData) -> list[str]:
    routing = dict(card.routing or {})
    lines = ["## Routing policy", ""]
    policy = routing.pop("policy", None)
    if isinstance(policy, Mapping):
        rows = [(k, _policy_value(k, v)) for k, v in policy.items()]
        lines += [*_table(("policy", "value"), rows), ""]
    elif policy:
        lines += [str(policy), ""]
    thresholds = routing.pop("thresholds", None)
    if thresholds:
        rows = [(k, _num(v)) for k, v in thresholds.items()]
        lines += [*_table(("threshold on p", "value"), rows), ""]
    shares = routing.pop("shares", None)
    if shares:
        rows = [(_stream_name(k), _pct(v)) for k, v in shares.items()]
        lines += [
            "Stream shares these thresholds produce on the test split:",
            "",
            *_table(("stream", "share of cases"), rows),
            "",
        ]
    for key, value in routing.items():
        if isinstance(value, pd.DataFrame):
            header = list(map(str, value.columns))
            lines += [f"{key}:", "", *_table(header, value.astype(str).to_numpy()), ""]
        elif isinstance(value, Mapping):
            rows = [(k, _fraction_or_text(v)) for k, v in value.items()]
            lines += [f"{key}:", "", *_table(("", ""), rows), ""]
        elif isinstance(value, list | tuple):
            if value:
                lines += [f"{key}:", "", *(f"- {item}" for item in value), ""]
        else:
            lines += [f"- {key}: {_fraction_or_text(value)}", ""]
    return lines[:-1] if lines[-1] == "" else lines


def _policy_value(key: str, value: object) -> str:
    """A court policy's field with its unit: days for costs, shares in %."""
    if value is None:
        return "unset"
    if key.startswith("cost_"):
        return f"{float(value):g} days"  # type: ignore[arg-type]
    return _fraction_or_text(value)


def _policy_cost(card: ModelCardData) -> list[str]:
    cost = card.policy_cost or {}
    rows = [
        (
            "this model's thresholds",
            _num(cost.get("model_cost_days"), 3),
            _pct(cost.get("model_complex_to_simple")),
            _pct(cost.get("model_simple_to_complex")),
        ),
        (
            "Bayes-optimal (thresholds on the true p)",
            _num(cost.get("bayes_cost_days"), 3),
            _pct(cost.get("bayes_complex_to_simple")),
            _pct(cost.get("bayes_simple_to_complex")),
        ),
    ]
    return [
        "## Routing cost against the best possible",
        "",
        "Expected cost per case under the routing policy above, priced with each test case's "
        "true probability, against the Bayes-optimal routing that reviews as many cases "
        f"({_pct(cost.get('share_review'))}) under the same policy. "
        f"**Ratio: {_num(cost.get('cost_ratio'), 3)}** (1 is the best possible).",
        "",
        *_table(
            ("routing", "days per case", "complex → simple", "simple → complex"),
            rows,
        ),
        *_policy_cost_curve(card),
    ]


def _policy_cost_curve(card: ModelCardData) -> list[str]:
    if not card.policy_cost_curve:
        return []
    rows = [
        (
            _pct(point["capacity"], 0),
            _pct(point["share_review"]),
            _num(point["model_cost_days"], 3),
            _num(point["bayes_cost_days"], 3),
            _num(point["cost_ratio"], 3),
        )
        for point in card.policy_cost_curve
    ]
    return [
        "",
        "The same ratio at other review capacities: the policy above with that capacity, "
        "thresholds from the validation summary, priced on the test cases.",
        "",
        *_table(
            ("review capacity", "review share", "days per case", "Bayes-optimal", "ratio"),
            rows,
        ),
    ]


#: Capacities the card's trade-off table shows: every fifth point of the curve is enough
#: to read the shape; the API and the dashboard have every point.
_TRADEOFF_STEP = 0.05


def _tradeoff(card: ModelCardData) -> list[str]:
    shown = [
        point
        for point in card.tradeoff or ()
        if abs(point["capacity"] / _TRADEOFF_STEP - round(point["capacity"] / _TRADEOFF_STEP))
        < 1e-9
    ]
    rows = [
        (
            _pct(point["capacity"], 0),
            _pct(point["share_review"]),
            _pct(point["complex_to_simple"]),
            _pct(point["simple_to_complex"]),
            _num(point["expected_cost_days"], 3),
            # "max_review gives way: 31.0 % predicted …": the field names are enough here.
            ", ".join(g.split(" gives way")[0] for g in point["gave_way"]) or "—",
        )
        for point in shown
    ]
    return [
        "## Review capacity: the trade-off",
        "",
        "What the routing policy above would do with a review desk of each size: the "
        "least-cost thresholds at that capacity (the policy's costs and error limits; what "
        "gives way when they cannot all hold), predicted on the validation cases. A court "
        "reads its own curve at `GET /v1/policy/tradeoff?court=…` and on the dashboard.",
        "",
        *_table(
            (
                "review capacity",
                "review share",
                "complex → simple",
                "simple → complex",
                "days per case",
                "gave way",
            ),
            rows,
        ),
    ]


def _limits(card: ModelCardData) -> list[str]:
    bullets = []
    if card.synthetic_data:
        bullets.append(
            "**Synthetic data.** The model was trained and tested on cases from the project's "
            "generator, tuned to published national figures (see `domain.md`), not on a "
            "court's records. Its numbers describe the generator; retrain and re-evaluate on "
            "the court's own export before relying on it."
        )
    bullets.append(
        "**Label noise from 终本.** A case closed as 终结本次执行程序 records that the searches "
        "found no property, not that the debtor has none; property turns up later in an "
        "estimated 5–15 % of such cases (resumed cases, 执恢). Labels derived from how cases "
        f"closed — `{card.target}` among them — carry that noise, which caps every metric "
        "here and is also in the labels the Bayes limit is scored against."
    )
    test = next((s for s in card.splits if s.name.lower() == "test"), None)
    window = f" (test cases filed {_date(test.start)} – {_date(test.end)})" if test else ""
    bullets.append(
        "**Drift over time.** The test split is later than the training data"
        f"{window}, so the metrics include some drift, but inquiry coverage, court practice "
        "and the economy keep moving: watch the score distribution and re-evaluate on recent "
        "cases before each promotion."
    )
    if card.slice_table is not None:
        table = card.slice_table
        small = table[(table["slice"] != "all") & table["log_loss"].isna()]
        if len(small):
            listed = ", ".join(
                f"{r.slice} {_slice_value_label(r.slice, str(r.value))} (n = {int(r.n):,})"
                for r in small.head(10).itertuples(index=False)
            )
            more = f" and {len(small) - 10} more" if len(small) > 10 else ""
            bullets.append(
                f"**Slices with few cases.** Not evaluated, too few test cases: {listed}{more}. "
                "Scores for such cases rest on what the model learnt elsewhere."
            )
    bullets += list(card.extra_limits)
    return ["## Known limits", "", *(f"- {b}" for b in bullets)]


def _yuan(value: object) -> str:
    return _NO_VALUE if _missing(value) else f"¥{float(value):,.0f}"  # type: ignore[arg-type]


def _follow_up(card: ModelCardData) -> list[str]:
    rows = list(card.follow_up or ())
    budgets = sorted({float(r["budget_share"]) for r in rows})
    rankings = list(dict.fromkeys(str(r["ranking"]) for r in rows))
    by = {(str(r["ranking"]), float(r["budget_share"])): r for r in rows}
    table = [
        [name, *(_yuan(by.get((name, b), {}).get("yuan_per_100")) for b in budgets)]
        for name in rankings
    ]
    model = [by.get(("model", b), {}) for b in budgets]
    table.append(["model ÷ best rule", *(_num(m.get("times_best_rule"), 2) for m in model)])
    if any("share_of_bayes" in m for m in model):
        table.append(["model ÷ Bayes-optimal", *(_num(m.get("share_of_bayes"), 3) for m in model)])
    head = [f"K = {_pct(b, 0)} ({_count(by[(rankings[0], b)]['budget'])} cases)" for b in budgets]
    return [
        "## Yuan per 100 follow-ups",
        "",
        "Following up the top K of the newest inventory (the test split) by each ranking: "
        "the model's expected yuan per follow-up (p_resume × E[yuan | recovered]), the "
        "common rules, and — with the generator's truth — the Bayes-optimal ranking by the "
        "true expected yuan. With the truth each ranking is valued by the true expected yuan "
        "of the cases it picks; without, by the realised yuan of its followed-up cases.",
        "",
        *_table(["ranking", *head], table),
    ]


def _yuan_calibration(card: ModelCardData) -> list[str]:
    table = card.yuan_calibration
    assert table is not None
    headers, rows = _calibration_rows(table)
    return [
        "## Yuan calibration",
        "",
        "Recovered test cases in ten equal groups by predicted yuan: the mean predicted "
        "against the mean recovered"
        + (" and the true expected amount." if "expected" in table.columns else "."),
        "",
        *_table(headers, rows),
    ]


def _calibration_rows(table: pd.DataFrame) -> tuple[list[str], list[list[object]]]:
    has_truth = "expected" in table.columns
    headers = ["decile", "n", "predicted", "realised", "predicted ÷ realised"]
    headers += ["true expected", "predicted ÷ true"] if has_truth else []
    rows = [
        [
            int(r["decile"]),
            _count(r["n"]),
            _yuan(r["predicted"]),
            _yuan(r["realised"]),
            _num(r["ratio"], 3),
            *([_yuan(r["expected"]), _num(r["ratio_expected"], 3)] if has_truth else []),
        ]
        for _, r in table.iterrows()
    ]
    return headers, rows


def _expected_recovery(card: ModelCardData) -> list[str]:
    section = card.expected_recovery
    assert section is not None
    lines = ["## Expected recovery (yuan)", ""]
    if section.problem is not None or section.calibration is None:
        return lines + [
            f"This version carries no amount part: {section.problem}. Its decisions give "
            "`expected_recovery` null; train on an export with `recovered_amount` to have it."
        ]
    lines += [
        "`expected_recovery = p_assets × E[recovered_amount | recovered]`, in yuan, beside "
        "p_assets in every decision. E[recovered_amount | recovered] is a gamma regression "
        "(log link) on the training cases that recovered something, its level fitted on the "
        "validation cases; it travels inside this version.",
        "",
        "**E[recovered_amount | recovered]** on the recovered test cases:",
        "",
    ]
    metrics = section.amount_metrics or {}
    keys = ("n", "gamma_deviance", "deviance_skill", "bias", "max_decile_error")
    lines += _table(
        ["scorer", *keys],
        [
            [name, *(_count(m.get(k)) if k == "n" else _num(m.get(k), 3) for k in keys)]
            for name, m in metrics.items()
        ],
    )
    headers, rows = _calibration_rows(section.calibration)
    totals = section.totals or {}
    lines += [
        "",
        "**Calibration of expected recovery** on every test case, in ten equal groups by "
        "predicted expected recovery: the mean predicted against the mean realised "
        "recovered_amount (0 where nothing was recovered)"
        + (" and the true expected recovery." if "expected" in section.calibration.columns else ".")
        + f" Over the whole test split: predicted {_yuan(totals.get('predicted'))}, realised "
        f"{_yuan(totals.get('realised'))}, ratio {_num(totals.get('ratio'), 3)}.",
        "",
        *_table(headers, rows),
    ]
    return lines


def render_model_card(card: ModelCardData) -> str:
    """The model card as markdown (sections for the optional parts only when given)."""
    version = f" v{card.model_version}" if card.model_version else ""
    sections = [[f"# Model card: {card.model_name}{version}"], _details(card)]
    if card.splits:
        sections.append(_data(card))
    if card.metrics:
        sections.append(_metrics(card))
    if card.bayes_metrics is not None or card.bayes_gaps is not None:
        sections.append(_bayes(card))
    if card.calibration_method is not None or card.ece_before is not None:
        sections.append(_calibration(card))
    if card.boosting:
        sections.append(_boosting(card))
    if card.reasons:
        sections.append(_reasons(card))
    if card.slice_table is not None and len(card.slice_table):
        sections.append(_slices(card))
    if card.routing:
        sections.append(_routing(card))
    if card.tradeoff:
        sections.append(_tradeoff(card))
    if card.policy_cost:
        sections.append(_policy_cost(card))
    if card.follow_up:
        sections.append(_follow_up(card))
    if card.yuan_calibration is not None and len(card.yuan_calibration):
        sections.append(_yuan_calibration(card))
    if card.expected_recovery is not None:
        sections.append(_expected_recovery(card))
    sections.append(["## Intended use", "", card.intended_use])
    sections.append(_limits(card))
    if card.figures:
        sections.append(
            ["## Figures", "", *(f"![{title}]({path})" for title, path in card.figures.items())]
        )
    return "\n\n".join("\n".join(s) for s in sections) + "\n"


def summary_lines(card: ModelCardData) -> list[str]:
    """5–10 plain lines for the end of ``triage train`` and ``make demo``."""
    version = f" v{card.model_version}" if card.model_version else " (not registered)"
    provenance = ", ".join(
        part
        for part in (
            f"run {card.run_id}" if card.run_id else "",
            f"commit {card.git_commit[:10]}" if card.git_commit else "",
        )
        if part
    )
    lines = [
        f"{card.model_name}{version} — {card.target}" + (f"; {provenance}" if provenance else "")
    ]
    if card.splits:
        lines.append(
            "data: "
            + "; ".join(
                f"{s.name} {_count(s.n)} ({_date(s.start)} – {_date(s.end)})" for s in card.splits
            )
        )
    model = card.model_entry
    if model is not None and "gamma_deviance" in card.metrics[model]:
        m = card.metrics[model]
        lines.append(
            f"test: gamma deviance {_num(m.get('gamma_deviance'))} · skill "
            f"{_num(m.get('deviance_skill'))} · yuan total {_signed_pct(_hundred(m.get('bias')))} · "
            f"worst decile off by {_pct(m.get('max_decile_error'))}"
        )
    elif model is not None:
        m = card.metrics[model]
        lines.append(
            f"test: AUC {_num(m.get('auc'))} · log loss {_num(m.get('log_loss'))} · "
            f"Brier {_num(m.get('brier'))} · ECE {_num(m.get('ece'))}"
        )
    gaps = card.gaps()
    if model is not None and model in gaps:
        g, b = gaps[model], card.bayes_metrics or {}
        lines.append(
            f"Bayes limit: AUC {_num(b.get('auc'))} (gap {_num(g.get('auc_gap'))}) · "
            f"log loss {_num(b.get('log_loss'))} (model {_signed_pct(g.get('log_loss_gap_pct'))})"
        )
    baselines = [name for name in card.metrics if name != model]
    if baselines and model is not None and "auc" in card.metrics[model]:
        lines.append(
            "baselines: "
            + "; ".join(
                f"{name} AUC {_num(card.metrics[name].get('auc'))}, "
                f"log loss {_num(card.metrics[name].get('log_loss'))}"
                for name in baselines
            )
        )
    if card.ece_before is None and card.ece_after is None and card.calibration_method:
        lines.append(f"calibration: {card.calibration_method}")  # a yuan model: no ECE
    elif card.calibration_method is not None or card.ece_before is not None:
        lines.append(
            f"calibration: {_text(card.calibration_method)}, ECE {_num(card.ece_before)} → "
            f"{_num(card.ece_after)}"
        )
    if card.routing and card.routing.get("shares"):
        shares = card.routing["shares"]
        lines.append(
            "routing: " + " · ".join(f"{_stream_name(k)} {_pct(v)}" for k, v in shares.items())
        )
    if card.policy_cost:
        lines.append(
            f"routing cost: {_num(card.policy_cost.get('cost_ratio'), 3)} × the Bayes-optimal "
            f"routing's at the same review share ({_pct(card.policy_cost.get('share_review'))})"
        )
    if card.slice_table is not None and len(card.slice_table):
        rows = _flagged(card)
        if len(rows):
            worst = rows.iloc[0]
            lines.append(
                f"worst slice: {worst['slice']} {_slice_value_label(worst['slice'], str(worst['value']))} "
                f"AUC {_num(worst['auc'])} (n = {int(worst['n']):,}); "
                f"{int(rows['flag'].sum())} slices flagged"
            )
    if card.follow_up:
        k5 = {str(r["ranking"]): r for r in card.follow_up if float(r["budget_share"]) == 0.05}
        if "model" in k5:
            m5 = k5["model"]
            bayes = m5.get("share_of_bayes")
            lines.append(
                f"follow-up at K = 5 %: model {_yuan(m5['yuan_per_100'])} per 100, "
                f"{_num(m5.get('times_best_rule'), 2)}× the best rule"
                + (f", {_num(bayes, 3)} of Bayes-optimal" if bayes is not None else "")
            )
    recovery = card.expected_recovery
    if recovery is not None and recovery.totals is not None and recovery.calibration is not None:
        worst = float((recovery.calibration["ratio"] - 1).abs().max())
        lines.append(
            f"expected recovery: predicted ÷ realised {_num(recovery.totals.get('ratio'), 3)} "
            f"on test, worst decile off by {_pct(worst)}"
        )
    elif recovery is not None:
        lines.append(f"expected recovery: none ({recovery.problem})")
    return lines[:10]
