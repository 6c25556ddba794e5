"""How good a model is: metrics, slices, the Bayes limit and the baselines.

Everything here is a pure function of arrays and case frames (the canonical
frame of :mod:`features.load`); nothing reads or writes files.  The design
(``../shared/design.md`` § How we measure) asks for three comparisons on the
same out-of-time test split:

* the **Bayes limit** — the same metrics computed with each case's *true*
  probability (the synthetic generator emits it), so the report can say how
  far a model is from the best any model could do (:func:`bayes_limit`,
  :func:`gap_to_bayes`);
* the **published rule-based criteria** of the 丰顺 court for the two streams
  (:func:`rule_based_stream_score`, :class:`RuleBaseline`);
* a **logistic regression** on the project's features
  (:func:`logistic_baseline`).

Metric conventions (:func:`binary_metrics`):

* ``auc`` — area under the ROC curve; NaN when the cases hold a single class.
* ``log_loss`` — mean negative log-likelihood (natural log), probabilities
  clipped to ``[eps, 1 - eps]`` with the float64 machine epsilon, as
  scikit-learn does.
* ``brier`` — mean squared difference between probability and label.
* ``ece`` — expected calibration error with **equal-mass bins**: the cases
  are sorted by predicted probability and cut into ``n_bins`` (default 15)
  groups of (nearly) the same size; ``ece = Σ_b (n_b / n) · |ȳ_b − p̄_b|``.
  Cases with the same probability always share a bin (so a scorer with few
  distinct values, like the rule baseline, is judged on its own levels rather
  than on an arbitrary cut through a tie).  Equal-mass bins keep every bin
  populated where the model puts its cases; equal-width bins would leave the
  extremes nearly empty and noisy.  Even a perfectly calibrated model has an
  ECE of about ``0.8 · sqrt(p(1 − p) · n_bins / n)`` from sampling noise
  (≈ 0.005 for 100 k cases).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from features.record import FIELD_BY_NAME

__all__ = [
    "CLAIM_BANDS",
    "COMPLEX",
    "DEFAULT_BINS",
    "METRIC_NAMES",
    "SIMPLE",
    "SLICE_COLUMNS",
    "UNDECIDED",
    "RuleBaseline",
    "bayes_limit",
    "binary_metrics",
    "claim_band",
    "gap_to_bayes",
    "logistic_baseline",
    "reliability_curve",
    "rule_based_stream_score",
    "single_feature_auc",
    "single_feature_aucs",
    "slice_metrics",
]

#: Default number of equal-mass bins for the ECE and the reliability curve.
DEFAULT_BINS = 15

#: The keys of :func:`binary_metrics`, in the order reports show them.
METRIC_NAMES: tuple[str, ...] = ("auc", "log_loss", "brier", "ece", "n", "positive_rate", "mean_p")

_EPS = np.finfo(np.float64).eps
_NAN = float("nan")


# --- metrics ------------------------------------------------------------------------------


def _labels_and_scores(y, p) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities as float64 arrays; unlabelled (NaN) cases dropped."""
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"labels and probabilities differ in length: {y.size} vs {p.size}")
    labelled = ~np.isnan(y)
    y, p = y[labelled], p[labelled]
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1 (NaN for unlabelled cases)")
    if np.isnan(p).any():
        raise ValueError("probabilities contain NaN")
    if ((p < 0.0) | (p > 1.0)).any():
        raise ValueError("probabilities must lie in [0, 1]")
    return y, p


