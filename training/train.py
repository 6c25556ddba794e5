"""`triage train`: a labelled export in, two registered, evaluated models out.

The steps, each a function of data to data with I/O at the two ends:

1. load and validate the export (refused on any problem, before MLflow is touched);
2. refuse what cannot make a trustworthy model: too few cases, a label with
   one class, a feature that leaks the outcome;
3. split by filing date (older train, newer validate, newest test);
4. per model: search and fit LightGBM, calibrate on validation, choose the
   routing thresholds (stream model), evaluate on test against the baselines
   and the Bayes limit (when a truth file is given), per slice;
5. log one MLflow run (parameters, metrics, plots, model cards, validation
   report, data fingerprint, git commit), register both models as
   ``challenger`` and promote each that passes the gate to ``champion``.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from app.files import json_default, write_atomically
from app.settings import TriageSettings, get_settings
from features.builder import CaseFeatureBuilder
from features.load import ValidationReport, read_cases
from features.record import LABELS
from models.calibration import ScoreCalibrator
from models.case_model import TARGETS, AmountPart, CaseModel, ModelKind
from models.metadata import ModelMetadata
from models.policy import CourtPolicy, ScoreSummary
from models.profile import ProfileEntry
from training import evaluate
from training.amount import RecoveryPart, amount_problem, fit_recovery_part
from training.calibration import choose_calibrator
from training.card import (
    ModelCardData,
    SplitSummary,
    describe_split,
    render_model_card,
    summary_lines,
)
from training.checks import TrainingRefused, check_leaks, check_trainable
from training.cluster_fit import ClusterTraining
from training.config import TrainingConfig
from training.fit import (
    FitResult,
    SearchResult,
    fit_final,
    refit_booster,
    sample_positions,
    search_params,
)
from training.profile import feature_profile, scored_profile
from training.provenance import file_fingerprint, git_commit
from training.run_log import day, flat_params, log_model_run_data, model_card
from training.split import TimeSplit, split_by_filing_date
from training.thresholds import (
    cost_against_bayes,
    cost_curve_against_bayes,
    default_court_policy,
    policy_thresholds,
    routing_outcome,
)
from training.truth import TruthFileError, read_truth

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

KINDS: tuple[ModelKind, ...] = ("stream", "assets")
#: Training cases the logistic-regression baseline is fitted on, at most (a sample).
BASELINE_ROWS = 150_000


@dataclass
class ModelOutcome:
    """Everything training learned about one model."""

    kind: ModelKind
    model: CaseModel
    metrics: dict[str, dict[str, float]]  # name -> test metrics (model, baselines, bayes)
    validation_metrics: dict[str, float]
    slices: pd.DataFrame
    calibration_losses: dict[str, float]
    ece_before: float
    routing: dict[str, Any] | None
    search: dict[str, Any]
    #: Test labels and scores of the model, its baselines and the Bayes limit, by label.
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    card: ModelCardData | None = None
    #: Stream model: its validation scores binned with labels, and the policy of its thresholds.
    validation_scores: ScoreSummary | None = None
    court_policy: CourtPolicy | None = None
    #: Stream model with the truth: its routing's cost against the Bayes-optimal routing's,
    #: and the same at other review capacities.
    policy_cost: dict[str, float] | None = None
    policy_cost_curve: list[dict[str, float]] | None = None
    #: Assets model: its amount part (E[recovered_amount | recovered]) and expected recovery's
    #: test calibration, or why the export could not teach one.
    recovery: RecoveryPart | None = None
    recovery_problem: str | None = None
    #: How the served reasons (TreeSHAP tables) compare with LightGBM's pred_contrib.
    reasons: dict[str, float] | None = None


@dataclass
class TrainResult:
    run_id: str
    outcomes: dict[str, ModelOutcome]
    versions: dict[str, str]
    promotions: dict[str, dict[str, object]]
    seconds: float
    n_cases: int

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "n_cases": self.n_cases,
            "seconds": round(self.seconds, 1),
            "models": {
                kind: {
                    "name": self.promotions[kind]["name"],
                    "version": self.versions[kind],
                    "promoted": self.promotions[kind]["promoted"],
                    "reason": self.promotions[kind]["reason"],
                    "test": outcome.metrics,
                    "calibration": outcome.model.calibrator.method,
                    # What scoring costs: every case walks every tree (reasons too).
                    "trees": outcome.model.booster.num_trees(),
                    "learning_rate": outcome.search["params"]["learning_rate"],
                    "routing": outcome.routing,
                    "policy_cost": outcome.policy_cost,
                    "policy_cost_curve": outcome.policy_cost_curve,
                    **_recovery_summary(outcome),
                }
                for kind, outcome in self.outcomes.items()
            },
        }


def _recovery_summary(outcome: ModelOutcome) -> dict[str, object]:
    """The assets model's expected recovery in a run's results (nothing for other models)."""
    if outcome.kind != "assets":
        return {}
    part = outcome.recovery
    if part is None:
        return {"expected_recovery": None, "expected_recovery_problem": outcome.recovery_problem}
    return {
        "expected_recovery": {
            "amount_given_recovery": part.fit.metrics,
            "totals": part.totals,
            "calibration": part.calibration.to_dict(orient="records"),
        }
    }


# --------------------------------------------------------------------------
# Fitting and evaluating one model
# --------------------------------------------------------------------------


def search_model(
    kind: str,
    frame: pd.DataFrame,
    X: np.ndarray,
    split: TimeSplit,
    builder: CaseFeatureBuilder,
    config: TrainingConfig,
    *,
    time_budget: float,
) -> SearchResult:
    """The hyper-parameter search of one model (samples of train → validation)."""
    y = frame[TARGETS[kind]].to_numpy(dtype=np.int64)
    return search_params(
        X[split.train],
        y[split.train],
        X[split.validation],
        y[split.validation],
        categorical=list(builder.categorical_features_),
        feature_names=list(builder.get_feature_names_out()),
        config=config.search,
        threads=config.threads,
        time_budget=time_budget,
    )


def fit_model(
    kind: str,
    search: SearchResult,
    frame: pd.DataFrame,
    X: np.ndarray,
    split: TimeSplit,
    builder: CaseFeatureBuilder,
    config: TrainingConfig,
    *,
    deadline: float | None = None,
) -> FitResult:
    """The final fit of one model: all training cases, early-stopped on validation."""
    y = frame[TARGETS[kind]].to_numpy(dtype=np.int64)
    return fit_final(
        X[split.train],
        y[split.train],
        X[split.validation],
        y[split.validation],
        search,
        categorical=list(builder.categorical_features_),
        feature_names=list(builder.get_feature_names_out()),
        config=config.search,
        threads=config.threads,
        deadline=deadline,
    )


def finish_model(
    kind: ModelKind,
    fitted: FitResult,
    frame: pd.DataFrame,
    X: np.ndarray,
    split: TimeSplit,
    builder: CaseFeatureBuilder,
    config: TrainingConfig,
    *,
    truth: pd.Series | None,
    deadline: float | None = None,
    refit: bool = True,
    refitted_booster: lgb.Booster | None = None,
) -> ModelOutcome:
    """Calibrate, refit (when the budget allows), route and evaluate one searched model.

    ``refit=False`` with ``refitted_booster`` takes a refit made elsewhere (on
    a cluster) instead of refitting in this one process.
    """
    target = TARGETS[kind]
    y = frame[target].to_numpy(dtype=np.int64)
    train, valid, test = split.train, split.validation, split.test
    names = list(builder.get_feature_names_out())
    # Calibration and routing thresholds are learned from the final fit's
    # out-of-sample validation scores; the refit only adds data, not a new shape.
    raw_valid = np.asarray(
        fitted.booster.predict(X[valid], raw_score=True, num_threads=config.threads)
    )
    calibrator, calibration_losses = choose_calibrator(raw_valid, y[valid], seed=config.search.seed)
    train_valid = np.concatenate([train, valid])
    refitted = (
        refit_booster(
            X[train_valid],
            y[train_valid],
            fitted,
            n_fit_rows=len(train),
            categorical=list(builder.categorical_features_),
            feature_names=names,
            seconds_left=None if deadline is None else deadline - time.monotonic(),
        )
        if refit
        else refitted_booster
    )
    booster = fitted.booster if refitted is None else refitted
    raw_test = np.asarray(booster.predict(X[test], raw_score=True, num_threads=config.threads))
    p_valid = calibrator.probability(raw_valid)
    p_test = calibrator.probability(raw_test)
    uncalibrated_test = ScoreCalibrator().probability(raw_test)  # the identity calibration

    thresholds = summary = court_policy = policy_cost = policy_cost_curve = None
    routing: dict[str, Any] | None = None
    if kind == "stream":
        # The national default court policy chooses the model's own thresholds; the
        # summary it chose them from travels with the model for every other policy.
        court_policy = default_court_policy(config.policy)
        summary, chosen = policy_thresholds(y[valid], p_valid, court_policy)
        thresholds = chosen.thresholds
        routing = {
            "policy": court_policy.model_dump(),
            "thresholds": thresholds.to_dict(),
            "validation": routing_outcome(y[valid], p_valid, thresholds),
            "test": routing_outcome(y[test], p_test, thresholds),
            "gave_way": [g.describe() for g in chosen.gave_way],
        }
        routing["shares"] = {k: v for k, v in routing["test"].items() if k.startswith("share_")}
        if truth is not None:
            policy_cost = cost_against_bayes(
                p_test, truth.to_numpy()[test], thresholds, court_policy
            )
            policy_cost_curve = cost_curve_against_bayes(
                p_test, truth.to_numpy()[test], summary, court_policy
            )
    curves = holdout_scores(kind, frame, X, y, split, builder, p_test, truth)
    metrics = {
        name.replace(" ", "_").lower(): (
            evaluate.bayes_limit(*curve)
            if name == "Bayes limit"
            else evaluate.binary_metrics(*curve)
        )
        for name, curve in curves.items()
    }

    model = CaseModel(
        kind=kind,
        builder=builder,
        booster=booster,
        calibrator=calibrator,
        thresholds=thresholds,
        policy=config.policy if kind == "stream" else None,
        threads=config.threads,
    )
    outcome = ModelOutcome(
        kind=kind,
        model=model,
        reasons=reasons_check(model, X[test][:REASONS_CHECK_CASES]),
        metrics=metrics,
        validation_metrics=evaluate.binary_metrics(y[valid], p_valid),
        slices=evaluate.slice_metrics(frame.iloc[test].reset_index(drop=True), y[test], p_test),
        calibration_losses=calibration_losses,
        ece_before=evaluate.binary_metrics(y[test], uncalibrated_test)["ece"],
        routing=routing,
        search=_search_summary(fitted, refitted=refitted is not None),
        validation_scores=summary,
        court_policy=court_policy,
        policy_cost=policy_cost,
        policy_cost_curve=policy_cost_curve,
    )
    outcome.curves = curves  # drawn later, into the run's artifact folder
    return outcome


#: Test cases on which the card compares the served reasons with pred_contrib.
REASONS_CHECK_CASES = 1_000


def reasons_check(model: CaseModel, features: np.ndarray) -> dict[str, float]:
    """The served reasons against LightGBM's own TreeSHAP on ``features``, for the card.

    Builds the model's TreeSHAP tables (which also leaves them in the cache
    for the service on this machine) and reports: the share of cases whose
    top three reasons (features and signs) are the same, the largest
    difference of any contribution, and rows per second of a prediction, of
    the tables and of ``pred_contrib`` on this machine.
    """
    from models.treeshap import top_reasons_agreement

    started = time.perf_counter()
    tables = model.shap_tables()
    build_seconds = time.perf_counter() - started  # or a read, when cached before
    features = np.ascontiguousarray(features, dtype=np.float64)
    timed: dict[str, float] = {}
    results: dict[str, np.ndarray] = {}
    for name, run in (
        (
            "prediction",
            lambda: model.booster.predict(features, raw_score=True, num_threads=model.threads),
        ),
        ("tables", lambda: model.contributions(features)),
        ("pred_contrib", lambda: model.contributions(features, exact="lightgbm")),
    ):
        if name == "tables":
            run()  # once to warm up: the kernel compiles or loads on its first use
        started = time.perf_counter()
        results[name] = np.asarray(run())
        timed[name] = max(time.perf_counter() - started, 1e-9)
    n = len(features)
    return {
        "cases": float(n),
        "top3_agreement": top_reasons_agreement(
            results["tables"], results["pred_contrib"], n_features=features.shape[1]
        ),
        "largest_difference": float(np.abs(results["tables"] - results["pred_contrib"]).max())
        if n
        else float("nan"),
        "tables_megabytes": float("nan") if tables is None else tables.nbytes / 1e6,
        "tables_build_seconds": build_seconds,
        **{f"{name}_rows_per_second": n / seconds for name, seconds in timed.items()},
    }


def _search_summary(fitted: FitResult, *, refitted: bool) -> dict[str, Any]:
    """What the search and the final fit found, as the run logs it."""
    return {
        "params": {k: v for k, v in fitted.params.items() if k not in ("verbosity",)},
        "best_iteration": fitted.best_iteration,
        "refitted": refitted,
        "cut_short": fitted.cut_short,
        "trials": fitted.trials,
        "seconds": fitted.search.seconds + fitted.seconds,
        "validation_log_loss": fitted.validation_log_loss,
    }


def holdout_scores(
    kind: str,
    frame: pd.DataFrame,
    X: np.ndarray,
    y: np.ndarray,
    split: TimeSplit,
    builder: CaseFeatureBuilder,
    p_test: np.ndarray,
    truth: pd.Series | None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Test labels and the scores of the model and of what it is judged against.

    The logistic-regression baseline (both models; fitted on at most
    :data:`BASELINE_ROWS` training cases), the published rule-based
    triage criteria (the stream model) and, given the truth, the Bayes limit.
    """
    train, test = split.train, split.test
    logistic = evaluate.logistic_baseline(categorical_indices=builder.categorical_features_)
    # A sample is enough for a linear baseline of ~100 coefficients, and a
    # million-case export would otherwise spend a minute on it per model.
    fit_rows = train[sample_positions(len(train), BASELINE_ROWS, seed=0)]
    logistic.fit(X[fit_rows], y[fit_rows])
    curves = {
        "model": (y[test], p_test),
        "logistic regression": (y[test], logistic.predict_proba(X[test])[:, 1]),
    }
    if kind == "stream":
        rules = evaluate.RuleBaseline().fit(frame.iloc[train], y[train])
        curves["published rules"] = (y[test], rules.predict_proba(frame.iloc[test])[:, 1])
    if truth is not None:
        curves["Bayes limit"] = (y[test], truth.to_numpy()[test])
    return curves


