"""Feature building against the raw limit: LightGBM's own ``Booster.predict``.

Per single case (the API's filing-desk request), each measured as the median
of many timeit rounds, interleaved so that noise from other jobs on the machine
hits every candidate alike:

* ``booster_predict`` — ``Booster.predict`` on a prepared one-row numpy array
  (num_threads=1): the baseline;
* ``transform_records`` — :meth:`CaseFeatureBuilder.transform_records` on one dict;
* ``records_then_predict`` — both, i.e. the scoring path of the API;
* ``transform_frame`` — :meth:`CaseFeatureBuilder.transform` on a one-row DataFrame;
* ``dataframe_from_dict`` — building that one-row DataFrame from the dict.

In bulk: rows per second of ``transform`` on a one-million-row canonical frame
against ``Booster.predict`` on the same rows.

The cases are random but valid (every field from ``features.record``), not the
synthetic generator's, so that the benchmark measures speed only.
"""

from __future__ import annotations

import os
import platform
import statistics
import timeit
from collections.abc import Callable

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.builder import FEATURE_NAMES, CaseFeatureBuilder
from features.record import RECORD_FIELDS, FieldSpec, Group, Kind

TRAIN_ROWS = 4_000
BULK_ROWS = 1_000_000
SINGLE_ROUNDS = 31  # timeit rounds per single-case candidate; the median is reported
SINGLE_ROUND_SECONDS = 0.02  # calls per round are calibrated to about this long
BULK_ROUNDS = 3
LIGHTGBM_PARAMS = {
    "objective": "binary",
    "num_leaves": 31,
    "learning_rate": 0.05,
    "min_data_in_leaf": 20,
    "num_threads": 1,
    "verbose": -1,
    "seed": 0,
}
NUM_BOOST_ROUND = 100


