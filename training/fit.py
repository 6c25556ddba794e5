"""Fitting one LightGBM model within a time budget: search, final fit, refit.

1. **Search** (:func:`search_params`): trials on a sample of the training
   cases at a higher learning rate, each with early stopping on (a sample
   of) the validation cases and scored by validation log loss.  The first
   trials are regularised defaults that are good on data nobody tuned for
   (small trees first: enforcement outcomes are mostly additive in the
   log-odds); TPE (optuna) proposes the rest.  Bounded in trials and time.
2. **Final fit** (:func:`fit_final`): the winning parameters at the final
   learning rate on all training cases, early-stopped on all validation
   cases.  Its validation scores are out of sample: calibration and the
   routing thresholds are learned from them.
3. **Refit** (:func:`refit_booster`), when the budget allows: the same model
   on training and validation cases together, its rounds scaled to the larger
   data — the most recent cases in the final model, the test split untouched.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np

from training.config import SearchConfig

log = logging.getLogger(__name__)

#: The first trials: regularised defaults (small trees, bagging, L2).
DEFAULT_TRIALS: tuple[dict[str, float | int | bool], ...] = (
    {
        "num_leaves": 7,
        "min_data_in_leaf": 50,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "lambda_l2": 1.0,
        "cat_smooth": 10.0,
        "min_data_per_group": 100,
        "extra_trees": False,
    },
    # Random thresholds on a third of the features per tree: many of the features
    # are related (funds, their ratios to the claim, the items to seize), so
    # trees that see few of them at a time are less alike and their sum varies
    # less.  With it (and the search allowed below 0.5), the log-loss gap to the
    # Bayes limit on 60 k synthetic cases fell from 0.94/0.82 % to 0.81/0.69 %
    # (assets) and from 1.40/1.25 % to 1.36/1.05 % (stream) on two samples.
    {
        "num_leaves": 5,
        "min_data_in_leaf": 100,
        "feature_fraction": 0.3,
        "bagging_fraction": 0.8,
        "lambda_l2": 1.0,
        "cat_smooth": 10.0,
        "min_data_per_group": 100,
        "extra_trees": True,
    },
    {
        "num_leaves": 31,
        "min_data_in_leaf": 100,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "lambda_l2": 1.0,
        "cat_smooth": 10.0,
        "min_data_per_group": 100,
        "extra_trees": False,
    },
)


@dataclass
class SearchResult:
    """The winning parameters of the search and what every trial scored."""

    params: dict[str, Any]
    validation_log_loss: float
    trials: list[dict[str, object]] = field(default_factory=list)
    seconds: float = 0.0
    n_rows: int = 0
    #: Rounds of the winning trial (at the search's learning rate) and its pace.
    rounds: int = 0
    seconds_per_round: float = 0.0
    search_learning_rate: float = 0.1


@dataclass
class FitResult:
    """The final model of the training cases, early-stopped on the validation cases."""

    booster: lgb.Booster
    params: dict[str, Any]
    best_iteration: int
    validation_log_loss: float
    search: SearchResult
    seconds: float = 0.0
    #: Seconds per boosting round on the training cases (plans the refit).
    seconds_per_round: float = 0.0
    #: True when the budget ran out before early stopping did.
    cut_short: bool = False

    @property
    def trials(self) -> list[dict[str, object]]:
        return self.search.trials


#: The validation loss each LightGBM objective is early-stopped and searched on: log loss
#: for the probabilities, the deviance of the objective for the yuan regressors.
METRICS: dict[str, str] = {
    "binary": "binary_logloss",
    "gamma": "gamma_deviance",
    "tweedie": "tweedie",
    "regression": "l2",
}


def _base_params(
    config: SearchConfig, threads: int, objective: str = "binary"
) -> dict[str, object]:
    if objective not in METRICS:
        raise ValueError(f"unknown objective {objective!r}; choose from {sorted(METRICS)}")
    return {
        "objective": objective,
        "metric": METRICS[objective],
        "learning_rate": config.learning_rate,
        "num_threads": threads,
        "bagging_freq": 1,
        "seed": config.seed,
        "deterministic": True,
        "force_col_wise": True,
        "verbosity": -1,
        # One-vs-rest splits for every coded field (province has 31 codes, cause a
        # dozen): LightGBM's many-vs-many partitions sort the codes by the gradient
        # of the cases at hand and fit noise in the rarer codes.  On 60 k synthetic
        # cases whose stream label ignores province this cut the stream model's
        # log-loss gap to the Bayes limit from 1.15/1.24 % to 1.07/1.05 % (KL, two
        # samples); the assets model, where province matters, was unchanged.
        "max_cat_to_onehot": 64,
    }


def _dataset_params(threads: int) -> dict[str, object]:
    # feature_pre_filter off: trials vary min_data_in_leaf on one binned Dataset.
    return {"max_bin": 255, "verbosity": -1, "num_threads": threads, "feature_pre_filter": False}


def _datasets(
    X_train, y_train, X_valid, y_valid, categorical, feature_names, threads
) -> tuple[lgb.Dataset, lgb.Dataset]:
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
    return train_set, valid_set


class _Stopwatch:
    """A LightGBM callback ending training at a deadline, keeping the rounds so far.

    Optuna's timeout only stops *between* trials; this bounds the fit under
    way too, so the budget holds on slow machines and large exports.
    """

    order = 40  # after early stopping's bookkeeping

    def __init__(self, deadline: float, min_rounds: int = 0):
        self.deadline = deadline
        #: Rounds that run whatever the clock says (early stopping may still end sooner).
        self.min_rounds = min_rounds
        self.fired = False

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        # Cut short while validation loss still falls: the rounds so far are the model.
        if (
            env.iteration + 1 >= self.min_rounds
            and time.monotonic() > self.deadline
            and env.evaluation_result_list
        ):
            self.fired = True
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)


def sample_positions(n: int, size: int, seed: int) -> np.ndarray:
    """``size`` of the positions ``0 … n-1``, drawn at random, in order; all when fewer."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def search_params(
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
    objective: str = "binary",
) -> SearchResult:
    """Search hyper-parameters within ``time_budget`` seconds on samples of the data.

    ``objective`` is LightGBM's (``binary`` for probabilities; ``gamma``,
    ``tweedie`` or ``regression`` for amounts); trials are scored by its
    :data:`METRICS` loss on validation.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started = time.monotonic()
    rows = sample_positions(len(y_train), config.search_rows, config.seed)
    valid_rows = sample_positions(len(y_valid), config.search_rows // 2, config.seed + 1)
    train_set, valid_set = _datasets(
        X_train[rows],
        y_train[rows],
        X_valid[valid_rows],
        y_valid[valid_rows],
        categorical,
        feature_names,
        threads,
    )
    base = _base_params(config, threads, objective) | {"learning_rate": config.search_learning_rate}
    best: dict[str, Any] = {}
    trials: list[dict[str, object]] = []
    deadline = started + time_budget

    def trial_loss(trial: optuna.Trial) -> float:
        params = dict(base)
        params.update(
            num_leaves=trial.suggest_int("num_leaves", 3, 63, log=True),
            min_data_in_leaf=trial.suggest_int("min_data_in_leaf", 10, 400, log=True),
            feature_fraction=trial.suggest_float("feature_fraction", 0.2, 1.0),
            bagging_fraction=trial.suggest_float("bagging_fraction", 0.6, 1.0),
            lambda_l2=trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
            cat_smooth=trial.suggest_float("cat_smooth", 1.0, 50.0, log=True),
            min_data_per_group=trial.suggest_int("min_data_per_group", 20, 200, log=True),
            # Random split points: smoother, more additive fits of smooth effects.
            extra_trees=trial.suggest_categorical("extra_trees", [False, True]),
        )
        # The first trial always finishes (within twice the budget): there is a model.
        stopwatch = _Stopwatch(deadline + (time_budget if trial.number == 0 else 0.0))
        trial_started = time.monotonic()
        booster = _train_early_stopped(params, train_set, valid_set, config, stopwatch)
        loss = float(booster.best_score["validation"][str(base["metric"])])
        trials.append(
            {"number": trial.number, "log_loss": loss, "rounds": booster.best_iteration}
            | trial.params
        )
        if not best or loss < best["loss"]:
            pace = (time.monotonic() - trial_started) / max(booster.current_iteration(), 1)
            best.update(loss=loss, params=params, rounds=booster.best_iteration, pace=pace)
        return loss

    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=config.seed, n_startup_trials=6),
    )
    for params in DEFAULT_TRIALS:
        study.enqueue_trial(params)
    # The first trial always runs; later ones only while the budget lasts.
    study.optimize(trial_loss, n_trials=config.n_trials, timeout=max(time_budget, 1e-3))
    params = dict(best["params"]) | {"learning_rate": config.learning_rate}
    return SearchResult(
        params=params,
        validation_log_loss=float(best["loss"]),
        trials=trials,
        seconds=time.monotonic() - started,
        n_rows=len(rows),
        rounds=int(best["rounds"]),
        seconds_per_round=float(best["pace"]),
        search_learning_rate=config.search_learning_rate,
    )


def affordable_learning_rate(
    search: SearchResult, n_rows: int, final_rate: float, seconds: float | None
) -> float:
    """The final learning rate, or the search's when the final one would not fit in time.

    Halving the rate roughly doubles the rounds; the search's pace, scaled to
    the final number of rows, says whether that fits.  A model cut short by
    the clock underfits more than a higher rate costs.
    """
    if seconds is None or final_rate >= search.search_learning_rate:
        return final_rate
    rounds = search.rounds * search.search_learning_rate / final_rate
    pace = search.seconds_per_round * n_rows / max(search.n_rows, 1)
    # A margin: early stopping runs past the best round, and rounds grow with the data.
    expected = 1.5 * rounds * pace
    if expected <= seconds:
        return final_rate
    log.info(
        "final fit at learning rate %.2f would take about %.0f s (%.0f s left): using %.2f",
        final_rate,
        expected,
        seconds,
        search.search_learning_rate,
    )
    return search.search_learning_rate


def _train_early_stopped(
    params: dict[str, Any],
    train_set: lgb.Dataset,
    valid_set: lgb.Dataset,
    config: SearchConfig,
    stopwatch: _Stopwatch,
) -> lgb.Booster:
    """Boost up to ``config.max_rounds``, stopping early on validation log loss or the stopwatch."""
    return lgb.train(
        params,
        train_set,
        num_boost_round=config.max_rounds,
        valid_sets=[valid_set],
        valid_names=["validation"],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False), stopwatch],
    )


def fit_final(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    search: SearchResult,
    *,
    categorical: list[int],
    feature_names: list[str],
    config: SearchConfig,
    threads: int,
    deadline: float | None = None,
) -> FitResult:
    """The searched parameters on all training cases, early-stopped on validation."""
    started = time.monotonic()
    rate = affordable_learning_rate(
        search,
        len(y_train),
        float(search.params["learning_rate"]),
        None if deadline is None else deadline - started,
    )
    # The searched parameters name their metric; older or hand-made ones get the
    # objective's, so early stopping and the reported loss always have one.
    objective = str(search.params.get("objective", "binary"))
    params = (
        {"metric": METRICS.get(objective, "binary_logloss")}
        | dict(search.params)
        | {"learning_rate": rate}
    )
    train_set, valid_set = _datasets(
        X_train, y_train, X_valid, y_valid, categorical, feature_names, threads
    )
    # Even with the budget spent the final fit runs its minimum: loading a large export on a
    # busy machine can take the whole budget, and one tree is no model.
    stopwatch = _Stopwatch(float("inf") if deadline is None else deadline, config.min_final_rounds)
    booster = _train_early_stopped(params, train_set, valid_set, config, stopwatch)
    seconds = time.monotonic() - started
    per_round = seconds / max(booster.current_iteration(), 1)
    validation_log_loss = float(booster.best_score["validation"][str(params["metric"])])
    # Keep the best rounds only, without the training data.
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))
    if stopwatch.fired:
        log.warning("the time budget ran out before early stopping: the model may underfit")
    return FitResult(
        booster=booster,
        params=params,
        best_iteration=booster.current_iteration(),
        validation_log_loss=validation_log_loss,
        search=search,
        seconds=seconds,
        seconds_per_round=per_round,
        cut_short=stopwatch.fired,
    )


def search_and_fit(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    valid: np.ndarray,
    *,
    categorical: list[int],
    feature_names: list[str],
    config: SearchConfig,
    threads: int,
    objective: str,
    seconds: float,
    started: float,
) -> FitResult:
    """Search until 35 % of ``seconds`` from ``started``, then the final fit until 80 %.

    What the models of one run without a search sample share (the terminated
    pair, the new cases' amount part): the rest of the budget is left for the
    refit on training and validation cases.  ``train`` and ``valid`` are
    positions of ``X``.
    """
    searched = search_params(
        X[train],
        y[train],
        X[valid],
        y[valid],
        categorical=categorical,
        feature_names=feature_names,
        config=config,
        threads=threads,
        time_budget=seconds * 0.35,
        objective=objective,
    )
    log.info("%s: %d search trials in %.0f s", name, len(searched.trials), searched.seconds)
    return fit_final(
        X[train],
        y[train],
        X[valid],
        y[valid],
        searched,
        categorical=categorical,
        feature_names=feature_names,
        config=config,
        threads=threads,
        deadline=started + seconds * 0.8,
    )


def refit_booster(
    X: np.ndarray,
    y: np.ndarray,
    fitted: FitResult,
    *,
    n_fit_rows: int,
    categorical: list[int],
    feature_names: list[str],
    seconds_left: float | None = None,
) -> lgb.Booster | None:
    """The final model refitted on more rows, its rounds scaled to the data size.

    More data supports more rounds at the same learning rate; scaling by the
    row ratio is the usual rule (it keeps the per-row shrinkage the same).
    Returns None, and the caller keeps the final fit, when the refit is
    expected to take longer than ``seconds_left`` (from the final fit's pace).
    """
    rounds = max(1, round(fitted.best_iteration * len(y) / n_fit_rows))
    expected = fitted.seconds_per_round * rounds * len(y) / n_fit_rows
    if seconds_left is not None and expected > seconds_left:
        log.info("refit skipped: about %.0f s needed, %.0f s left", expected, seconds_left)
        return None
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