# --------------------------------------------------------------------------
# The whole job
# --------------------------------------------------------------------------


@dataclass
class FittedModels:
    """Both models fitted and evaluated in memory (nothing logged yet)."""

    outcomes: dict[str, ModelOutcome]
    split: TimeSplit
    X: np.ndarray
    builder: CaseFeatureBuilder
    leak_aucs: dict[str, pd.Series]
    #: Where the final fits ran, when on a Dask cluster.
    cluster: ClusterTraining | None = None


def fit_models(
    frame: pd.DataFrame,
    config: TrainingConfig,
    *,
    truths: dict[str, pd.Series] | None = None,
    started: float | None = None,
    client: Client | None = None,
    cluster: str = "local",
) -> FittedModels:
    """Split, build features, check for leaks, search, fit and evaluate both models.

    Pure computation on a validated canonical frame (see :func:`check_trainable`);
    :func:`train` adds the I/O: reading, MLflow, the registry.  Given a Dask
    ``client`` (of ``cluster``: its address or 'local'), the final fits run on
    its workers over all training cases (:mod:`training.cluster_fit`).
    """
    started = time.monotonic() if started is None else started
    truths = truths or {}
    split = split_by_filing_date(frame["filing_date"], config.split)
    builder = CaseFeatureBuilder().fit(frame.iloc[split.train])
    X = builder.transform(frame)
    names = list(builder.get_feature_names_out())
    labels = {label: frame[label].to_numpy()[split.train] for label in LABELS}
    leak_aucs = check_leaks(X[split.train], labels, names, config.leak_auc)
    budget = config.search.time_budget_seconds
    no_amount = amount_problem(frame, split)
    # The assets model's amount part takes the last tenth before 92 % of the budget.
    scale = 1.0 if no_amount is not None else 0.9

    def share_until(fraction: float, position: int) -> float:
        """This model's share of the time left until ``fraction`` of the budget."""
        left = started + budget * fraction * scale - time.monotonic()
        return max(left / (len(KINDS) - position), 1.0)

    # A quarter of the budget searches, the final fits run until 80 %, the
    # refits until 92 % (each 10 % sooner when an amount part is fitted, which then
    # runs until 92 %); the rest is for baselines, plots and logging (~15 s).
    searched: dict[str, SearchResult] = {}
    for position, kind in enumerate(KINDS):
        seconds = share_until(0.25, position)
        searched[kind] = search_model(kind, frame, X, split, builder, config, time_budget=seconds)
        log.info(
            "%s: %d search trials in %.0f s on %d cases, best validation log loss %.5f",
            kind,
            len(searched[kind].trials),
            searched[kind].seconds,
            searched[kind].n_rows,
            searched[kind].validation_log_loss,
        )
    fitted: dict[str, FitResult] = {}
    on_cluster: ClusterTraining | None = None
    refitted: dict[str, lgb.Booster] = {}
    if client is not None:
        fitted, refitted, on_cluster = _fit_on_cluster(
            client, cluster, searched, frame, X, split, builder, config
        )
    for position, kind in enumerate(KINDS):
        if client is None:
            deadline = time.monotonic() + share_until(0.8, position)
            fitted[kind] = fit_model(
                kind, searched[kind], frame, X, split, builder, config, deadline=deadline
            )
        log.info(
            "%s: final fit %d rounds in %.0f s, validation log loss %.5f",
            kind,
            fitted[kind].best_iteration,
            fitted[kind].seconds,
            fitted[kind].validation_log_loss,
        )
    outcomes: dict[str, ModelOutcome] = {}
    for position, kind in enumerate(KINDS):
        deadline = time.monotonic() + share_until(0.92, position)
        outcomes[kind] = finish_model(
            kind,
            fitted[kind],
            frame,
            X,
            split,
            builder,
            config,
            truth=truths.get(kind),
            deadline=deadline,
            refit=client is None,
            refitted_booster=refitted.get(kind),
        )
        log.info("%s model finished at %.0f s", kind, time.monotonic() - started)
    assets = outcomes["assets"]
    if no_amount is None:
        recovery = truths.get("recovery")
        part = fit_recovery_part(
            frame,
            X,
            split,
            config,
            p_assets_test=assets.curves["model"][1],
            categorical=list(builder.categorical_features_),
            feature_names=names,
            seconds=max(started + budget * 0.92 - time.monotonic(), 1.0),
            true_recovery=None if recovery is None else recovery.to_numpy(dtype=np.float64),
            true_p_assets=(
                None if "assets" not in truths else truths["assets"].to_numpy(dtype=np.float64)
            ),
        )
        assets.model.amount = AmountPart(
            booster=part.fit.booster,
            calibrator=part.fit.calibrator,
            exposure=part.fit.exposure,
            metrics=part.fit.metrics["model"],
        )
        assets.recovery = part
        log.info(
            "assets amount part finished at %.0f s: expected recovery ÷ realised on test %.3f",
            time.monotonic() - started,
            part.totals["ratio"],
        )
    else:
        log.warning("the assets model carries no amount part: %s", no_amount)
        assets.recovery_problem = no_amount
    # Both models learnt from the same features: their training half of the profile is one.
    features = feature_profile(names, builder, X[split.train])
    for outcome in outcomes.values():
        outcome.model.metadata = describe_model(outcome, frame, split, features)
    return FittedModels(
        outcomes=outcomes,
        split=split,
        X=X,
        builder=builder,
        leak_aucs=leak_aucs,
        cluster=on_cluster,
    )


