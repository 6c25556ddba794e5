"""Model features of an enforcement case (执行案件), built from the case record.

:class:`CaseFeatureBuilder` turns validated cases into one float64 matrix for
LightGBM and the logistic-regression baseline.  It reads two equivalent forms:

* the *canonical frame* of :mod:`features.load` (one column per contract
  field; codes as ``str`` with NaN for missing; numbers and booleans as
  float64 with NaN for missing), used in training and batch scoring;
* *records*, the dicts the API has after validation (``None`` or an absent key
  for missing), through :meth:`CaseFeatureBuilder.transform_records`, the fast
  path for scoring one case at a time.

Both forms become the same thing first — a dict of 1-D float64 arrays, one per
contract feature field, codes replaced by vocabulary indices — and then go
through the one formula function, :meth:`CaseFeatureBuilder._features`.  So
the API and batch scoring give bit-identical features for the same case.

What the features are (see ``../shared/domain.md``, "What predicts the
outcome"):

* every feature field of the contract, derived from :data:`features.record.FIELDS`:
  coded fields as integer codes of the vocabulary learned in ``fit`` (codes
  unseen in training become NaN, which LightGBM treats as missing), counts and
  booleans (1/0) as they are, amounts as ``log1p``;
* domain features on top: funds, liquid assets, securities, preserved value
  and registered capital relative to the claim (as ``log1p`` of the ratio),
  the share of prior cases that ended 终本, the seizable items, and the
  indicators the published triage criteria use.

Missing stays missing: a feature is NaN when a field it reads is empty, and
every inquiry feature is NaN while the first network inquiry has not
answered.  The only zeros the builder supplies are *known* zeros: nothing was
preserved when ``litigation_preserved`` is false, and a respondent that is not
an enterprise is not a revoked or deregistered enterprise.  No date features:
the filing date would only teach the model the time drift of the training data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeGuard

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from features.record import FEATURE_FIELDS, INQUIRY_FIELDS, FieldSpec, Group, Kind

if TYPE_CHECKING:
    from sklearn.utils import Tags

__all__ = [
    "FEATURE_LABELS",
    "FEATURE_NAMES",
    "INQUIRY_FEATURE_NAMES",
    "CaseFeatureBuilder",
    "feature_label",
]

_NAN = float("nan")

# --- the input fields, straight from the contract ------------------------------------------

#: Feature fields read as numbers: amounts, counts and booleans (1.0/0.0).
_NUMERIC_INPUTS: tuple[str, ...] = tuple(f.name for f in FEATURE_FIELDS if f.kind is not Kind.CODE)
#: Coded feature fields: each gets a vocabulary in ``fit``.
_CODE_FIELDS: tuple[FieldSpec, ...] = tuple(f for f in FEATURE_FIELDS if f.kind is Kind.CODE)
_CODE_INPUTS: tuple[str, ...] = tuple(f.name for f in _CODE_FIELDS)
#: Columns a case frame must have; an optional field's column may be absent (all missing).
_REQUIRED_INPUTS: tuple[str, ...] = tuple(f.name for f in FEATURE_FIELDS if f.required)
_INQUIRY_INPUTS: tuple[str, ...] = tuple(f.name for f in INQUIRY_FIELDS)


def _field_feature_name(spec: FieldSpec) -> str:
    # Amounts are log-normal over five orders of magnitude: the log is what a
    # linear model can use, and trees do not care (monotone).
    return f"{spec.name}_log" if spec.kind is Kind.AMOUNT else spec.name


# --- the output features --------------------------------------------------------------------

#: Features computed from several fields, the group of the fields they read (inquiry
#: features are unknown until the first inquiry answers) and what a court clerk reads.
_DERIVED_FEATURES: tuple[tuple[str, Group, str, str], ...] = (
    (
        "prior_terminated_share",
        Group.FILING,
        "既往案件终本比例",
        "share of prior cases ended without property",
    ),
    ("preserved_to_claim_log", Group.FILING, "保全金额÷标的额", "preserved ÷ claim"),
    ("capital_to_claim_log", Group.FILING, "注册资本÷标的额", "registered capital ÷ claim"),
    ("zombie_enterprise", Group.FILING, "企业已吊销或注销", "enterprise revoked or deregistered"),
    (
        "person_tort_crime_case",
        Group.FILING,
        "自然人交通事故或刑事涉财案件",
        "individual debtor, traffic or criminal case",
    ),
    ("funds_found_log", Group.INQUIRY, "查到的存款与网络资金", "funds found (bank + online)"),
    ("funds_to_claim_log", Group.INQUIRY, "存款与网络资金÷标的额", "funds found ÷ claim"),
    ("funds_cover_claim", Group.INQUIRY, "存款与网络资金足以清偿", "funds found cover the claim"),
    (
        "liquid_to_claim_log",
        Group.INQUIRY,
        "存款、网络资金与证券÷标的额",
        "funds and securities ÷ claim",
    ),
    ("securities_to_claim_log", Group.INQUIRY, "证券市值÷标的额", "securities ÷ claim"),
    (
        "seizable_items",
        Group.INQUIRY,
        "可查封财产件数（不动产、车辆、股权）",
        "items to seize (real estate, vehicles, equity)",
    ),
    ("nothing_found", Group.INQUIRY, "首次查控未发现财产", "nothing found at first inquiry"),
    (
        "property_sale_likely",
        Group.INQUIRY,
        "资金不足且有财产需处置",
        "funds short, property to sell",
    ),
)

#: Names of the output columns, in order: every feature field of the contract, then
#: the derived features.  Stable across fits (the vocabularies change codes, not columns).
FEATURE_NAMES: tuple[str, ...] = tuple(_field_feature_name(f) for f in FEATURE_FIELDS) + tuple(
    name for name, _, _, _ in _DERIVED_FEATURES
)

#: Output features that come from the first network inquiry: all NaN until it answered.
INQUIRY_FEATURE_NAMES: tuple[str, ...] = tuple(
    _field_feature_name(f) for f in INQUIRY_FIELDS
) + tuple(name for name, group, _, _ in _DERIVED_FEATURES if group is Group.INQUIRY)

#: For each output feature: (Chinese, English) label a clerk understands, to phrase reasons.
FEATURE_LABELS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {_field_feature_name(f): (f.zh, f.en) for f in FEATURE_FIELDS}
    | {name: (zh, en) for name, _, zh, en in _DERIVED_FEATURES}
)

_CATEGORICAL_INDICES: tuple[int, ...] = tuple(
    FEATURE_NAMES.index(_field_feature_name(f)) for f in _CODE_FIELDS
)

# Codes the domain formulas look at (``test_builder`` checks they exist in the contract).
_ZOMBIE_STATUSES = ("revoked", "deregistered")
_ENTERPRISE = "enterprise"
_NATURAL_PERSON = "natural_person"
_TRAFFIC_ACCIDENT = "traffic_accident"
_CRIMINAL_PROPERTY = "criminal_property"


def feature_label(name: str, lang: str = "zh") -> str:
    """What a clerk reads for an output feature (``lang`` is ``"zh"`` or ``"en"``)."""
    zh, en = FEATURE_LABELS[name]
    return zh if lang == "zh" else en


def _flag(condition: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """``condition`` as 1.0/0.0, NaN where ``probe`` (a sum of the inputs) is NaN."""
    return np.where(np.isnan(probe), _NAN, condition)


# scikit-learn ships no type information, so its base classes are Any to mypy; a
# transformer has to subclass them all the same (fit_transform, get_params, clone).
class CaseFeatureBuilder(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Build the model features of enforcement cases.

    Parameters
    ----------
    min_frequency : int, default=1
        A code must occur at least this often in the training data to get a
        category of its own; rarer codes are treated like codes never seen
        (NaN), so that a model does not learn from a handful of cases.

    Attributes
    ----------
    categories_ : dict[str, tuple[str, ...]]
        Learned vocabulary of each coded field; the output code of a case is
        the index of its code in this tuple.
    categorical_features_ : list[int]
        Indices of the categorical output columns (``categorical_feature=`` of
        LightGBM).
    n_features_in_ : int
        Number of contract feature fields the builder reads.
    feature_names_in_ : ndarray of str
        Those fields.  Other columns of a frame (identity, outcomes, extra
        columns) are ignored, so scoring frames need not carry outcomes.
    """

    def __init__(self, min_frequency: int = 1):
        self.min_frequency = min_frequency

    # --- scikit-learn API ------------------------------------------------------------------

    def fit(self, X: object, y: object = None) -> CaseFeatureBuilder:
        """Learn the vocabulary of each coded field from a case frame or records."""
        if (
            isinstance(self.min_frequency, bool)
            or not isinstance(self.min_frequency, int | np.integer)
            or self.min_frequency < 1
        ):
            raise ValueError(f"min_frequency must be an integer >= 1, got {self.min_frequency!r}")
        frame = _as_case_frame(X)
        kept_codes: dict[str, set[str]] = {}
        for spec in _CODE_FIELDS:
            if spec.name in frame.columns:
                counts = frame[spec.name].value_counts(dropna=True)
                kept_codes[spec.name] = {
                    code for code, count in counts.items() if count >= self.min_frequency
                }
            else:
                kept_codes[spec.name] = set()
        return self._learn(kept_codes)

    @classmethod
    def from_vocabulary(
        cls, categories: Mapping[str, Sequence[str]], min_frequency: int = 1
    ) -> CaseFeatureBuilder:
        """A fitted builder from a stored vocabulary (``categories_``), as models are saved."""
        builder = cls(min_frequency=min_frequency)
        return builder._learn(
            {spec.name: set(categories.get(spec.name, ())) for spec in _CODE_FIELDS}
        )

    def _learn(self, kept_codes: Mapping[str, set[str]]) -> CaseFeatureBuilder:
        categories: dict[str, tuple[str, ...]] = {}
        # Looked up with whatever a case holds (a code, None, a stray number), so
        # any value is a key to look up; only codes are found.
        code_index: dict[str, dict[object, float]] = {}
        n_learned: dict[str, int] = {}
        for spec in _CODE_FIELDS:
            kept = kept_codes[spec.name]
            contract = spec.code_values
            # Contract order first, so codes stay put when a retrain sees the same codes.
            learned = [c for c in contract if c in kept]
            learned += sorted((c for c in kept if c not in contract), key=str)
            # Contract codes the model never saw still get an index past the learned
            # ones: their categorical output is NaN, but the domain indicators
            # (zombie enterprise, traffic case …) still know what they are.
            extended = learned + [c for c in contract if c not in kept]
            categories[spec.name] = tuple(learned)
            code_index[spec.name] = {code: float(i) for i, code in enumerate(extended)}
            n_learned[spec.name] = len(learned)
        self.categories_ = categories
        self.categorical_features_ = list(_CATEGORICAL_INDICES)
        self.n_features_in_ = len(FEATURE_FIELDS)
        self.feature_names_in_ = np.array([f.name for f in FEATURE_FIELDS], dtype=object)
        self._code_index_ = code_index
        self._n_learned_ = n_learned
        # The records path reads these on every call: build them once.
        self._record_code_maps_ = tuple((name, code_index[name]) for name in _CODE_INPUTS)
        return self

    def transform(self, X: object) -> np.ndarray:
        """Features of a case frame (or of records) as a float64 array, one row per case."""
        check_is_fitted(self, "categories_")
        if isinstance(X, pd.DataFrame):
            _check_case_columns(X)
            return self._stack(self._features(self._raw_from_frame(X)))
        if _is_records(X):
            return self.transform_records(X)
        raise _refuse(X)

    def transform_records(self, records: Sequence[Mapping[str, object]]) -> np.ndarray:
        """Features of validated records (dicts; ``None`` or an absent key is missing).

        The API's fast path: no pandas, one numpy array built from the dicts,
        then the same formulas as :meth:`transform`, which it equals exactly.
        """
        try:
            code_maps = self._record_code_maps_
        except AttributeError:
            raise NotFittedError(
                "This CaseFeatureBuilder is not fitted yet; call fit before transform_records."
            ) from None
        # One row per field (not per case), so that every input column is a
        # contiguous array as in the frame path: numpy may pick other kernels for
        # strided inputs, and the two paths must agree to the last bit.
        # dtype=float64 turns None into NaN and True/False into 1.0/0.0.
        numbers = np.array(
            [[case.get(name) for case in records] for name in _NUMERIC_INPUTS], dtype=np.float64
        )
        codes = np.array(
            [[index.get(case.get(name), _NAN) for case in records] for name, index in code_maps],
            dtype=np.float64,
        )
        raw = dict(zip(_NUMERIC_INPUTS, numbers, strict=True))
        raw.update(zip(_CODE_INPUTS, codes, strict=True))
        return self._stack(self._features(raw))

    def get_feature_names_out(self, input_features: Iterable[object] | None = None) -> np.ndarray:
        """Names of the output columns (see :data:`FEATURE_NAMES`)."""
        check_is_fitted(self, "categories_")
        if input_features is not None:
            missing = sorted(set(_REQUIRED_INPUTS) - {str(name) for name in input_features})
            if missing:
                raise ValueError(f"input_features lacks the case-record fields {missing}")
        return np.array(FEATURE_NAMES, dtype=object)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values are part of the contract
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.input_tags.dict = True  # records: a sequence of case dicts
        return tags

    # --- the two input forms -> one dict of float64 arrays ---------------------------------

    def _raw_from_frame(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        n = len(frame)
        columns = frame.columns
        raw: dict[str, np.ndarray] = {}
        for name in _NUMERIC_INPUTS:
            if name in columns:
                raw[name] = frame[name].to_numpy(dtype=np.float64, na_value=_NAN)
            else:
                raw[name] = np.full(n, _NAN)
        for name in _CODE_INPUTS:
            if name in columns:
                # Factorise (one hash pass, in Arrow for string columns), then map the
                # few distinct codes through the vocabulary: the last slot of the
                # lookup is NaN and catches factorize's -1 for missing.
                found, distinct = pd.factorize(frame[name], use_na_sentinel=True)
                index = self._code_index_[name]
                lookup = np.array([index.get(code, _NAN) for code in distinct] + [_NAN])
                raw[name] = lookup[found]
            else:
                raw[name] = np.full(n, _NAN)
        return raw

    # --- the one formula code ---------------------------------------------------------------

    def _features(self, raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output feature from the input columns (never modifies ``raw``)."""
        index = self._code_index_
        with np.errstate(divide="ignore", invalid="ignore"):
            value = dict(raw)
            claim = raw["claim_amount"]
            value["claim_amount"] = claim = np.where(claim > 0.0, claim, _NAN)
            # Inquiry fields mean nothing until the inquiry answered, whatever a row holds.
            answered = np.where(raw["inquiry_done"] == 1.0, 1.0, _NAN)
            for name in _INQUIRY_INPUTS:
                value[name] = raw[name] * answered
            # Nothing preserved is a known zero; preserved with no amount stays unknown.
            value["preserved_amount"] = preserved = np.where(
                raw["litigation_preserved"] == 0.0, 0.0, raw["preserved_amount"]
            )

            out: dict[str, np.ndarray] = {}
            for spec in FEATURE_FIELDS:
                column = value[spec.name]
                if spec.kind is Kind.CODE:
                    # Contract codes unseen in training sit past the learned ones: NaN.
                    if len(index[spec.name]) > self._n_learned_[spec.name]:
                        column = np.where(column < self._n_learned_[spec.name], column, _NAN)
                    out[spec.name] = column
                elif spec.kind is Kind.AMOUNT:
                    out[f"{spec.name}_log"] = np.log1p(column)
                else:
                    out[spec.name] = column

            prior = value["respondent_prior_cases"]
            # No prior cases: the share is undefined, not zero.
            out["prior_terminated_share"] = value["respondent_prior_terminated"] / np.where(
                prior > 0.0, prior, _NAN
            )
            out["preserved_to_claim_log"] = np.log1p(preserved / claim)
            out["capital_to_claim_log"] = np.log1p(value["registered_capital"] / claim)

            status = value["enterprise_status"]
            respondent = value["respondent_type"]
            respondents = index["respondent_type"]
            revoked, deregistered = (index["enterprise_status"][c] for c in _ZOMBIE_STATUSES)
            zombie = (status == revoked) | (status == deregistered)
            # The status is empty for a respondent that is no enterprise: a known 0.
            not_enterprise = (respondent != respondents[_ENTERPRISE]) & ~np.isnan(respondent)
            out["zombie_enterprise"] = np.where(~np.isnan(status) | not_enterprise, zombie, _NAN)

            cause = value["cause"]
            basis = value["basis_type"]
            out["person_tort_crime_case"] = _flag(
                (respondent == respondents[_NATURAL_PERSON])
                & (
                    (cause == index["cause"][_TRAFFIC_ACCIDENT])
                    | (basis == index["basis_type"][_CRIMINAL_PROPERTY])
                ),
                respondent + cause + basis,
            )

            # Sums are NaN when a part is unknown: "not found" is never assumed.
            funds = value["bank_balance"] + value["online_payment_balance"]
            securities = value["securities_value"]
            liquid = funds + securities
            items = value["real_estate_count"] + value["vehicle_count"] + value["equity_stakes"]
            out["funds_found_log"] = np.log1p(funds)
            out["funds_to_claim_log"] = np.log1p(funds / claim)
            out["funds_cover_claim"] = _flag(funds >= claim, funds + claim)
            out["liquid_to_claim_log"] = np.log1p(liquid / claim)
            out["securities_to_claim_log"] = np.log1p(securities / claim)
            out["seizable_items"] = items
            out["nothing_found"] = _flag((liquid == 0.0) & (items == 0.0), liquid + items)
            # Cash short of the claim and something to seize: appraisal and auction ahead.
            out["property_sale_likely"] = _flag(
                (liquid < claim) & (items > 0.0), liquid + claim + items
            )
        return out

    @staticmethod
    def _stack(features: Mapping[str, np.ndarray]) -> np.ndarray:
        # One (feature x case) array, handed out transposed: column-major, so that
        # each feature is one contiguous copy — on a million rows ten times faster
        # than strided writes into a row-major matrix, and one numpy call for a
        # single case.  LightGBM and scikit-learn read either layout.
        return np.array([features[name] for name in FEATURE_NAMES], dtype=np.float64).T


def _is_records(X: object) -> TypeGuard[Sequence[Mapping[str, object]]]:
    """Whether ``X`` is a sequence of case dicts (records)."""
    return (
        isinstance(X, Sequence)
        and not isinstance(X, str)
        and all(isinstance(case, Mapping) for case in X)
    )


def _refuse(X: object) -> Exception:
    """The error for input that is no case: scikit-learn's convention of ValueError
    for arrays that cannot be used, TypeError for sparse matrices."""
    what = type(X).__name__
    if sparse.issparse(X):
        return TypeError(f"CaseFeatureBuilder does not take sparse input ({what}): it reads cases")
    return ValueError(
        "CaseFeatureBuilder reads cases — a DataFrame with the case-record columns or a "
        f"sequence of case dicts — not {what}: bare arrays carry no field names"
    )


def _as_case_frame(X: object) -> pd.DataFrame:
    """A case frame from a frame or records, refusing anything else (e.g. bare arrays)."""
    if isinstance(X, pd.DataFrame):
        frame = X
    elif _is_records(X):
        frame = pd.DataFrame.from_records(list(X))
    else:
        raise _refuse(X)
    _check_case_columns(frame)
    return frame


def _check_case_columns(frame: pd.DataFrame) -> None:
    """Refuse a frame that is not a canonical case frame, naming what is wrong."""
    missing = [name for name in _REQUIRED_INPUTS if name not in frame.columns]
    if missing:
        raise ValueError(f"not a case frame: the required case-record columns {missing} are absent")
    for name in _CODE_INPUTS:
        # A CSV read without the loader turns province "44" into the number 44, which
        # would silently match no code; an all-empty optional column may be float NaN.
        if (
            name in frame.columns
            and pd.api.types.is_numeric_dtype(frame[name].dtype)
            and frame[name].notna().any()
        ):
            raise ValueError(
                f"coded field {name!r} holds numbers ({frame[name].dtype}), not code strings: "
                "load the cases with features.load"
            )
