"""Fitting one LightGBM model: a small search bounded in trials and time.

Every trial trains with early stopping on the validation split and is scored
by validation log loss.  The first trials are regularised defaults that are
good on data nobody tuned for (small trees first: enforcement outcomes are
mostly additive in the log-odds); TPE (optuna) proposes the rest.  The
winner is then refitted on training and validation cases together with its
number of rounds scaled to the larger data (:func:`refit_booster`): more
recent cases for the final model, the test split still untouched.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np

from training.config import SearchConfig

log = logging.getLogger(__name__)

#: The first trials: regularised defaults (small trees, bagging, L2).
DEFAULT_TRIALS: tuple[dict[str, float | int], ...] = (
    {
        "num_leaves": 7,
        "min_data_in_leaf": 50,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "lambda_l2": 1.0,
        "cat_smooth": 10.0,
        "min_data_per_group": 100,
    },
    {
        "num_leaves": 31,
        "min_data_in_leaf": 100,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "lambda_l2": 1.0,
        "cat_smooth": 10.0,
        "min_data_per_group": 100,
    },
)


@dataclass
class FitResult:
    booster: lgb.Booster
    params: dict[str, object]
    best_iteration: int
    validation_log_loss: float
    trials: list[dict[str, object]] = field(default_factory=list)
    seconds: float = 0.0


def _base_params(config: SearchConfig, threads: int) -> dict[str, object]:
    return {
        "objective": "binary",
        "metric": "binary_logloss",
        "learning_rate": config.learning_rate,
        "num_threads": threads,
        "bagging_freq": 1,
        "seed": config.seed,
        "deterministic": True,
        "force_col_wise": True,
        "verbosity": -1,
        "max_cat_to_onehot": 8,
    }


def _dataset_params(threads: int) -> dict[str, object]:
    # feature_pre_filter off: trials vary min_data_in_leaf on one binned Dataset.
    return {"max_bin": 255, "verbosity": -1, "num_threads": threads, "feature_pre_filter": False}


def fit_booster(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    *,
    categorical: list[int],
    feature_names: list[str],
    config: SearchConfig,
    threads: int,
    time_budget: float,
) -> FitResult:
    """Search hyper-parameters within ``time_budget`` seconds; return the best booster."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.monotonic()
    base = _base_params(config, threads)
    train_set = lgb.Dataset(
        X_train,
        label=y_train,
        feature_name=feature_names,
        categorical_feature=categorical,
        params=_dataset_params(threads),
        free_raw_data=False,
    )
    # Same parameters as its reference, or LightGBM warns that it overrides them.
    valid_set = lgb.Dataset(
        X_valid, label=y_valid, reference=train_set, params=_dataset_params(threads)
    )
    best: dict[str, object] = {}
    trials: list[dict[str, object]] = []

    def objective(trial: optuna.Trial) -> float:
        params = dict(base)
        params.update(
            num_leaves=trial.suggest_int("num_leaves", 3, 63, log=True),
            min_data_in_leaf=trial.suggest_int("min_data_in_leaf", 10, 400, log=True),
            feature_fraction=trial.suggest_float("feature_fraction", 0.5, 1.0),
            bagging_fraction=trial.suggest_float("bagging_fraction", 0.6, 1.0),
            lambda_l2=trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
            cat_smooth=trial.suggest_float("cat_smooth", 1.0, 50.0, log=True),
            min_data_per_group=trial.suggest_int("min_data_per_group", 20, 200, log=True),
        )
        booster = lgb.train(
            params,
            train_set,
            num_boost_round=config.max_rounds,
            valid_sets=[valid_set],
            valid_names=["validation"],
            callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
        )
        loss = float(booster.best_score["validation"]["binary_logloss"])
        trials.append(
            {
                "number": trial.number,
                "log_loss": loss,
                "rounds": booster.best_iteration,
                **trial.params,
            }
        )
        if not best or loss < best["loss"]:
            best.update(loss=loss, booster=booster, params=params)
        return loss

    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=config.seed, n_startup_trials=6),
    )
    for params in DEFAULT_TRIALS:
        study.enqueue_trial(params)
    # The first trial always runs; later ones only while the budget lasts.
    study.optimize(objective, n_trials=config.n_trials, timeout=max(time_budget, 1e-3))
    booster: lgb.Booster = best["booster"]
    booster.free_dataset()  # keep the model, not the training matrix
    log.info(
        "search: %d trials in %.0f s, best validation log loss %.5f",
        len(trials),
        time.monotonic() - started,
        best["loss"],
    )
    return FitResult(
        booster=booster,
        params=best["params"],
        best_iteration=booster.best_iteration,
        validation_log_loss=float(best["loss"]),
        trials=trials,
        seconds=time.monotonic() - started,
    )


def refit_booster(
    X: np.ndarray,
    y: np.ndarray,
    fitted: FitResult,
    *,
    n_search_rows: int,
    categorical: list[int],
    feature_names: list[str],
) -> lgb.Booster:
    """The searched model refitted on more rows, its rounds scaled to the data size.

    More data supports more rounds at the same learning rate; scaling by the
    row ratio is the usual rule (it keeps the per-row shrinkage the same).
    """
    rounds = max(1, round(fitted.best_iteration * len(y) / n_search_rows))
    data = lgb.Dataset(
        X,
        label=y,
        feature_name=feature_names,
        categorical_feature=categorical,
        params=_dataset_params(int(fitted.params["num_threads"])),
    )
    booster = lgb.train(fitted.params, data, num_boost_round=rounds)
    booster.free_dataset()
    return booster