def _fit_on_cluster(
    client: Client,
    cluster: str,
    searched: dict[str, SearchResult],
    frame: pd.DataFrame,
    X: np.ndarray,
    split: TimeSplit,
    builder: CaseFeatureBuilder,
    config: TrainingConfig,
) -> tuple[dict[str, FitResult], dict[str, lgb.Booster], ClusterTraining]:
    """Both final fits on the cluster's workers, and their refits on training + validation."""
    from training.cluster_fit import (
        describe_cluster,
        fit_on_cluster,
        partition_features,
        refit_on_cluster,
    )

    address, workers, threads = describe_cluster(client, cluster)
    data = partition_features(client, frame.iloc[split.train], builder)
    fitted: dict[str, FitResult] = {
        kind: fit_on_cluster(
            client,
            kind,
            searched[kind],
            data,
            X[split.validation],
            frame[TARGETS[kind]].to_numpy(dtype=np.int64)[split.validation],
            builder,
            threads=config.threads,
        )
        for kind in KINDS
    }
    # As in one process: the same model on training and validation cases together.
    more = partition_features(
        client, frame.iloc[np.concatenate([split.train, split.validation])], builder
    )
    refitted: dict[str, lgb.Booster] = {
        kind: refit_on_cluster(
            client, kind, fitted[kind], more, builder, n_fit_rows=len(split.train)
        )
        for kind in KINDS
    }
    on_cluster = ClusterTraining(
        address=address,
        workers=workers,
        threads_per_worker=threads,
        partitions=len(data.rows),
        partition_rows=data.rows,
    )
    return fitted, refitted, on_cluster


