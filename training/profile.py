"""The reference profile of a model version, built at training time.

For every model feature the share of training cases in each bin, and for the
model's score the share of test cases in each probability band: what drift
monitoring (``serving/drift.py``) compares live cases with.  The format and
the bins are :mod:`models.profile`'s.

Numeric features are cut at the deciles of their training values (ties
merged, so a flag has two cut points and a count a few); the first bin holds
the training minimum — the zeros of a zero-inflated amount, the ``0`` of a
flag — and the last one values *above* anything seen in training, which is
where a jump in claim sizes shows first.  Coded fields get one share per
code of the model's vocabulary.  Every entry also has the share *missing*
(a field left empty, or an inquiry feature before the first network inquiry
answered), so that a change in what is filled in is drift too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from features.builder import CaseFeatureBuilder
from models.profile import SCORE_CUTS, SCORE_KEY, Bins, CodeProfile, NumericProfile, ProfileEntry

__all__ = ["PROFILE_QUANTILES", "feature_profile", "scored_profile"]

#: Where the cut points of a numeric feature's bins come from: the training deciles.
PROFILE_QUANTILES: tuple[float, ...] = tuple(i / 10 for i in range(11))


def numeric_entry(
    values: np.ndarray, cuts: Sequence[float] | None = None, *, kind: str = "numeric"
) -> NumericProfile:
    """Profile entry of a numeric feature (cut at its deciles) or of a score (fixed cuts)."""
    values = np.asarray(values, dtype=np.float64)
    known = values[~np.isnan(values)]
    if cuts is None:
        # Cut at values that occur (no interpolation): a flag cuts at 0 and 1, not at 0.6.
        cuts = (
            np.unique(np.quantile(known, PROFILE_QUANTILES, method="inverted_cdf")).tolist()
            if len(known)
            else []
        )
    counts = Bins(np.asarray(cuts, dtype=np.float64)).counts(values)
    n = max(len(values), 1)
    return NumericProfile(
        kind="score" if kind == "score" else "numeric",
        edges=tuple(float(x) for x in cuts),
        shares=tuple((counts[:-1] / n).tolist()),
        missing=float(counts[-1] / n),
        n=int(len(values)),
    )


def categorical_entry(values: np.ndarray, vocabulary: Sequence[str]) -> CodeProfile:
    """Profile entry of a coded feature: share of each learned code (by index and by name)."""
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    found, counts = np.unique(values[~missing], return_counts=True)
    n = max(len(values), 1)
    return CodeProfile(
        kind="categorical",
        values=tuple(found.tolist()),
        codes=tuple(vocabulary[int(v)] for v in found),
        shares=tuple((counts / n).tolist()),
        missing=float(missing.mean()) if len(values) else 0.0,
        n=int(len(values)),
    )


def feature_profile(
    feature_names: Sequence[str], builder: CaseFeatureBuilder, X_train: np.ndarray
) -> dict[str, ProfileEntry]:
    """The training-feature half of a reference profile: one entry per model feature.

    Models fitted on the same features (both of one training run) share it,
    so a run computes it once: on a million-case export it is seconds of
    quantiles per feature.
    """
    profile: dict[str, ProfileEntry] = {}
    categorical = set(builder.categorical_features_)
    for index, name in enumerate(feature_names):
        column = X_train[:, index]
        if index in categorical:
            profile[name] = categorical_entry(column, builder.categories_[name])
        else:
            profile[name] = numeric_entry(column)
    return profile


def scored_profile(
    features: Mapping[str, ProfileEntry], p_test: np.ndarray
) -> dict[str, ProfileEntry]:
    """A model's reference profile: its training features' :func:`feature_profile`
    (shared by the models of one run) and its own test scores.

    ``p_test`` (scores of the out-of-time test split) rather than training
    scores: a model scores its own training cases more confidently than any
    new case.
    """
    profile = dict(features)
    profile[SCORE_KEY] = numeric_entry(
        np.asarray(p_test, dtype=np.float64), SCORE_CUTS, kind="score"
    )
    return profile
