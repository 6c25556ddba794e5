"""Expected yuan given a recovery: one fit shared by the terminated and the new-case models.

Both ``triage-recovery`` (terminated cases, yuan recovered after a follow-up)
and the amount part of ``triage-assets`` (new cases, ``recovered_amount``
given ``has_recoverable_assets``) learn the mean amount of the cases that
recovered something, and both need the same care:

* a LightGBM **gamma** regression by default (log link: it fits the mean, and
  its errors are relative, as they are across five orders of magnitude of
  debts); least squares on log yuan is the alternative
  (``TrainingConfig.recovery_objective``);
* the **level** corrected on the validation cases (a ``log_link``
  :class:`~models.calibration.ScoreCalibrator` intercept), never on the
  training cases, whose total a few huge amounts set.

:func:`fit_amount` is that fit, on the rows the caller chose, and its
evaluation on the test rows; the callers wrap it in their own model.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.calibration import ScoreCalibrator
from models.case_model import exposure_amount
from training import evaluate
from training.config import TrainingConfig
from training.fit import FitResult, refit_booster, search_and_fit
from training.split import TimeSplit

log = logging.getLogger(__name__)

__all__ = ["AmountFit", "fit_amount", "recovered_rows"]


@dataclass
class AmountFit:
    """A fitted amount model, its level, and how it did on its test rows."""

    booster: lgb.Booster
    calibrator: ScoreCalibrator
    fitted: FitResult
    refitted: bool
    #: Positions of the recovered cases it was fitted, levelled and tested on.
    rows: TimeSplit
    #: Expected yuan of the recovered test cases (in ``rows.test`` order).
    test_yuan: np.ndarray
    #: ``model``, ``mean of training cases`` and (with the truth) ``bayes_limit`` test metrics.
    metrics: dict[str, dict[str, float]]
    validation_metrics: dict[str, float]
    #: Predicted against realised (and true) yuan per decile of the recovered test cases.
    deciles: pd.DataFrame
    #: The ``log1p`` amount feature the prediction multiplies (see ``fit_amount``), or None.
    exposure: str | None = None
    exposure_column: int | None = None

    def predict(self, X: np.ndarray, *, threads: int = 1) -> np.ndarray:
        """Expected yuan given a recovery of prepared features."""
        raw = np.asarray(self.booster.predict(X, raw_score=True, num_threads=threads))
        return self.calibrator.probability(raw) * _exposure(X, self.exposure_column)


def _exposure(X: np.ndarray, column: int | None) -> np.ndarray | float:
    return 1.0 if column is None else exposure_amount(X, column)


def recovered_rows(split: TimeSplit, recovered: np.ndarray) -> TimeSplit:
    """The positions of each part of ``split`` whose case recovered something."""
    return TimeSplit(*(rows[recovered[rows]] for rows in split.parts().values()))


def fit_amount(
    X: np.ndarray,
    amount: np.ndarray,
    rows: TimeSplit,
    config: TrainingConfig,
    *,
    categorical: list[int],
    feature_names: list[str],
    seconds: float,
    expected: np.ndarray | None = None,
    name: str = "amount",
    exposure: str | None = None,
) -> AmountFit:
    """Search, fit, level and evaluate the expected yuan of recovered cases.

    ``rows`` are positions of ``X`` of recovered cases only (their
    ``amount`` > 0); ``expected`` (the generator's true expected amount given
    a recovery, aligned to ``X``) adds the Bayes limit to the metrics.
    Search until 35 % of ``seconds``, the final fit until 80 %, the refit on
    training and validation cases in what is left.

    ``exposure`` names a ``log1p`` amount feature (``claim_amount_log``): the
    booster then learns the *share* of that amount recovered, and the yuan
    are the share times the amount.  For the gamma loss this is the same fit
    as yuan with a log-exposure offset (its deviance is scale-free), and it
    lets the prediction follow a claim larger than any in training, where
    trees on yuan stay flat at the largest leaf they learnt: the few largest
    claims carry half the expected yuan of a sample.
    """
    train, valid, test = rows.train, rows.validation, rows.test
    log_target = config.recovery_objective == "log"
    column = None if exposure is None else feature_names.index(exposure)
    scale = np.ones(len(amount)) if column is None else exposure_amount(X, column)
    # Rows outside ``rows`` are never fitted on; any positive placeholder keeps the label valid.
    positive = np.where(amount > 0, amount / scale, 1.0)
    y = np.log(positive) if log_target else positive
    started = time.monotonic()
    fitted = search_and_fit(
        name,
        X,
        y,
        train,
        valid,
        categorical=categorical,
        feature_names=feature_names,
        config=config.search,
        threads=config.threads,
        objective="regression" if log_target else "gamma",
        seconds=seconds,
        started=started,
    )
    raw_valid = np.asarray(
        fitted.booster.predict(X[valid], raw_score=True, num_threads=config.threads)
    )
    # The level, on the held-out validation cases: exp of a mean log is a median (Duan's
    # smearing fixes it), and a gamma fit shrunk toward the mean in log space falls short
    # of the mean in yuan.  Not on the training cases: their total is set by a few huge
    # amounts the fit cannot follow (at 20 k terminated cases, total ÷ prediction was 2.0
    # on them against 1.0-1.2 out of sample).  A few hundred validation cases leave it noisy.
    if column is None:
        intercept = float(np.log(amount[valid].sum() / np.exp(raw_valid).sum()))
    else:
        # With an exposure the same level is the mean of realised ÷ predicted, each a share
        # of a claim and so bounded: in yuan a handful of the largest claims would set it
        # (at 4,000 cases the validation total's own noise was ±17 %).
        intercept = float(np.log(np.mean(amount[valid] / (np.exp(raw_valid) * scale[valid]))))
    calibrator = ScoreCalibrator(method="log_link", intercept=intercept)
    both = np.concatenate([train, valid])
    refitted = refit_booster(
        X[both],
        y[both],
        fitted,
        n_fit_rows=len(train),
        categorical=categorical,
        feature_names=feature_names,
        seconds_left=started + seconds - time.monotonic(),
    )
    booster = fitted.booster if refitted is None else refitted
    raw_test = np.asarray(booster.predict(X[test], raw_score=True, num_threads=config.threads))
    test_yuan = calibrator.probability(raw_test) * scale[test]
    y_test = amount[test]
    metrics = {"model": evaluate.amount_metrics(y_test, test_yuan)}
    baseline = np.full_like(y_test, amount[train].mean())
    metrics["mean of training cases"] = evaluate.amount_metrics(y_test, baseline)
    truth = None if expected is None else expected[test]
    if truth is not None:
        metrics["bayes_limit"] = evaluate.amount_metrics(y_test, truth)
    return AmountFit(
        booster=booster,
        calibrator=calibrator,
        fitted=fitted,
        refitted=refitted is not None,
        rows=rows,
        test_yuan=test_yuan,
        metrics=metrics,
        validation_metrics=evaluate.amount_metrics(
            amount[valid], calibrator.probability(raw_valid) * scale[valid]
        ),
        deciles=evaluate.amount_calibration(y_test, test_yuan, truth),
        exposure=exposure,
        exposure_column=column,
    )


def describe_amount_fit(fit: AmountFit) -> dict[str, Any]:
    """The fit's boosting facts, as a card shows them."""
    return {
        "learning_rate": fit.fitted.params["learning_rate"],
        "trees": fit.booster.num_trees(),
        "validation_log_loss": fit.fitted.validation_log_loss,
        "cut_short": fit.fitted.cut_short,
        "refitted": fit.refitted,
    }