def split_summaries(
    frame: pd.DataFrame, split: TimeSplit, label: str | None = None
) -> list[SplitSummary]:
    """Size, filing-date window (and ``label``'s positive rate) of each part of ``split``.

    Only the columns the summary reads are taken row by row: a whole
    million-case frame copied per part and per model was seconds of a run.
    """
    columns = [c for c in ("filing_date", label) if c is not None and c in frame.columns]
    return [
        describe_split(name, frame[columns].iloc[rows], label)
        for name, rows in split.parts().items()
    ]


def describe_model(
    outcome: ModelOutcome,
    frame: pd.DataFrame,
    split: TimeSplit,
    features: Mapping[str, ProfileEntry],
) -> ModelMetadata:
    """What a fitted model says about itself: data windows, test metrics, reference profile.

    ``features``: the :func:`~training.profile.feature_profile` of the training
    split, one for all the models of a run (they learnt from the same
    features).  The run that registers it adds its run id, the data's
    fingerprint and the code's commit (:meth:`ModelMetadata.with_run`).
    """
    windows = {
        part.name: (day(part.start), day(part.end)) for part in split_summaries(frame, split)
    }
    return ModelMetadata(
        trained_at=pd.Timestamp.now(tz="UTC").isoformat(),
        training_window=windows,
        n_cases=len(frame),
        test_metrics=outcome.metrics["model"],
        calibration=outcome.model.calibrator.method,
        reference_profile=scored_profile(features, outcome.curves["model"][1]),
        validation_scores=outcome.validation_scores,
        routing_policy=outcome.court_policy,
    )


