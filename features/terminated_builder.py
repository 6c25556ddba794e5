"""Model features of a terminated case (终本案件), built from the terminated-case record.

:class:`TerminatedFeatureBuilder` is to the terminated-case record
(:mod:`features.terminated`) what :class:`features.builder.CaseFeatureBuilder`
is to the new-case record: one float64 matrix for LightGBM from a canonical
frame (or validated records), with the same conventions — codes as indices of
a vocabulary learned in ``fit`` (unseen codes NaN), amounts as ``log1p``,
counts and booleans as they are, missing stays missing.

Dates are not features (they would teach the model the time drift of the
export); what they say about the case is: the months since termination and
since the last network inquiry.  Derived features put the amounts beside the
debt: what the last inquiry found against what is still owed, and how much of
the claim is unpaid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from features.record import FieldSpec, Kind
from features.terminated import TERMINATED_RECORD

if TYPE_CHECKING:
    from sklearn.utils import Tags

__all__ = [
    "TERMINATED_FEATURE_LABELS",
    "TERMINATED_FEATURE_NAMES",
    "TerminatedFeatureBuilder",
]

_NAN = float("nan")
_DAYS_PER_MONTH = 30.44

#: Feature fields of the record: everything a case carries before its outcome, but
#: identity and dates (dates enter as the months between them, below).
_FIELDS: tuple[FieldSpec, ...] = tuple(
    f for f in TERMINATED_RECORD.record_fields if f.is_feature and f.kind is not Kind.DATE
)
_CODE_FIELDS: tuple[FieldSpec, ...] = tuple(f for f in _FIELDS if f.kind is Kind.CODE)
_NUMERIC: tuple[str, ...] = tuple(f.name for f in _FIELDS if f.kind is not Kind.CODE)
_DATES: tuple[str, ...] = ("terminated_date", "as_of_date", "last_inquiry_date")
_REQUIRED: tuple[str, ...] = tuple(
    f.name for f in TERMINATED_RECORD.record_fields if f.required and f.is_feature
)


def _name(spec: FieldSpec) -> str:
    return f"{spec.name}_log" if spec.kind is Kind.AMOUNT else spec.name


#: Features computed from several fields, with what a clerk reads.
_DERIVED: tuple[tuple[str, str, str], ...] = (
    ("months_since_termination", "终本后月数", "months since termination"),
    ("months_since_last_inquiry", "距最近查控月数", "months since the last inquiry"),
    ("unpaid_share_of_claim", "未履行金额占标的额比例", "share of the claim still unpaid"),
    ("last_bank_to_unpaid_log", "最近查控存款÷未履行金额", "deposits found ÷ unpaid amount"),
    (
        "last_items_found",
        "最近查控可查封财产件数",
        "items found at the last inquiry (real estate, vehicles, equity)",
    ),
    ("zombie_enterprise", "企业已吊销或注销", "enterprise revoked or deregistered"),
)

#: Output columns, in order: the record's feature fields, then the derived features.
TERMINATED_FEATURE_NAMES: tuple[str, ...] = tuple(_name(f) for f in _FIELDS) + tuple(
    name for name, _, _ in _DERIVED
)
#: For each output feature: (Chinese, English) label, to phrase reasons.
TERMINATED_FEATURE_LABELS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {_name(f): (f.zh, f.en) for f in _FIELDS} | {name: (zh, en) for name, zh, en in _DERIVED}
)
_CATEGORICAL_INDICES: tuple[int, ...] = tuple(
    TERMINATED_FEATURE_NAMES.index(f.name) for f in _CODE_FIELDS
)
_ZOMBIE_STATUSES = ("revoked", "deregistered")


class TerminatedFeatureBuilder(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Build the model features of terminated cases (see the module docstring).

    Attributes mirror :class:`features.builder.CaseFeatureBuilder`:
    ``categories_`` (the learned vocabulary of each coded field) and
    ``categorical_features_`` (indices of the categorical output columns).
    """

    def __init__(self, min_frequency: int = 1):
        self.min_frequency = min_frequency

    def fit(self, X: object, y: object = None) -> TerminatedFeatureBuilder:
        """Learn the vocabulary of each coded field from a terminated-case frame."""
        if isinstance(self.min_frequency, bool) or not isinstance(self.min_frequency, int):
            raise ValueError(f"min_frequency must be an integer >= 1, got {self.min_frequency!r}")
        if self.min_frequency < 1:
            raise ValueError(f"min_frequency must be an integer >= 1, got {self.min_frequency!r}")
        frame = _frame(X)
        kept: dict[str, set[str]] = {}
        for spec in _CODE_FIELDS:
            counts = frame[spec.name].value_counts(dropna=True) if spec.name in frame else None
            kept[spec.name] = (
                set()
                if counts is None
                else {str(c) for c, n in counts.items() if n >= self.min_frequency}
            )
        return self._learn(kept)

    @classmethod
    def from_vocabulary(
        cls, categories: Mapping[str, Sequence[str]], min_frequency: int = 1
    ) -> TerminatedFeatureBuilder:
        """A fitted builder from a stored vocabulary (``categories_``), as models are saved."""
        builder = cls(min_frequency=min_frequency)
        return builder._learn({f.name: set(categories.get(f.name, ())) for f in _CODE_FIELDS})

    def _learn(self, kept: Mapping[str, set[str]]) -> TerminatedFeatureBuilder:
        categories: dict[str, tuple[str, ...]] = {}
        for spec in _CODE_FIELDS:
            # Contract order first, so codes stay put when a retrain sees the same codes.
            learned = [c for c in spec.code_values if c in kept[spec.name]]
            learned += sorted(c for c in kept[spec.name] if c not in spec.code_values)
            categories[spec.name] = tuple(learned)
        self.categories_ = categories
        self.categorical_features_ = list(_CATEGORICAL_INDICES)
        self.n_features_in_ = len(_FIELDS)
        self.feature_names_in_ = np.array([f.name for f in _FIELDS], dtype=object)
        return self

    def transform(self, X: object) -> np.ndarray:
        """Features of a canonical terminated-case frame (or records), one row per case."""
        check_is_fitted(self, "categories_")
        frame = _frame(X)
        return self._stack(self._features(frame))

    def transform_records(self, records: Sequence[Mapping[str, object]]) -> np.ndarray:
        """Features of validated records (dicts; ``None`` or an absent key is missing)."""
        return self.transform(pd.DataFrame.from_records(list(records)))

    def get_feature_names_out(self, input_features: Iterable[object] | None = None) -> np.ndarray:
        """Names of the output columns (see :data:`TERMINATED_FEATURE_NAMES`)."""
        check_is_fitted(self, "categories_")
        return np.array(TERMINATED_FEATURE_NAMES, dtype=object)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags

    def _features(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        n = len(frame)

        def number(name: str) -> np.ndarray:
            if name not in frame:
                return np.full(n, _NAN)
            return np.asarray(pd.to_numeric(frame[name], errors="coerce"), dtype=np.float64)

        def day(name: str) -> np.ndarray:
            if name not in frame:
                return np.full(n, _NAN)
            days = pd.to_datetime(frame[name]).to_numpy(dtype="datetime64[D]")
            return np.where(np.isnat(days), _NAN, days.astype(np.int64)).astype(np.float64)

        out: dict[str, np.ndarray] = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for spec in _FIELDS:
                if spec.kind is Kind.CODE:
                    index = {code: float(i) for i, code in enumerate(self.categories_[spec.name])}
                    values = frame[spec.name] if spec.name in frame else pd.Series([None] * n)
                    out[spec.name] = np.array(
                        [index.get(v, _NAN) if isinstance(v, str) else _NAN for v in values],
                        dtype=np.float64,
                    )
                elif spec.kind is Kind.AMOUNT:
                    out[_name(spec)] = np.log1p(number(spec.name))
                else:
                    out[spec.name] = number(spec.name)
            terminated, as_of, last = (day(name) for name in _DATES)
            out["months_since_termination"] = (as_of - terminated) / _DAYS_PER_MONTH
            out["months_since_last_inquiry"] = (as_of - last) / _DAYS_PER_MONTH
            unpaid = number("unpaid_amount")
            unpaid = np.where(unpaid > 0, unpaid, _NAN)
            out["unpaid_share_of_claim"] = unpaid / number("claim_amount")
            out["last_bank_to_unpaid_log"] = np.log1p(number("last_bank_balance") / unpaid)
            out["last_items_found"] = (
                number("last_real_estate_count")
                + number("last_vehicle_count")
                + number("last_equity_stakes")
            )
            status = frame.get("enterprise_status")
            zombie = (
                np.zeros(n, dtype=bool)
                if status is None
                else status.isin(_ZOMBIE_STATUSES).to_numpy(dtype=bool)
            )
            out["zombie_enterprise"] = zombie.astype(np.float64)
        return out

    @staticmethod
    def _stack(features: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.array([features[name] for name in TERMINATED_FEATURE_NAMES], dtype=np.float64).T


def _frame(X: object) -> pd.DataFrame:
    """A terminated-case frame from a frame or records, refusing anything else."""
    if isinstance(X, pd.DataFrame):
        frame = X
    elif isinstance(X, Sequence) and not isinstance(X, str):
        frame = pd.DataFrame.from_records(list(X))
    else:
        raise ValueError(
            "TerminatedFeatureBuilder reads terminated cases — a DataFrame with the record's "
            f"columns or a sequence of case dicts — not {type(X).__name__}"
        )
    missing = [name for name in _REQUIRED if name not in frame.columns]
    if missing:
        raise ValueError(f"not a terminated-case frame: the required columns {missing} are absent")
    return frame