def _equal_mass_bins(p: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index (0 … n_bins−1) of each probability: equal-mass bins, ties kept together.

    The cases are ranked by ``p`` and the rank cut into ``n_bins`` equal runs;
    every case then takes the bin of the first case with its value, so a tie
    never straddles two bins (some bins may stay empty).
    """
    n = p.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    n_bins = max(1, min(int(n_bins), n))
    order = np.argsort(p, kind="stable")
    _, first, inverse = np.unique(p[order], return_index=True, return_inverse=True)
    bin_of_value = (first * n_bins) // n
    bins = np.empty(n, dtype=np.int64)
    bins[order] = bin_of_value[inverse]
    return bins


def _ece(y: np.ndarray, p: np.ndarray, n_bins: int) -> float:
    if y.size == 0:
        return _NAN
    bins = _equal_mass_bins(p, n_bins)
    counts = np.bincount(bins)
    used = counts > 0
    gap = np.abs(np.bincount(bins, weights=y)[used] - np.bincount(bins, weights=p)[used])
    return float(gap.sum() / y.size)


def binary_metrics(y, p, n_bins: int = DEFAULT_BINS) -> dict[str, float]:
    """AUC, log loss, Brier score and ECE of probabilities ``p`` for labels ``y``.

    Parameters
    ----------
    y : array-like of 0/1
        True labels; NaN marks an unlabelled case, which is left out.
    p : array-like of float in [0, 1]
        Predicted probability of the positive class.
    n_bins : int, default=15
        Equal-mass bins of the expected calibration error (see the module
        docstring).

    Returns
    -------
    dict
        ``auc``, ``log_loss``, ``brier``, ``ece``, ``n`` (labelled cases),
        ``positive_rate`` and ``mean_p``.  Never raises on small slices:
        ``auc`` is NaN when only one class is present, everything but ``n`` is
        NaN for an empty slice.
    """
    y, p = _labels_and_scores(y, p)
    n = y.size
    if n == 0:
        return {name: (0 if name == "n" else _NAN) for name in METRIC_NAMES}
    has_both = 0 < y.sum() < n
    auc = float(roc_auc_score(y, p)) if has_both else _NAN
    q = np.clip(p, _EPS, 1.0 - _EPS)
    log_loss = float(-np.mean(y * np.log(q) + (1.0 - y) * np.log1p(-q)))
    return {
        "auc": auc,
        "log_loss": log_loss,
        "brier": float(np.mean((p - y) ** 2)),
        "ece": _ece(y, p, n_bins),
        "n": int(n),
        "positive_rate": float(y.mean()),
        "mean_p": float(p.mean()),
    }


def reliability_curve(y, p, n_bins: int = DEFAULT_BINS) -> pd.DataFrame:
    """Observed positive rate against mean predicted probability, per equal-mass bin.

    The bins are those of the ECE in :func:`binary_metrics`; empty bins are
    left out.  Columns: ``bin``, ``mean_p``, ``observed_rate``, ``n``.
    """
    y, p = _labels_and_scores(y, p)
    bins = _equal_mass_bins(p, n_bins)
    counts = np.bincount(bins) if bins.size else np.zeros(0, dtype=np.int64)
    used = np.flatnonzero(counts)
    n = counts[used]
    return pd.DataFrame(
        {
            "bin": used.astype(np.int64),
            "mean_p": np.bincount(bins, weights=p)[used] / n if used.size else [],
            "observed_rate": np.bincount(bins, weights=y)[used] / n if used.size else [],
            "n": n.astype(np.int64),
        }
    )


# --- slices -------------------------------------------------------------------------------

#: Claim-amount bands (CNY, lower bound included): ``(label, lower, upper)``.
CLAIM_BANDS: tuple[tuple[str, float, float], ...] = (
    ("<10k", 0.0, 10_000.0),
    ("10k–50k", 10_000.0, 50_000.0),
    ("50k–200k", 50_000.0, 200_000.0),
    ("200k–1M", 200_000.0, 1_000_000.0),
    ("≥1M", 1_000_000.0, np.inf),
)

#: The slices of :func:`slice_metrics`, in report order.
SLICE_COLUMNS: tuple[str, ...] = (
    "province",
    "court_level",
    "respondent_type",
    "claim_band",
    "inquiry_done",
)

_MISSING = "(missing)"
_SLICE_METRICS = ("auc", "log_loss", "brier", "ece", "positive_rate", "mean_p")


def claim_band(claim_amount) -> pd.Series:
    """Readable band of each claim amount (``<10k``, ``10k–50k`` … ``≥1M``).

    Returns an ordered categorical Series (index kept when a Series is given);
    a missing amount stays NaN.
    """
    index = claim_amount.index if isinstance(claim_amount, pd.Series) else None
    values = np.asarray(claim_amount, dtype=np.float64)
    edges = [lower for _, lower, _ in CLAIM_BANDS] + [np.inf]
    edges[0] = -np.inf
    labels = [label for label, _, _ in CLAIM_BANDS]
    bands = pd.cut(values, bins=edges, labels=labels, right=False, ordered=True)
    return pd.Series(bands, index=index, name="claim_band")


def _slice_values(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, list[str]]:
    """The slice value of each case (as text) and the order to report the values in."""
    if name == "claim_band":
        values = claim_band(frame["claim_amount"]).astype(object)
        order = [label for label, _, _ in CLAIM_BANDS]
    elif name == "inquiry_done":
        done = frame["inquiry_done"].to_numpy(dtype=np.float64, na_value=_NAN)
        values = pd.Series(np.where(done == 1.0, "yes", "no"), dtype=object)
        values[np.isnan(done)] = np.nan
        order = ["yes", "no"]
    else:
        column = frame[name]
        values = column.astype(object).where(column.notna(), np.nan).map(str, na_action="ignore")
        codes = list(FIELD_BY_NAME[name].code_values) if name in FIELD_BY_NAME else []
        order = codes + sorted(set(values.dropna().unique()) - set(codes))
    values = values.astype(object).fillna(_MISSING).to_numpy(dtype=object)
    return values, [*order, _MISSING]


def slice_metrics(
    frame: pd.DataFrame,
    y,
    p,
    min_size: int = 200,
    n_bins: int = DEFAULT_BINS,
    columns: Sequence[str] = SLICE_COLUMNS,
) -> pd.DataFrame:
    """Metrics of the model on each slice of the cases.

    Slices (:data:`SLICE_COLUMNS`): ``province`` (code), ``court_level``,
    ``respondent_type``, ``claim_band`` (:func:`claim_band`) and
    ``inquiry_done`` (``yes``/``no``); a missing value is its own slice value
    ``(missing)``.  The first row (``slice == "all"``) is every labelled case,
    to compare against.

    ``y`` and ``p`` are aligned with ``frame`` by position.  Unlabelled cases
    are left out.  A slice value with fewer than ``min_size`` labelled cases
    is reported with its ``n`` and NaN metrics: its metrics would be noise.

    Columns: ``slice``, ``value``, ``n``, ``auc``, ``log_loss``, ``brier``,
    ``ece``, ``positive_rate``, ``mean_p``.
    """
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if not (len(frame) == y.size == p.size):
        raise ValueError(f"frame, y and p differ in length: {len(frame)}, {y.size}, {p.size}")
    missing = {"claim_amount" if s == "claim_band" else s for s in columns} - set(frame.columns)
    if missing:
        raise KeyError(f"case frame lacks the slice columns {sorted(missing)}")
    labelled = ~np.isnan(y)

    def row(slice_name: str, value: str, mask: np.ndarray) -> dict[str, object]:
        mask = mask & labelled
        n = int(mask.sum())
        out: dict[str, object] = {"slice": slice_name, "value": value, "n": n}
        if n >= min_size and n > 0:
            metrics = binary_metrics(y[mask], p[mask], n_bins=n_bins)
            out |= {k: metrics[k] for k in _SLICE_METRICS}
        else:
            out |= dict.fromkeys(_SLICE_METRICS, _NAN)
        return out

    rows = [row("all", "all", np.ones(y.size, dtype=bool))]
    for name in columns:
        values, order = _slice_values(frame, name)
        for value in order:
            mask = values == value
            if mask.any():
                rows.append(row(name, value, mask))
    table = pd.DataFrame(rows, columns=["slice", "value", "n", *_SLICE_METRICS])
    table["n"] = table["n"].astype(np.int64)
    return table


# --- the Bayes limit ----------------------------------------------------------------------


def bayes_limit(y, p_true, n_bins: int = DEFAULT_BINS) -> dict[str, float]:
    """The metrics a perfect model would get: :func:`binary_metrics` of the true probabilities."""
    return binary_metrics(y, p_true, n_bins=n_bins)


def gap_to_bayes(model_metrics: dict, bayes: dict) -> dict[str, float]:
    """How far a model is from the Bayes limit.

    Returns ``auc_gap = bayes_auc − model_auc`` (≥ 0 up to sampling noise),
    ``log_loss_gap = model − bayes``, ``log_loss_gap_pct = (model − bayes) /
    bayes × 100`` and ``brier_gap_pct`` likewise.  NaN where a metric is
    missing or NaN.
    """

    def get(metrics: dict, key: str) -> float:
        value = metrics.get(key)
        return _NAN if value is None else float(value)

    def pct(key: str) -> float:
        model, best = get(model_metrics, key), get(bayes, key)
        return (model - best) / best * 100.0 if best > 0 else _NAN

    return {
        "auc_gap": get(bayes, "auc") - get(model_metrics, "auc"),
        "log_loss_gap": get(model_metrics, "log_loss") - get(bayes, "log_loss"),
        "log_loss_gap_pct": pct("log_loss"),
        "brier_gap_pct": pct("brier"),
    }


# --- the published rule-based criteria ----------------------------------------------------

#: Rule-bucket scores of :func:`rule_based_stream_score`.
SIMPLE, UNDECIDED, COMPLEX = 0, 1, 2


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A numeric column as float64 (all NaN when the optional column is absent)."""
    if name not in frame.columns:
        return np.full(len(frame), _NAN)
    return frame[name].to_numpy(dtype=np.float64, na_value=_NAN)


def _code_is(frame: pd.DataFrame, name: str, code: str) -> np.ndarray:
    if name not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    return (frame[name] == code).fillna(False).to_numpy(dtype=bool)


def rule_based_stream_score(frame: pd.DataFrame, many_parties: int = 4) -> np.ndarray:
    """The published 丰顺 criteria for the two streams, as an ordinal score per case.

    ``0`` simple (:data:`SIMPLE`), ``1`` undecided (:data:`UNDECIDED`), ``2``
    complex (:data:`COMPLEX`):

    * **simple** — the first inquiry found deposits and online-payment funds
      (``bank_balance + online_payment_balance``) that pay the claim in full.
      This rule wins over the others: the money is frozen and paid out, the
      case needs nothing else.
    * **complex** — property to appraise and auction (``real_estate_count >
      0`` or ``equity_stakes > 0``); an enterprise in liquidation or
      bankruptcy (执转破); whereabouts unknown; many parties
      (``n_respondents + n_applicants >= many_parties``); a government organ
      or public institution as respondent.
    * **undecided** — none of these, including every case whose inquiry has
      not answered and shows no complex sign at filing.

    A missing value never triggers a rule.
    """
    bank = _column(frame, "bank_balance")
    online = _column(frame, "online_payment_balance")
    claim = _column(frame, "claim_amount")
    funds_known = ~np.isnan(bank) | ~np.isnan(online)
    funds = np.nan_to_num(bank) + np.nan_to_num(online)
    with np.errstate(invalid="ignore"):
        simple = funds_known & (funds >= claim)
        parties = _column(frame, "n_respondents") + _column(frame, "n_applicants")
        complex_ = (
            (_column(frame, "real_estate_count") > 0)
            | (_column(frame, "equity_stakes") > 0)
            | _code_is(frame, "enterprise_status", "in_liquidation")
            | (_column(frame, "whereabouts_known") == 0.0)
            | (parties >= many_parties)
            | _code_is(frame, "respondent_type", "government_organ")
        )
    score = np.full(len(frame), UNDECIDED, dtype=np.int64)
    score[complex_] = COMPLEX
    score[simple] = SIMPLE
    return score


class RuleBaseline(ClassifierMixin, BaseEstimator):
    """The published rule-based triage as a probabilistic baseline for ``is_complex``.

    ``fit`` learns the observed complex rate of each rule bucket of
    :func:`rule_based_stream_score` on the training cases; ``predict_proba``
    gives a case the rate of its bucket.  So the rules are judged on log loss
    and Brier score on the same footing as the models, not only on AUC.

    Parameters
    ----------
    many_parties : int, default=4
        Parties (respondents + applicants) from which a case counts as complex.
    smoothing : float, default=0.0
        Pseudo-cases pulling each bucket's rate towards the overall rate
        (0 = the plain observed rate).

    Attributes
    ----------
    rates_ : ndarray of shape (3,)
        Complex rate per bucket (simple, undecided, complex); a bucket without
        training cases gets the overall rate.
    counts_ : ndarray of shape (3,)
        Training cases per bucket.
    base_rate_ : float
        Overall complex rate of the training cases.
    classes_ : ndarray
        ``[0, 1]``.
    """

    def __init__(self, many_parties: int = 4, smoothing: float = 0.0):
        self.many_parties = many_parties
        self.smoothing = smoothing

    def fit(self, X: pd.DataFrame, y):
        """Learn the complex rate of each rule bucket (unlabelled cases are ignored)."""
        y = np.asarray(y, dtype=np.float64).ravel()
        if y.size != len(X):
            raise ValueError(f"X and y differ in length: {len(X)} vs {y.size}")
        labelled = ~np.isnan(y)
        if not labelled.any():
            raise ValueError("no labelled cases to fit on")
        buckets = rule_based_stream_score(X, self.many_parties)[labelled]
        y = y[labelled]
        self.base_rate_ = float(y.mean())
        self.counts_ = np.bincount(buckets, minlength=3).astype(np.int64)
        positives = np.bincount(buckets, weights=y, minlength=3)
        denominator = self.counts_ + self.smoothing
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = (positives + self.smoothing * self.base_rate_) / denominator
        self.rates_ = np.where(denominator > 0, rates, self.base_rate_)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``(n, 2)`` probabilities of simple and complex (the bucket rates)."""
        check_is_fitted(self, "rates_")
        p = self.rates_[rule_based_stream_score(X, self.many_parties)]
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the bucket's complex rate is at least one half."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


# --- leak detection -----------------------------------------------------------------------


def _sorted_column_auc(values: np.ndarray, is_pos: np.ndarray, n_pos: int, n_neg: int) -> float:
    """``max(auc, 1 − auc)`` of one column sorted ascending (NaN last), missing values
    below or above all others.

    ``values`` are the column's values of the labelled cases in sorted order and
    ``is_pos`` their labels (True for a positive) in the same order.  Counts
    positives and negatives per distinct value (ties count one half), so one
    sort of the column does it (a full rank transform is 5× slower).
    """
    n_present = int(np.count_nonzero(~np.isnan(values)))
    present_values = values[:n_present]
    # Group id of each present value in sorted order (ties share a group).
    group = np.cumsum(np.concatenate(([False], present_values[1:] != present_values[:-1])))[
        :n_present
    ]
    n_groups = int(group[-1]) + 1 if n_present else 0
    pos = np.bincount(group, weights=is_pos[:n_present], minlength=n_groups)
    neg = np.bincount(group, minlength=n_groups) - pos
    nan_pos = float(is_pos[n_present:].sum())
    nan_neg = float(values.size - n_present) - nan_pos
    # Pairs won by the positive among the present values: negatives strictly below, ties half.
    neg_below = np.cumsum(neg) - neg
    present = float(np.dot(pos, neg_below + 0.5 * neg))
    pos_present = float(pos.sum())
    neg_present = float(neg.sum())
    tie_nan = 0.5 * nan_pos * nan_neg
    # Missing as the lowest level, then as the highest.
    low = present + pos_present * nan_neg + tie_nan
    high = present + nan_pos * neg_present + tie_nan
    total = float(n_pos) * float(n_neg)
    auc_low, auc_high = low / total, high / total
    best = max(auc_low, 1.0 - auc_low, auc_high, 1.0 - auc_high)
    # Among the cases where the feature is known: a field filled only for some
    # cases (after they closed, say) can give the label away there alone.
    if pos_present and neg_present and n_present >= max(_MIN_PRESENT, 0.05 * values.size):
        auc_present = present / (pos_present * neg_present)
        best = max(best, auc_present, 1.0 - auc_present)
    return best


#: Fewest known values for the known-only AUC of a feature to count.
_MIN_PRESENT = 100


def single_feature_auc(X, y, feature_names: Sequence[str] | None = None) -> pd.Series:
    """AUC of each feature alone as a scorer: a leak shows as a value near 1.

    Each column is scored in both directions (``max(auc, 1 − auc)``) and its
    missing values are one more level, placed both below the minimum and
    above the maximum (the better of the two counts), so a column whose mere
    missingness gives the label away is caught too; the AUC among the cases
    where the feature is known counts as well (given 100 such cases and 5 %
    of all), so a field that gives the label away where it is filled is caught.  A constant column, or an
    all-missing one, scores 0.5.  Unlabelled (NaN) rows are left out; with a
    single class every AUC is NaN.

    Parameters
    ----------
    X : array-like of shape (n_cases, n_features)
        Feature matrix (NaN for missing), e.g. the feature builder's output.
    y : array-like of 0/1
    feature_names : sequence of str, optional
        Index of the result; the columns of a DataFrame ``X`` or ``x0 …``
        otherwise.

    Returns
    -------
    Series
        Named ``single_feature_auc``, one value per feature in column order
        (``.sort_values(ascending=False)`` puts suspects first).
    """
    return single_feature_aucs(X, {"y": y}, feature_names)["y"]


def single_feature_aucs(
    X, labels: Mapping[str, object], feature_names: Sequence[str] | None = None
) -> dict[str, pd.Series]:
    """:func:`single_feature_auc` of every label in ``labels``, each column sorted once.

    The sort is most of the work (on a million-case export, seconds per
    label); its order serves every label, each keeping its own labelled rows.
    Returns one Series per label, as :func:`single_feature_auc` gives it.
    """
    if feature_names is None:
        feature_names = (
            list(map(str, X.columns))
            if isinstance(X, pd.DataFrame)
            else [f"x{i}" for i in range(np.shape(X)[1])]
        )
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError("X must be two-dimensional")
    if len(feature_names) != X.shape[1]:
        raise ValueError(f"{len(feature_names)} names for {X.shape[1]} columns")
    index = pd.Index(list(feature_names))
    # Per label: which rows are labelled, which positive, and the class counts.
    targets: dict[str, tuple[np.ndarray, np.ndarray, int, int]] = {}
    for label, values in labels.items():
        y = np.asarray(values, dtype=np.float64).ravel()
        if y.size != X.shape[0]:
            raise ValueError(f"label {label}: {y.size} values for {X.shape[0]} rows")
        labelled = ~np.isnan(y)
        positive = y == 1.0
        n_pos = int(positive.sum())
        targets[label] = (labelled, positive, n_pos, int(labelled.sum()) - n_pos)
    scored = [label for label, (_, _, n_pos, n_neg) in targets.items() if n_pos and n_neg]
    best: dict[str, list[float]] = {label: [] for label in scored}
    if scored:
        columns = np.ascontiguousarray(X.T)  # one contiguous row per feature: faster sorts
        for column in columns:
            order = np.argsort(column)  # NaN sorts last
            for label in scored:
                labelled, positive, n_pos, n_neg = targets[label]
                # Leaving out unlabelled rows keeps the rest in sorted order.
                kept = order if labelled.all() else order[labelled[order]]
                best[label].append(_sorted_column_auc(column[kept], positive[kept], n_pos, n_neg))
    return {
        label: pd.Series(best.get(label, _NAN), index=index, name="single_feature_auc")
        for label in labels
    }


# --- logistic regression ------------------------------------------------------------------


def logistic_baseline(
    categorical_indices: Sequence[int] = (), C: float = 1.0, max_iter: int = 500
) -> Pipeline:
    """A logistic regression to put after the feature builder's output.

    The input is the builder's float64 matrix: NaN for missing, integer codes
    in the ``categorical_indices`` columns.  Categorical columns are one-hot
    encoded (missing is a category of its own, codes unseen in training are
    ignored — all zeros); every other column is median-imputed with a missing
    indicator and standardised (a column empty in training stays, as zeros).  Then ``LogisticRegression(C, max_iter)``
    (lbfgs).  Fits 140 k × 50 in a few seconds.
    """
    categorical = [int(i) for i in categorical_indices]
    numeric = make_pipeline(
        # A column empty in training is kept (as 0) rather than dropped with a warning.
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
    )
    columns = ColumnTransformer(
        [
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64),
                categorical,
            )
        ],
        remainder=numeric,
        sparse_threshold=0.0,
    )
    return Pipeline(
        [
            ("columns", columns),
            ("model", LogisticRegression(C=C, max_iter=max_iter)),
        ]
    )


# --- amounts and follow-up budgets (terminated cases) ---------------------------------------

#: Slices of terminated cases: the new-case slices that exist in the record, and the ground.
TERMINATED_SLICE_COLUMNS: tuple[str, ...] = (
    "province",
    "court_level",
    "respondent_type",
    "claim_band",
    "termination_reason",
)


def amount_metrics(y, yuan) -> dict[str, float]:
    """How well predicted yuan match recovered yuan (each case recovered something).

    ``gamma_deviance`` (mean, the loss of a multiplicative error), its
    ``deviance_skill`` against predicting every case the mean (1 − ratio: 0 is
    no better than the mean, 1 perfect), ``bias`` (predicted total ÷ realised
    total − 1), ``bias_noise`` (the realised total's standard error as a
    share of it: heavy-tailed amounts make a few hundred cases a noisy
    total), ``max_decile_error`` (the largest |predicted ÷ realised − 1| over
    deciles of the prediction), and ``n``.
    """
    y = np.asarray(y, dtype=np.float64)
    yuan = np.asarray(yuan, dtype=np.float64)
    if y.size == 0 or np.any(y <= 0) or np.any(yuan <= 0):
        raise ValueError("amount metrics need recovered cases and positive predictions")

    def deviance(pred: np.ndarray) -> float:
        return float(np.mean(2 * (np.log(pred / y) + y / pred - 1)))

    model = deviance(yuan)
    constant = deviance(np.full_like(y, y.mean()))
    deciles = amount_calibration(y, yuan)
    return {
        "n": float(y.size),
        "gamma_deviance": model,
        "deviance_skill": 1 - model / constant if constant > 0 else _NAN,
        "bias": float(yuan.sum() / y.sum() - 1),
        "bias_noise": float(y.std() / np.sqrt(y.size) / y.mean()),
        "max_decile_error": float(np.max(np.abs(deciles["ratio"] - 1))),
    }


def amount_calibration(y, yuan, expected=None, n_bins: int = 10) -> pd.DataFrame:
    """Predicted against realised yuan per decile of the prediction.

    Columns ``decile`` (1 lowest), ``n``, ``predicted`` and ``realised`` (means),
    ``ratio`` (predicted ÷ realised); with ``expected`` (the true expected
    amounts of synthetic cases) also ``expected`` and ``ratio_expected``: the
    same calibration without the noise of the realised amounts.
    """
    y = np.asarray(y, dtype=np.float64)
    yuan = np.asarray(yuan, dtype=np.float64)
    bins = _equal_mass_bins(yuan, n_bins)
    rows = []
    for b in range(int(bins.max()) + 1 if bins.size else 0):
        mask = bins == b
        if not mask.any():
            continue
        row = {
            "decile": b + 1,
            "n": int(mask.sum()),
            "predicted": float(yuan[mask].mean()),
            "realised": float(y[mask].mean()),
        }
        row["ratio"] = row["predicted"] / row["realised"]
        if expected is not None:
            row["expected"] = float(np.asarray(expected, dtype=np.float64)[mask].mean())
            row["ratio_expected"] = row["predicted"] / row["expected"]
        rows.append(row)
    return pd.DataFrame(rows)


def yuan_per_100_follow_ups(order: np.ndarray, expected_yuan: np.ndarray, budget: int) -> float:
    """Expected yuan recovered per 100 follow-ups of the first ``budget`` cases of ``order``.

    ``expected_yuan`` is each case's expected recovery if followed up: the
    truth of synthetic cases (exact, no sampling noise), or realised amounts
    of cases that were followed up at random (an unbiased, noisy estimate).
    """
    chosen = np.asarray(order)[: max(int(budget), 1)]
    return float(100 * np.mean(np.asarray(expected_yuan, dtype=np.float64)[chosen]))