@dataclass(frozen=True)
class RunContext:
    """What every model of one training run shares in MLflow and in its card."""

    run_id: str
    commit: str
    fingerprint: str
    synthetic: bool
    settings: TriageSettings


def train(
    data: str | Path,
    *,
    truth: str | Path | None = None,
    config: TrainingConfig | None = None,
    settings: TriageSettings | None = None,
    synthetic: bool | None = None,
    cluster: str | None = None,
) -> TrainResult:
    """Train, evaluate, log and register both models from a labelled export.

    ``cluster`` (a Dask scheduler's address, or 'local' for a ``LocalCluster``
    of this machine) runs each model's final fit on the cluster's workers.
    """
    import mlflow

    from models import registry

    settings = settings or get_settings()
    config = config or TrainingConfig(threads=settings.threads)
    started = time.monotonic()
    frame, report = read_cases(data, require_labels=True)
    check_trainable(frame, report, config)
    try:
        truths = read_truth(truth, frame["case_id"]) if truth else {}
    except TruthFileError as error:
        raise TrainingRefused(str(error)) from error
    if cluster is None:
        fitted = fit_models(frame, config, truths=truths, started=started)
    else:
        from training.cluster_score import connect

        with connect(cluster) as client:
            fitted = fit_models(
                frame, config, truths=truths, started=started, client=client, cluster=cluster
            )
    fingerprint, commit = file_fingerprint(data), git_commit()
    registry.configure_mlflow(settings)
    registered: list[tuple[str, str]] = []
    with (
        mlflow.start_run(run_name=f"train {Path(data).name}") as run,
        tempfile.TemporaryDirectory(prefix="triage-run-") as scratch,
        registry.cleanup_on_failure(registered),
    ):
        context = RunContext(
            run_id=run.info.run_id,
            commit=commit,
            fingerprint=fingerprint,
            synthetic=truth is not None if synthetic is None else synthetic,
            settings=settings,
        )
        _log_run_inputs(Path(data), frame, report, fitted, config, context, Path(scratch))
        versions: dict[str, str] = {}
        for kind, outcome in fitted.outcomes.items():
            versions[kind] = _register(
                kind, outcome, frame, fitted.split, context, Path(scratch), figures=config.figures
            )
            registered.append((registry.model_name(kind, settings), versions[kind]))
        promotions = _promote(fitted, versions, frame, config, settings)
        seconds = time.monotonic() - started
        mlflow.log_metric("training_seconds", seconds)
    return TrainResult(
        run_id=run.info.run_id,
        outcomes=fitted.outcomes,
        versions=versions,
        promotions=promotions,
        seconds=seconds,
        n_cases=len(frame),
    )