#: The new-case amount part learns the share of the claim recovered (see ``fit_amount``).
CLAIM_EXPOSURE = "claim_amount_log"
#: Fewest recovered cases of each part (train, validation, test) an amount model is fitted on.
MIN_RECOVERED_PER_PART = 30


@dataclass
class RecoveryPart:
    """The new-case assets model's amount part: its fit and what it is worth on the test split.

    ``calibration`` is the point of it: expected recovery (``p_assets ×
    E[amount | recovered]``) per decile of its prediction on every test case,
    mean predicted against mean realised ``recovered_amount`` (0 where nothing
    was recovered) and, with the generator's truth, the true expected recovery.
    """

    fit: AmountFit
    calibration: pd.DataFrame
    #: Realised and predicted totals over the test split, and their ratio.
    totals: dict[str, float]


def amount_problem(frame: pd.DataFrame, split: TimeSplit) -> str | None:
    """Why the export cannot teach the amount part, or None when it can.

    The amount is the contract's optional ``recovered_amount``: an export
    without it (or with too few recovered cases carrying it) still trains the
    probability models, whose assets version then carries no amount part.
    """
    if "recovered_amount" not in frame.columns or frame["recovered_amount"].isna().all():
        return "the export has no recovered_amount column"
    rows = recovered_rows(split, _with_amount(frame))
    short = {
        name: len(part) for name, part in rows.parts().items() if len(part) < MIN_RECOVERED_PER_PART
    }
    if short:
        listed = ", ".join(f"{name} {n}" for name, n in short.items())
        return (
            f"too few recovered cases with a recovered_amount ({listed}; at least "
            f"{MIN_RECOVERED_PER_PART} in each part are needed)"
        )
    return None


