"""Tests of the feature builder: scikit-learn conventions, the domain rules (missing
stays missing, known zeros, unseen codes), the two input forms giving the same
numbers, and the direction of the main signals."""

from __future__ import annotations

import math
import pickle

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from features import builder as builder_module
from features.builder import (
    FEATURE_LABELS,
    FEATURE_NAMES,
    INQUIRY_FEATURE_NAMES,
    CaseFeatureBuilder,
    feature_label,
)
from features.record import (
    FEATURE_FIELDS,
    FIELD_BY_NAME,
    FIELDS,
    INQUIRY_FIELDS,
    LABELS,
    RECORD_FIELDS,
    Kind,
    example_case,
)

CODE_FIELDS = [f for f in FEATURE_FIELDS if f.kind is Kind.CODE]
INQUIRY_NAMES = [f.name for f in INQUIRY_FIELDS]

# --- cases built by hand from the contract ---------------------------------------------------


def random_cases(n: int, seed: int, *, codes: dict[str, list[str]] | None = None) -> list[dict]:
    """Varied valid cases as the API has them: every field from record.FIELDS, with
    missing values (None or an absent key), inquiries not yet answered, nothing
    preserved and preserved-without-amount.  ``codes`` restricts coded fields."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        case: dict[str, object] = {}
        for spec in RECORD_FIELDS:
            if spec.kind is Kind.STRING:
                value: object = (
                    f"(2024)粤0305执{seed}-{i}号" if spec.name == "case_id" else "440305"
                )
            elif spec.kind is Kind.DATE:
                value = "2024-03-15"
            elif spec.kind is Kind.CODE:
                allowed = (codes or {}).get(spec.name, spec.code_values)
                value = str(rng.choice(allowed))
            elif spec.name == "claim_amount":
                value = round(float(rng.lognormal(10.8, 2.0)), 2) + 1.0
            elif spec.kind is Kind.AMOUNT:
                # Exact zeros matter (nothing found); otherwise log-normal like real claims.
                value = 0.0 if rng.random() < 0.2 else round(float(rng.lognormal(10.5, 2.0)), 2)
            elif spec.kind is Kind.INTEGER:
                low = int(spec.minimum or 0)
                high = int(spec.maximum) if spec.maximum is not None else low + 4
                value = int(rng.integers(low, high + 1))
            else:
                value = bool(rng.random() < 0.5)
            if not spec.required and rng.random() < 0.15:
                if rng.random() < 0.5:
                    continue  # key absent
                value = None
            case[spec.name] = value
        bound = case["respondent_prior_cases"]
        case["respondent_prior_terminated"] = int(rng.integers(0, bound + 1))
        if not case["litigation_preserved"]:
            case["preserved_amount"] = None
        if case["inquiry_done"] is False or rng.random() < 0.05:
            case["inquiry_done"] = False
            for name in INQUIRY_NAMES:
                case[name] = None
                if rng.random() < 0.5:
                    del case[name]
        cases.append(case)
    return cases


def case_frame(cases: list[dict], *, code_dtype: str = "str") -> pd.DataFrame:
    """The canonical frame of the loader for the given cases (outcome columns included,
    to check that they are ignored)."""
    columns: dict[str, object] = {}
    for spec in RECORD_FIELDS:
        values = [case.get(spec.name) for case in cases]
        if spec.kind is Kind.DATE:
            columns[spec.name] = pd.to_datetime(pd.Series(values))
        elif spec.kind in (Kind.STRING, Kind.CODE):
            series = pd.Series(values, dtype="str")
            columns[spec.name] = series.astype(code_dtype) if code_dtype != "str" else series
        else:
            columns[spec.name] = pd.Series(
                [np.nan if v is None else float(v) for v in values], dtype="float64"
            )
    for label in LABELS:
        columns[label] = np.ones(len(cases))
    return pd.DataFrame(columns)


def inquiry_answer(amount: int) -> dict[str, object]:
    """An inquiry answer with every amount and count set to ``amount`` (salary: yes)."""
    return {
        spec.name: (amount > 0) if spec.kind is Kind.BOOLEAN else amount for spec in INQUIRY_FIELDS
    }


def one(builder: CaseFeatureBuilder, case: dict) -> dict[str, float]:
    """Features of one case by name."""
    return dict(zip(FEATURE_NAMES, builder.transform_records([case])[0], strict=True))


@pytest.fixture(scope="module")
def training_cases() -> list[dict]:
    return random_cases(400, seed=1)


@pytest.fixture(scope="module")
def fitted(training_cases) -> CaseFeatureBuilder:
    return CaseFeatureBuilder().fit(case_frame(training_cases))


# --- scikit-learn conventions --------------------------------------------------------------

_NEEDS_CASES = "fits on random numbers: the builder reads case records, refuses bare arrays"
_ARRAY_MESSAGE = "wants sklearn's array-shape message: the builder refuses bare arrays first"


def _expected_failed_checks(estimator) -> dict[str, str]:
    """Checks that cannot apply: each one fits on random numbers, which are no cases.
    What they protect is tested below with cases (pickle, idempotent fit, batch
    invariance, no state change in transform, not-fitted errors)."""
    needs_cases = [
        "check_complex_data",
        "check_dict_unchanged",
        "check_dont_overwrite_parameters",
        "check_dtype_object",
        "check_estimators_dtypes",
        "check_estimators_fit_returns_self",
        "check_estimators_overwrite_params",
        "check_estimators_pickle",
        "check_estimators_pickle(readonly_memmap=True)",
        "check_f_contiguous_array_estimator",
        "check_fit2d_predict1d",
        "check_fit_check_is_fitted",
        "check_fit_idempotent",
        "check_fit_score_takes_y",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_n_features_in",
        "check_n_features_in_after_fitting",
        "check_pipeline_consistency",
        "check_positive_only_tag_during_fit",
        "check_readonly_memmap_input",
        "check_transformer_data_not_an_array",
        "check_transformer_general",
        "check_transformer_general(readonly_memmap=True)",
        "check_transformer_preserve_dtypes",
        "check_array_api_input",
    ]
    wrong_message = [
        "check_estimators_empty_data_messages",
        "check_fit2d_1sample",
        "check_fit2d_1feature",
    ]
    return {name: _NEEDS_CASES for name in needs_cases} | {
        name: _ARRAY_MESSAGE for name in wrong_message
    }


# Strict: a check that passes must not hide in the excuse list.
@parametrize_with_checks(
    [CaseFeatureBuilder()], expected_failed_checks=_expected_failed_checks, xfail_strict=True
)
def test_sklearn_checks(estimator, check):
    check(estimator)


def test_fit_returns_self_and_sets_learned_attributes(training_cases):
    builder = CaseFeatureBuilder()
    assert builder.fit(case_frame(training_cases)) is builder
    assert builder.n_features_in_ == len(FEATURE_FIELDS)
    assert list(builder.feature_names_in_) == [f.name for f in FEATURE_FIELDS]
    assert set(builder.categories_) == {f.name for f in CODE_FIELDS}
    names = builder.get_feature_names_out()
    assert [names[i] for i in builder.categorical_features_] == [f.name for f in CODE_FIELDS]
    assert builder.get_params() == {"min_frequency": 1}


def test_not_fitted_raises():
    with pytest.raises(NotFittedError):
        CaseFeatureBuilder().transform_records([example_case()])
    with pytest.raises(NotFittedError):
        CaseFeatureBuilder().transform(case_frame([example_case()]))


def test_refuses_what_is_not_a_case(fitted):
    with pytest.raises(ValueError, match="reads cases"):
        CaseFeatureBuilder().fit(np.zeros((3, 3)))
    frame = case_frame([example_case()]).drop(columns=["claim_amount"])
    with pytest.raises(ValueError, match="claim_amount"):
        fitted.transform(frame)
    numeric_codes = case_frame([example_case()]).assign(province=44)
    with pytest.raises(ValueError, match="province"):
        fitted.transform(numeric_codes)
    with pytest.raises(ValueError, match="province"):
        CaseFeatureBuilder().fit(numeric_codes)
    with pytest.raises(ValueError, match="min_frequency"):
        CaseFeatureBuilder(min_frequency=0).fit(case_frame([example_case()]))


def test_fit_is_idempotent_and_transform_keeps_state(training_cases):
    frame = case_frame(training_cases)
    builder = CaseFeatureBuilder().fit(frame)
    first = builder.transform(frame)
    state = pickle.dumps(builder.__dict__)
    builder.transform(frame)
    builder.transform_records(training_cases[:3])
    assert pickle.dumps(builder.__dict__) == state
    assert_array_equal(builder.fit(frame).transform(frame), first)
    assert builder.min_frequency == 1


def test_transform_does_not_modify_its_input(fitted, training_cases):
    frame = case_frame(training_cases)
    before = frame.copy()
    cases = [dict(c) for c in training_cases]
    fitted.transform(frame)
    fitted.transform_records(cases)
    pd.testing.assert_frame_equal(frame, before)
    assert cases == training_cases


def test_rows_do_not_depend_on_the_batch(fitted, training_cases):
    frame = case_frame(training_cases)
    full = fitted.transform(frame)
    order = np.random.default_rng(0).permutation(len(frame))
    assert_array_equal(fitted.transform(frame.iloc[order]), full[order])
    assert_array_equal(fitted.transform(frame.iloc[10:17]), full[10:17])


def test_clone_and_pickle_round_trip(fitted, training_cases):
    unfitted = clone(fitted)
    assert unfitted.get_params() == fitted.get_params()
    assert not hasattr(unfitted, "categories_")
    restored = pickle.loads(pickle.dumps(fitted))
    assert_array_equal(
        restored.transform_records(training_cases), fitted.transform_records(training_cases)
    )
    frame = case_frame(training_cases)
    assert_array_equal(restored.transform(frame), fitted.transform(frame))


# --- names and labels ----------------------------------------------------------------------


def test_feature_names_are_unique_stable_and_labelled(fitted):
    names = list(fitted.get_feature_names_out())
    assert names == list(FEATURE_NAMES)
    assert len(set(names)) == len(names)
    assert 35 <= len(names) <= 50
    other = CaseFeatureBuilder().fit(case_frame(random_cases(20, seed=9)))
    assert list(other.get_feature_names_out()) == names
    assert set(FEATURE_LABELS) == set(names)
    for name in names:
        zh, en = FEATURE_LABELS[name]
        assert zh.strip() and en.strip(), name
        assert feature_label(name, "zh") == zh and feature_label(name, "en") == en
    assert len({zh for zh, _ in FEATURE_LABELS.values()}) == len(names)
    assert len({en for _, en in FEATURE_LABELS.values()}) == len(names)


def test_features_come_from_feature_fields_only():
    # Identity, dates and outcomes never become features; every feature field does.
    never = [f.name for f in FIELDS if not f.is_feature]
    for name in FEATURE_NAMES:
        assert not any(name == field or name.startswith(f"{field}_") for field in never), name
    for spec in FEATURE_FIELDS:
        assert spec.name in FEATURE_NAMES or f"{spec.name}_log" in FEATURE_NAMES


def test_formulas_make_exactly_the_named_features(fitted):
    raw = {name: np.array([np.nan]) for name in fitted.feature_names_in_}
    assert list(fitted._features(raw)) == list(FEATURE_NAMES)


def test_domain_codes_exist_in_the_contract():
    module = builder_module
    assert set(module._ZOMBIE_STATUSES) <= set(FIELD_BY_NAME["enterprise_status"].code_values)
    assert module._ENTERPRISE in FIELD_BY_NAME["respondent_type"].code_values
    assert module._NATURAL_PERSON in FIELD_BY_NAME["respondent_type"].code_values
    assert module._TRAFFIC_ACCIDENT in FIELD_BY_NAME["cause"].code_values
    assert module._CRIMINAL_PROPERTY in FIELD_BY_NAME["basis_type"].code_values


def test_get_feature_names_out_checks_input_features(fitted):
    assert list(fitted.get_feature_names_out(fitted.feature_names_in_)) == list(FEATURE_NAMES)
    with pytest.raises(ValueError, match="claim_amount"):
        fitted.get_feature_names_out(["province"])


def test_pandas_output_carries_the_names(training_cases):
    builder = CaseFeatureBuilder().set_output(transform="pandas")
    out = builder.fit_transform(case_frame(training_cases))
    assert list(out.columns) == list(FEATURE_NAMES)


# --- output ----------------------------------------------------------------------------------


def test_output_is_float64_with_integer_category_codes(fitted, training_cases):
    out = fitted.transform(case_frame(training_cases))
    assert out.dtype == np.float64
    assert out.shape == (len(training_cases), len(FEATURE_NAMES))
    for index, spec in zip(fitted.categorical_features_, CODE_FIELDS, strict=True):
        column = out[:, index]
        known = column[~np.isnan(column)]
        assert np.array_equal(known, np.round(known))
        assert known.min() >= 0 and known.max() < len(fitted.categories_[spec.name])
    assert fitted.transform_records([]).shape == (0, len(FEATURE_NAMES))


def test_example_case_by_hand():
    case = example_case()
    got = one(CaseFeatureBuilder().fit([case]), case)
    claim = case["claim_amount"]
    funds = case["bank_balance"] + case["online_payment_balance"]
    assert got["claim_amount_log"] == pytest.approx(math.log1p(claim))
    assert got["funds_to_claim_log"] == pytest.approx(math.log1p(funds / claim))
    assert got["liquid_to_claim_log"] == pytest.approx(math.log1p(funds / claim))
    assert got["preserved_to_claim_log"] == pytest.approx(
        math.log1p(case["preserved_amount"] / claim)
    )
    assert got["prior_terminated_share"] == 0.0
    assert got["seizable_items"] == 1.0
    assert got["nothing_found"] == 0.0
    assert got["funds_cover_claim"] == 0.0
    assert got["property_sale_likely"] == 1.0
    assert got["zombie_enterprise"] == 0.0  # a natural person is no revoked firm
    assert got["dishonest_listed"] == 0.0 and got["whereabouts_known"] == 1.0
    assert np.isnan(got["registered_capital_log"]) and np.isnan(got["capital_to_claim_log"])
    assert got["province"] == 0.0


# --- domain rules ----------------------------------------------------------------------------


def test_unseen_codes_become_nan_without_error():
    seen = {"province": ["44", "11"], "cause": ["private_lending", "lease"]}
    builder = CaseFeatureBuilder().fit(case_frame(random_cases(50, seed=3, codes=seen)))
    assert builder.categories_["province"] == ("11", "44")
    cases = [
        dict(example_case(), province="65", cause="traffic_accident"),  # in the contract
        dict(example_case(), province="99", cause="moon_rent"),  # not even in the contract
        dict(example_case(), province=None, cause=None),
    ]
    for out in (builder.transform_records(cases), builder.transform(case_frame(cases))):
        for name in ("province", "cause"):
            assert np.isnan(out[:, FEATURE_NAMES.index(name)]).all()
    # A contract code unseen in training still counts in the domain indicators.
    tort = FEATURE_NAMES.index("person_tort_crime_case")
    assert builder.transform_records(cases[:1])[0, tort] == 1.0


def test_rare_codes_below_min_frequency_are_unseen():
    cases = random_cases(60, seed=4, codes={"province": ["44"]})
    cases[0]["province"] = "11"
    builder = CaseFeatureBuilder(min_frequency=2).fit(case_frame(cases))
    assert builder.categories_["province"] == ("44",)
    assert np.isnan(one(builder, cases[0])["province"])


def test_inquiry_not_done_leaves_every_inquiry_feature_missing(fitted):
    # Even a row that (against the contract) carries inquiry values: not answered is unknown.
    filled = inquiry_answer(5)
    done = one(fitted, dict(example_case(), **filled, inquiry_done=True))
    pending = one(fitted, dict(example_case(), **filled, inquiry_done=False))
    unknown = one(fitted, dict(example_case(), **filled, inquiry_done=None))
    for name in INQUIRY_FEATURE_NAMES:
        assert not np.isnan(done[name]), name
        assert np.isnan(pending[name]), name
        assert np.isnan(unknown[name]), name
    assert pending["inquiry_done"] == 0.0


def test_inquiry_feature_list_is_complete(fitted):
    # Features outside INQUIRY_FEATURE_NAMES never move with the inquiry's answers.
    base = one(fitted, example_case())
    rich = one(fitted, dict(example_case(), **inquiry_answer(10**7)))
    moved = {n for n in FEATURE_NAMES if not np.array_equal(base[n], rich[n], equal_nan=True)}
    assert moved <= set(INQUIRY_FEATURE_NAMES)
    assert {"funds_to_claim_log", "seizable_items"} <= moved


def test_missing_values_stay_missing(fitted):
    case = dict(example_case(), bank_balance=None, respondent_age=None, respondent_prior_cases=0)
    case.pop("online_payment_balance")
    got = one(fitted, case)
    for name in (
        "bank_balance_log",
        "funds_found_log",
        "funds_to_claim_log",
        "funds_cover_claim",
        "liquid_to_claim_log",
        "nothing_found",
        "property_sale_likely",
        "online_payment_balance_log",
        "respondent_age",
        "prior_terminated_share",
    ):
        assert np.isnan(got[name]), name
    assert got["securities_to_claim_log"] == 0.0  # securities known to be zero
    assert got["seizable_items"] == 1.0


def test_nothing_preserved_is_a_known_zero(fitted):
    not_preserved = one(
        fitted, dict(example_case(), litigation_preserved=False, preserved_amount=None)
    )
    assert not_preserved["preserved_to_claim_log"] == 0.0
    assert not_preserved["preserved_amount_log"] == 0.0
    unknown_amount = one(
        fitted, dict(example_case(), litigation_preserved=True, preserved_amount=None)
    )
    assert np.isnan(unknown_amount["preserved_to_claim_log"])
    assert np.isnan(unknown_amount["preserved_amount_log"])


def test_zombie_enterprise_indicator(fitted):
    firm = dict(example_case(), respondent_type="enterprise", respondent_age=None)
    assert one(fitted, dict(firm, enterprise_status="revoked"))["zombie_enterprise"] == 1.0
    assert one(fitted, dict(firm, enterprise_status="deregistered"))["zombie_enterprise"] == 1.0
    assert one(fitted, dict(firm, enterprise_status="active"))["zombie_enterprise"] == 0.0
    assert np.isnan(one(fitted, dict(firm, enterprise_status=None))["zombie_enterprise"])


# --- direction -------------------------------------------------------------------------------


AMOUNTS = (0, 1, 3, 1_000, 10**6)


@pytest.mark.parametrize(
    ("field", "feature", "values"),
    [
        ("bank_balance", "funds_to_claim_log", AMOUNTS),
        ("online_payment_balance", "funds_to_claim_log", AMOUNTS),
        ("bank_balance", "funds_found_log", AMOUNTS),
        ("securities_value", "liquid_to_claim_log", AMOUNTS),
        ("securities_value", "securities_to_claim_log", AMOUNTS),
        ("preserved_amount", "preserved_to_claim_log", AMOUNTS),
        ("registered_capital", "capital_to_claim_log", AMOUNTS),
        ("respondent_prior_terminated", "prior_terminated_share", (0, 1, 4, 10)),
        ("real_estate_count", "seizable_items", (0, 1, 2, 5)),
        ("equity_stakes", "seizable_items", (0, 1, 2, 5)),
    ],
)
def test_direction(fitted, field, feature, values):
    case = dict(example_case(), respondent_prior_cases=10)
    values = [one(fitted, dict(case, **{field: v}))[feature] for v in values]
    assert all(a < b for a, b in zip(values, values[1:], strict=False)), values


def test_claim_direction_and_coverage(fitted):
    case = example_case()
    funds = case["bank_balance"] + case["online_payment_balance"]
    ratios = [
        one(fitted, dict(case, claim_amount=c))["funds_to_claim_log"] for c in (1e3, 1e4, 1e5, 1e6)
    ]
    assert all(a > b for a, b in zip(ratios, ratios[1:], strict=False))
    assert one(fitted, dict(case, claim_amount=funds))["funds_cover_claim"] == 1.0
    assert one(fitted, dict(case, claim_amount=funds + 1))["funds_cover_claim"] == 0.0
    assert one(fitted, dict(case, **inquiry_answer(0)))["nothing_found"] == 1.0


# --- the two input forms -----------------------------------------------------------------------


def _varied_cases() -> list[dict]:
    cases = random_cases(300, seed=11)
    # Codes never seen in training, in and outside the contract.
    cases[0]["province"] = "99"
    cases[1]["cause"] = "moon_rent"
    cases[2]["enterprise_status"] = "revoked"
    cases[3]["claim_amount"] = 0.01
    return cases


@pytest.mark.parametrize("code_dtype", ["str", "object"])
def test_records_equal_frame(code_dtype):
    train = random_cases(200, seed=5, codes={"province": ["44", "11", "31"]})
    builder = CaseFeatureBuilder().fit(case_frame(train, code_dtype=code_dtype))
    cases = _varied_cases()
    frame_out = builder.transform(case_frame(cases, code_dtype=code_dtype))
    assert_array_equal(builder.transform_records(cases), frame_out)
    one_by_one = np.vstack([builder.transform_records([case]) for case in cases])
    assert_array_equal(one_by_one, frame_out)
    assert_array_equal(builder.transform(cases), frame_out)
    assert np.isnan(frame_out).any() and not np.isnan(frame_out).all(axis=0).any()


def test_absent_optional_columns_are_all_missing(fitted):
    cases = _varied_cases()
    optional = [f.name for f in FEATURE_FIELDS if not f.required]
    frame = case_frame(cases).drop(columns=optional)
    stripped = [{k: v for k, v in case.items() if k not in optional} for case in cases]
    out = fitted.transform(frame)
    assert_array_equal(out, fitted.transform_records(stripped))
    assert_array_equal(out, fitted.transform(case_frame(stripped)))
    # An optional coded column that is empty throughout may arrive as float NaN.
    all_empty = case_frame(stripped).assign(enterprise_status=np.nan)
    assert_array_equal(fitted.transform(all_empty), out)


def test_fit_on_frame_or_records_learns_the_same(training_cases):
    from_frame = CaseFeatureBuilder().fit(case_frame(training_cases))
    from_records = CaseFeatureBuilder().fit(training_cases)
    assert from_frame.categories_ == from_records.categories_


def test_identity_outcome_and_extra_columns_are_ignored(fitted, training_cases):
    frame = case_frame(training_cases)
    base = fitted.transform(frame)
    noisy = frame.assign(is_complex=0.0, court_id="110101", unknown_column="x")
    noisy = noisy[noisy.columns[::-1]]  # column order is free
    assert_array_equal(fitted.transform(noisy), base)


def test_lightgbm_reads_the_output(fitted, training_cases):
    X = fitted.transform(case_frame(training_cases))
    y = (np.nan_to_num(X[:, FEATURE_NAMES.index("funds_to_claim_log")]) > 0.5).astype(int)
    data = lgb.Dataset(
        X,
        y,
        categorical_feature=fitted.categorical_features_,
        feature_name=list(FEATURE_NAMES),
        free_raw_data=False,
    )
    booster = lgb.train(
        {"objective": "binary", "num_threads": 1, "verbose": -1, "min_data_in_leaf": 5},
        data,
        num_boost_round=5,
    )
    rows = fitted.transform_records(training_cases[:5])
    assert_array_equal(booster.predict(rows), booster.predict(np.ascontiguousarray(rows)))
    assert booster.feature_name() == list(FEATURE_NAMES)