def _log_run_inputs(
    data: Path,
    frame: pd.DataFrame,
    report: ValidationReport,
    fitted: FittedModels,
    config: TrainingConfig,
    context: RunContext,
    scratch: Path,
) -> None:
    """The run's tags and parameters, its validation report and the leak check's table."""
    import mlflow

    split = fitted.split
    splits = split_summaries(frame, split)
    mlflow.set_tags(
        {
            "git_commit": context.commit,
            "data_fingerprint": context.fingerprint,
            "data_file": data.name,
            "synthetic_data": str(context.synthetic).lower(),
        }
    )
    mlflow.log_params(flat_params(config))
    mlflow.log_params(
        {
            "n_cases": len(frame),
            **{f"n_{name}": len(rows) for name, rows in split.parts().items()},
            **{f"window_{s.name}": f"{day(s.start)}..{day(s.end)}" for s in splits},
        }
    )
    if fitted.cluster is not None:
        mlflow.log_params(fitted.cluster.params())
    report.write_json(scratch / "validation_report.json")
    mlflow.log_artifact(str(scratch / "validation_report.json"))
    leak_table = pd.DataFrame(fitted.leak_aucs).rename_axis("feature").reset_index()
    leak_table.to_csv(scratch / "single_feature_auc.csv", index=False)
    mlflow.log_artifact(str(scratch / "single_feature_auc.csv"))