def random_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` random valid cases as the loader's canonical frame (vectorised)."""
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for spec in RECORD_FIELDS:
        columns[spec.name] = _random_column(spec, n, rng)
    frame = pd.DataFrame(columns)
    # The contract's couplings: 终本 cases are part of the prior cases; nothing
    # preserved has no amount; an unanswered inquiry has no fields.
    prior = frame["respondent_prior_cases"].to_numpy()
    frame["respondent_prior_terminated"] = np.floor(rng.random(n) * (prior + 1))
    frame.loc[frame["litigation_preserved"] == 0.0, "preserved_amount"] = np.nan
    pending = rng.random(n) < 0.3
    frame["inquiry_done"] = np.where(pending, 0.0, 1.0)
    for spec in RECORD_FIELDS:
        if spec.group is Group.INQUIRY and spec.name != "inquiry_done":
            frame.loc[pending, spec.name] = np.nan
    return frame


def _random_column(spec: FieldSpec, n: int, rng: np.random.Generator):
    if spec.kind is Kind.STRING:
        return pd.Series([f"C{i}" for i in range(n)], dtype="str")
    if spec.kind is Kind.DATE:
        return pd.Series(np.datetime64("2024-03-15") + rng.integers(0, 365, n))
    if spec.kind is Kind.CODE:
        codes = np.array(spec.code_values, dtype=object)[rng.integers(0, len(spec.codes), n)]
        if not spec.required:
            codes[rng.random(n) < 0.5] = None
        return pd.Series(codes, dtype="str")
    if spec.kind is Kind.AMOUNT:
        values = rng.lognormal(10.8, 2.0, n)
        values[rng.random(n) < 0.2] = 0.0 if spec.minimum == 0 and not spec.min_exclusive else 1.0
    elif spec.kind is Kind.INTEGER:
        low = spec.minimum or 0
        high = spec.maximum if spec.maximum is not None else low + 5
        values = np.floor(low + rng.random(n) * (high - low + 1))
    else:  # booleans and labels
        values = (rng.random(n) < 0.5).astype(np.float64)
    if not spec.required:
        values[rng.random(n) < 0.15] = np.nan
    return values


def record(frame: pd.DataFrame, i: int) -> dict[str, object]:
    """Row ``i`` as the API has it after validation: int, bool, str, None for missing."""
    case: dict[str, object] = {}
    for spec in RECORD_FIELDS:
        value = frame[spec.name].iloc[i]
        if spec.kind is Kind.DATE:
            case[spec.name] = str(value.date())
        elif value is None or (isinstance(value, float) and np.isnan(value)):
            case[spec.name] = None
        elif spec.kind is Kind.INTEGER:
            case[spec.name] = int(value)
        elif spec.kind is Kind.BOOLEAN:
            case[spec.name] = bool(value)
        elif spec.kind is Kind.AMOUNT:
            case[spec.name] = float(value)
        else:
            case[spec.name] = str(value)
    return case


def train(frame: pd.DataFrame, builder: CaseFeatureBuilder) -> lgb.Booster:
    """A small LightGBM on builder output, with a label that uses many features."""
    X = builder.transform(frame)
    rng = np.random.default_rng(1)
    standardised = np.nan_to_num((X - np.nanmean(X, axis=0)) / (np.nanstd(X, axis=0) + 1e-9))
    logit = standardised @ rng.normal(0.0, 0.5, X.shape[1]) + rng.logistic(size=len(X))
    data = lgb.Dataset(
        X,
        (logit > 0).astype(int),
        feature_name=list(FEATURE_NAMES),
        categorical_feature=builder.categorical_features_,
    )
    return lgb.train(LIGHTGBM_PARAMS, data, num_boost_round=NUM_BOOST_ROUND)


def per_call_seconds(candidates: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Median seconds per call of each candidate, rounds interleaved across candidates."""
    numbers = {}
    for name, call in candidates.items():
        call()  # warm up
        number, seconds = timeit.Timer(call).autorange()
        numbers[name] = max(1, round(number * SINGLE_ROUND_SECONDS / seconds))
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(SINGLE_ROUNDS):
        for name, call in candidates.items():
            seconds = timeit.Timer(call).timeit(numbers[name])
            samples[name].append(seconds / numbers[name])
    return {name: statistics.median(values) for name, values in samples.items()}


def bulk_seconds(call: Callable[[], object]) -> float:
    """Median seconds of a long call over a few rounds."""
    return statistics.median(timeit.Timer(call).repeat(repeat=BULK_ROUNDS, number=1))


def run() -> dict:
    """Measure and return ratios against ``Booster.predict`` (see the module docstring)."""
    frame = random_frame(TRAIN_ROWS, seed=0)
    builder = CaseFeatureBuilder().fit(frame)
    booster = train(frame, builder)

    # A case with the inquiry answered: the slower, more common path at scoring time.
    answered = int(np.flatnonzero(frame["inquiry_done"].to_numpy() == 1.0)[0])
    case = record(frame, answered)
    row = builder.transform_records([case])  # the prepared numpy row of the baseline
    one_row = pd.DataFrame([case])
    if not np.array_equal(builder.transform(one_row), row, equal_nan=True):
        raise RuntimeError("transform and transform_records disagree on the benchmark case")

    single = per_call_seconds(
        {
            "booster_predict": lambda: booster.predict(row, num_threads=1),
            "transform_records": lambda: builder.transform_records([case]),
            "records_then_predict": lambda: booster.predict(
                builder.transform_records([case]), num_threads=1
            ),
            "transform_frame": lambda: builder.transform(one_row),
            "dataframe_from_dict": lambda: pd.DataFrame([case]),
        }
    )
    base = single["booster_predict"]

    big = random_frame(BULK_ROWS, seed=2)
    features = builder.transform(big)
    transform_s = bulk_seconds(lambda: builder.transform(big))
    predict_s = bulk_seconds(lambda: booster.predict(features, num_threads=1))

    return {
        "baseline": "LightGBM Booster.predict, num_threads=1, prepared numpy input",
        "ratios": {
            f"{name} / booster_predict, time": round(seconds / base, 2)
            for name, seconds in single.items()
            if name != "booster_predict"
        }
        | {"transform / booster_predict, 1M rows, time": round(transform_s / predict_s, 4)},
        "single_case_microseconds": {k: round(v * 1e6, 2) for k, v in single.items()},
        "bulk_rows_per_second": {
            "transform": round(BULK_ROWS / transform_s),
            "booster_predict": round(BULK_ROWS / predict_s),
        },
        "setup": {
            "features": len(FEATURE_NAMES),
            "train_rows": TRAIN_ROWS,
            "bulk_rows": BULK_ROWS,
            "num_boost_round": NUM_BOOST_ROUND,
            "num_leaves": LIGHTGBM_PARAMS["num_leaves"],
            "single_rounds": SINGLE_ROUNDS,
            "bulk_rounds": BULK_ROUNDS,
            "lightgbm": lgb.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
    }