def _with_amount(frame: pd.DataFrame) -> np.ndarray:
    """Cases that recovered something and say how much (a recovery of 0 yuan says nothing)."""
    amount = frame["recovered_amount"].to_numpy(dtype=np.float64)
    assets = frame["has_recoverable_assets"].to_numpy(dtype=np.float64) == 1
    with np.errstate(invalid="ignore"):
        return assets & np.isfinite(amount) & (amount > 0)


def fit_recovery_part(
    frame: pd.DataFrame,
    X: np.ndarray,
    split: TimeSplit,
    config: TrainingConfig,
    *,
    p_assets_test: np.ndarray,
    categorical: list[int],
    feature_names: list[str],
    seconds: float,
    true_recovery: np.ndarray | None = None,
    true_p_assets: np.ndarray | None = None,
) -> RecoveryPart:
    """E[recovered_amount | recovered] of new cases, and expected recovery's test calibration.

    ``p_assets_test`` is the assets model's calibrated probability of the
    test cases (``split.test`` order); ``true_recovery`` and ``true_p_assets``
    the generator's true expected recovery and probability of every case,
    when known (their ratio is the true expected amount given a recovery).
    Call only when :func:`amount_problem` finds none.
    """
    recovered = _with_amount(frame)
    amount = np.where(recovered, frame["recovered_amount"].to_numpy(dtype=np.float64), 0.0)
    expected_given = None
    if true_recovery is not None and true_p_assets is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            expected_given = np.where(true_p_assets > 0, true_recovery / true_p_assets, np.nan)
    fit = fit_amount(
        X,
        amount,
        recovered_rows(split, recovered),
        config,
        categorical=categorical,
        feature_names=feature_names,
        seconds=seconds,
        expected=expected_given,
        name="assets amount",
        exposure=CLAIM_EXPOSURE,
    )
    test = split.test
    predicted = p_assets_test * fit.predict(X[test], threads=config.threads)
    realised = amount[test]
    expected = None if true_recovery is None else true_recovery[test]
    totals = {
        "predicted": float(predicted.sum()),
        "realised": float(realised.sum()),
        "ratio": float(predicted.sum() / realised.sum()) if realised.sum() > 0 else float("nan"),
    }
    if expected is not None:
        totals["true_expected"] = float(expected.sum())
    return RecoveryPart(
        fit=fit,
        calibration=evaluate.amount_calibration(realised, predicted, expected),
        totals=totals,
    )