def _register(
    kind: str,
    outcome: ModelOutcome,
    frame: pd.DataFrame,
    split: TimeSplit,
    context: RunContext,
    scratch: Path,
    *,
    figures: bool = True,
) -> str:
    """Log one model's run data, register it stamped with the run, write its card; the version."""
    import mlflow

    from models import registry

    name = registry.model_name(kind, context.settings)
    log_model_run_data(kind, outcome, scratch, figures=figures)
    outcome.model.metadata = outcome.model.metadata.with_run(
        run_id=context.run_id, data_fingerprint=context.fingerprint, git_commit=context.commit
    )
    version = registry.log_case_model(outcome.model, registered_name=name)
    # The card's data table also gives this model's positive rate per split.
    labelled_splits = split_summaries(frame, split, TARGETS[kind])
    outcome.card = model_card(
        kind,
        outcome,
        name=name,
        version=version,
        run_id=context.run_id,
        commit=context.commit,
        fingerprint=context.fingerprint,
        splits=labelled_splits,
        synthetic=context.synthetic,
    )
    mlflow.log_text(render_model_card(outcome.card), f"model_card_{kind}.md")
    mlflow.MlflowClient().update_model_version(
        name, version, description="\n".join(summary_lines(outcome.card))
    )
    return version


def _promote(
    fitted: FittedModels,
    versions: dict[str, str],
    frame: pd.DataFrame,
    config: TrainingConfig,
    settings: TriageSettings,
) -> dict[str, dict[str, object]]:
    """Each new version becomes the challenger, and the champion where the gate allows."""
    import mlflow

    from models import registry
    from training.gate import promote_if_better

    promotions: dict[str, dict[str, object]] = {}
    test_frame = frame.iloc[fitted.split.test].reset_index(drop=True)
    for kind, outcome in fitted.outcomes.items():
        promotions[kind] = promote_if_better(
            registry.model_name(kind, settings),
            versions[kind],
            candidate_metrics=outcome.metrics["model"],
            target=TARGETS[kind],
            test_frame=test_frame,
            config=config.gate,
        )
        mlflow.set_tag(f"{kind}_promoted", str(promotions[kind]["promoted"]).lower())
        mlflow.set_tag(f"{kind}_promotion_reason", promotions[kind]["reason"])
    return promotions


def write_results(result: TrainResult, path: str | Path) -> None:
    """The machine-readable summary of a training run (``--results``)."""
    write_atomically(
        path, json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=json_default)
    )
