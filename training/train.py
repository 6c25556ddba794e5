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

import hashlib
import json
import logging
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from app.files import json_default, write_atomically
from app.settings import TriageSettings, get_settings
from features.builder import CaseFeatureBuilder
from features.load import ValidationReport, read_cases
from features.record import LABELS
from training import evaluate, plots
from training.calibration import ScoreCalibrator, choose_calibrator
from training.card import ModelCardData, describe_split, render_model_card, summary_lines
from training.config import TrainingConfig
from training.fit import FitResult, SearchResult, fit_final, refit_booster, search_params
from training.model import TARGETS, TRUTH_COLUMNS, CaseModel
from training.policy import choose_thresholds, routing_outcome
from training.split import TimeSplit, split_by_filing_date

log = logging.getLogger(__name__)

KINDS = ("stream", "assets")


class TrainingRefused(Exception):
    """Data that cannot make a trustworthy model; nothing was logged or registered."""


@dataclass
class ModelOutcome:
    """Everything training learned about one model."""

    kind: str
    model: CaseModel
    metrics: dict[str, dict[str, float]]  # name -> test metrics (model, baselines, bayes)
    validation_metrics: dict[str, float]
    slices: pd.DataFrame
    calibration_losses: dict[str, float]
    ece_before: float
    routing: dict[str, object] | None
    search: dict[str, object]
    figures: dict[str, Path] = field(default_factory=dict)
    card: ModelCardData | None = None
    test_probability: np.ndarray | None = None


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
                    "routing": outcome.routing,
                }
                for kind, outcome in self.outcomes.items()
            },
        }


# --------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------


def check_trainable(frame: pd.DataFrame, report: ValidationReport, config: TrainingConfig) -> None:
    """Raise :class:`TrainingRefused` for data that cannot make a trustworthy model."""
    if not report.ok:
        raise TrainingRefused(
            "the data fails validation; fix the export and check it with "
            f"`triage validate --data {report.source} --labels`:\n{report.render()}"
        )
    if len(frame) < config.min_cases:
        raise TrainingRefused(
            f"{report.source}: {len(frame)} labelled cases; at least {config.min_cases} are "
            "needed to train and evaluate a model"
        )
    for label in LABELS:
        classes = frame[label].dropna().unique()
        if len(classes) < 2:
            raise TrainingRefused(
                f"{report.source}: label {label} has one class only ({classes.tolist()}); "
                "a model needs cases of both outcomes"
            )


def check_leaks(
    X: np.ndarray, labels: dict[str, np.ndarray], feature_names: list[str], threshold: float
) -> dict[str, pd.Series]:
    """Refuse when any single feature predicts a label almost perfectly; return all AUCs."""
    aucs = {}
    leaks = []
    for label, y in labels.items():
        auc = evaluate.single_feature_auc(X, y, feature_names)
        aucs[label] = auc
        for name, value in auc[auc >= threshold].items():
            leaks.append(f"{name} predicts {label} alone with AUC {value:.3f}")
    if leaks:
        raise TrainingRefused(
            "features leak the outcome (an export filled after the case closed?): "
            + "; ".join(leaks)
            + f". A feature whose AUC alone reaches {threshold} cannot be known at filing."
        )
    return aucs


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
    kind: str,
    fitted: FitResult,
    frame: pd.DataFrame,
    X: np.ndarray,
    split: TimeSplit,
    builder: CaseFeatureBuilder,
    config: TrainingConfig,
    *,
    truth: pd.Series | None,
    deadline: float | None = None,
) -> ModelOutcome:
    """Calibrate, refit (when the budget allows), route and evaluate one searched model."""
    target = TARGETS[kind]
    y = frame[target].to_numpy(dtype=np.int64)
    train, valid, test = split.train, split.validation, split.test
    names = list(builder.get_feature_names_out())
    # Calibration and routing thresholds are learned from the final fit's
    # out-of-sample validation scores; the refit only adds data, not a new shape.
    raw_valid = fitted.booster.predict(X[valid], raw_score=True, num_threads=config.threads)
    calibrator, calibration_losses = choose_calibrator(raw_valid, y[valid], seed=config.search.seed)
    train_valid = np.concatenate([train, valid])
    refitted = refit_booster(
        X[train_valid],
        y[train_valid],
        fitted,
        n_fit_rows=len(train),
        categorical=list(builder.categorical_features_),
        feature_names=names,
        seconds_left=None if deadline is None else deadline - time.monotonic(),
    )
    booster = fitted.booster if refitted is None else refitted
    raw_test = booster.predict(X[test], raw_score=True, num_threads=config.threads)
    p_valid = calibrator.probability(raw_valid)
    p_test = calibrator.probability(raw_test)
    uncalibrated_test = ScoreCalibrator().probability(raw_test)  # the identity calibration

    thresholds = routing = None
    if kind == "stream":
        thresholds = choose_thresholds(y[valid], p_valid, config.policy)
        routing = {
            "policy": config.policy.model_dump(),
            "thresholds": thresholds.to_dict(),
            "validation": routing_outcome(y[valid], p_valid, thresholds),
            "test": routing_outcome(y[test], p_test, thresholds),
        }
        routing["shares"] = {k: v for k, v in routing["test"].items() if k.startswith("share_")}

    metrics = {"model": evaluate.binary_metrics(y[test], p_test)}
    logistic = evaluate.logistic_baseline(categorical_indices=builder.categorical_features_)
    logistic.fit(X[train], y[train])
    p_logistic = logistic.predict_proba(X[test])[:, 1]
    metrics["logistic_regression"] = evaluate.binary_metrics(y[test], p_logistic)
    curves = {"model": (y[test], p_test), "logistic regression": (y[test], p_logistic)}
    if kind == "stream":
        rules = evaluate.RuleBaseline().fit(frame.iloc[train], y[train])
        p_rules = rules.predict_proba(frame.iloc[test])[:, 1]
        metrics["published_rules"] = evaluate.binary_metrics(y[test], p_rules)
        curves["published rules"] = (y[test], p_rules)
    if truth is not None:
        p_true = truth.to_numpy()[test]
        metrics["bayes_limit"] = evaluate.bayes_limit(y[test], p_true)
        curves["Bayes limit"] = (y[test], p_true)

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
        metrics=metrics,
        validation_metrics=evaluate.binary_metrics(y[valid], p_valid),
        slices=evaluate.slice_metrics(frame.iloc[test].reset_index(drop=True), y[test], p_test),
        calibration_losses=calibration_losses,
        ece_before=evaluate.binary_metrics(y[test], uncalibrated_test)["ece"],
        routing=routing,
        search={
            "params": {k: v for k, v in fitted.params.items() if k not in ("verbosity",)},
            "best_iteration": fitted.best_iteration,
            "refitted": refitted is not None,
            "trials": fitted.trials,
            "seconds": fitted.search.seconds + fitted.seconds,
            "validation_log_loss": fitted.validation_log_loss,
        },
        test_probability=p_test,
    )
    outcome.figures = {"_curves": curves}  # drawn later, into the run's artifact folder
    return outcome


# --------------------------------------------------------------------------
# The whole job
# --------------------------------------------------------------------------


def file_fingerprint(path: str | Path) -> str:
    """SHA-256 of the file's bytes: which export a model was trained on."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit() -> str:
    """The commit of the code that trained (``unknown`` outside a git checkout)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def read_truth(path: str | Path, case_ids: pd.Series) -> dict[str, pd.Series]:
    """True probabilities from a generator's truth file, aligned to ``case_ids``."""
    truth = pd.read_csv(path, dtype={"case_id": str})
    needed = {"case_id", *TRUTH_COLUMNS.values()}
    if not needed <= set(truth.columns):
        raise TrainingRefused(f"{path}: a truth file needs the columns {sorted(needed)}")
    repeated = truth["case_id"][truth["case_id"].duplicated()].unique()
    if len(repeated):
        raise TrainingRefused(
            f"{path}: {len(repeated)} case_id(s) appear more than once, e.g. {repeated[0]!r}"
        )
    aligned = truth.set_index("case_id").reindex(case_ids.astype(str).to_numpy())
    for column in TRUTH_COLUMNS.values():
        probability = aligned[column]
        unusable = probability.isna() | ~probability.between(0.0, 1.0)
        if unusable.any():
            first = aligned.index[unusable.to_numpy()][0]
            raise TrainingRefused(
                f"{path}: {int(unusable.sum())} case(s) of the data have no {column} "
                f"in [0, 1], e.g. case_id {first!r}"
            )
    return {kind: aligned[column].reset_index(drop=True) for kind, column in TRUTH_COLUMNS.items()}


@dataclass
class FittedModels:
    """Both models fitted and evaluated in memory (nothing logged yet)."""

    outcomes: dict[str, ModelOutcome]
    split: TimeSplit
    X: np.ndarray
    builder: CaseFeatureBuilder
    leak_aucs: dict[str, pd.Series]


def fit_models(
    frame: pd.DataFrame,
    config: TrainingConfig,
    *,
    truths: dict[str, pd.Series] | None = None,
    started: float | None = None,
) -> FittedModels:
    """Split, build features, check for leaks, search, fit and evaluate both models.

    Pure computation on a validated canonical frame (see :func:`check_trainable`);
    :func:`train` adds the I/O: reading, MLflow, the registry.
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

    def share_until(fraction: float, position: int) -> float:
        """This model's share of the time left until ``fraction`` of the budget."""
        left = started + budget * fraction - time.monotonic()
        return max(left / (len(KINDS) - position), 1.0)

    # A quarter of the budget searches, the final fits run until 80 %, the
    # refits until 92 %; the rest is for baselines, plots and logging (~15 s).
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
    for position, kind in enumerate(KINDS):
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
    outcomes = {}
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
        )
        log.info("%s model finished at %.0f s", kind, time.monotonic() - started)
    return FittedModels(outcomes=outcomes, split=split, X=X, builder=builder, leak_aucs=leak_aucs)


def train(
    data: str | Path,
    *,
    truth: str | Path | None = None,
    config: TrainingConfig | None = None,
    settings: TriageSettings | None = None,
    synthetic: bool | None = None,
) -> TrainResult:
    """Train, evaluate, log and register both models from a labelled export."""
    import mlflow

    from training import registry
    from training.gate import promote_if_better

    settings = settings or get_settings()
    config = config or TrainingConfig(threads=settings.threads)
    started = time.monotonic()
    frame, report = read_cases(data, require_labels=True)
    check_trainable(frame, report, config)
    truths = read_truth(truth, frame["case_id"]) if truth else {}
    if synthetic is None:
        synthetic = truth is not None
    fitted = fit_models(frame, config, truths=truths, started=started)
    outcomes, split, X, leak_aucs = fitted.outcomes, fitted.split, fitted.X, fitted.leak_aucs

    splits = [describe_split(name, frame.iloc[rows]) for name, rows in split.parts().items()]
    fingerprint = file_fingerprint(data)
    commit = git_commit()
    registry.configure_mlflow(settings)
    registered: list[tuple[str, str]] = []
    versions: dict[str, str] = {}
    promotions: dict[str, dict[str, object]] = {}
    with (
        mlflow.start_run(run_name=f"train {Path(data).name}") as run,
        tempfile.TemporaryDirectory(prefix="triage-run-") as scratch,
        registry.cleanup_on_failure(registered),
    ):
        scratch = Path(scratch)
        mlflow.set_tags(
            {
                "git_commit": commit,
                "data_fingerprint": fingerprint,
                "data_file": Path(data).name,
                "synthetic_data": str(synthetic).lower(),
            }
        )
        mlflow.log_params(_flat_params(config))
        mlflow.log_params(
            {
                "n_cases": len(frame),
                **{f"n_{name}": len(rows) for name, rows in split.parts().items()},
                **{f"window_{s.name}": f"{_day(s.start)}..{_day(s.end)}" for s in splits},
            }
        )
        report.write_json(scratch / "validation_report.json")
        mlflow.log_artifact(str(scratch / "validation_report.json"))
        leak_table = pd.DataFrame(leak_aucs).rename_axis("feature").reset_index()
        leak_table.to_csv(scratch / "single_feature_auc.csv", index=False)
        mlflow.log_artifact(str(scratch / "single_feature_auc.csv"))

        for kind, outcome in outcomes.items():
            name = registry.model_name(kind, settings)
            # The card's data table also gives this model's positive rate per split.
            labelled_splits = [
                describe_split(part, frame.iloc[rows], TARGETS[kind])
                for part, rows in split.parts().items()
            ]
            _log_model_run_data(kind, outcome, scratch, splits)
            outcome.model.metadata.update(
                {
                    "run_id": run.info.run_id,
                    "trained_at": pd.Timestamp.now(tz="UTC").isoformat(),
                    "training_window": {s.name: [_day(s.start), _day(s.end)] for s in splits},
                    "n_cases": len(frame),
                    "test_metrics": outcome.metrics["model"],
                    "calibration": outcome.model.calibrator.method,
                    "data_fingerprint": fingerprint,
                    "git_commit": commit,
                    "reference_profile": reference_profile(
                        outcome.model, X[split.train], outcome.test_probability
                    ),
                }
            )
            version = registry.log_case_model(outcome.model, registered_name=name)
            registered.append((name, version))
            versions[kind] = version
            outcome.card = _card(
                kind,
                outcome,
                name,
                version,
                run.info.run_id,
                commit,
                fingerprint,
                labelled_splits,
                synthetic,
                settings,
            )
            mlflow.log_text(render_model_card(outcome.card), f"model_card_{kind}.md")
            mlflow.MlflowClient().update_model_version(
                name, version, description="\n".join(summary_lines(outcome.card))
            )
        for kind, outcome in outcomes.items():
            name = registry.model_name(kind, settings)
            promotions[kind] = promote_if_better(
                name,
                versions[kind],
                candidate_metrics=outcome.metrics["model"],
                target=TARGETS[kind],
                test_frame=frame.iloc[split.test].reset_index(drop=True),
                config=config.gate,
            )
            mlflow.set_tag(f"{kind}_promoted", str(promotions[kind]["promoted"]).lower())
            mlflow.set_tag(f"{kind}_promotion_reason", promotions[kind]["reason"])
        seconds = time.monotonic() - started
        mlflow.log_metric("training_seconds", seconds)
    return TrainResult(
        run_id=run.info.run_id,
        outcomes=outcomes,
        versions=versions,
        promotions=promotions,
        seconds=seconds,
        n_cases=len(frame),
    )


def reference_profile(model: CaseModel, X_train: np.ndarray, p_test: np.ndarray) -> dict:
    """The drift-monitoring profile of a model: bins of its training features and test scores.

    See :func:`training.drift.build_reference_profile`, which defines the bins
    that ``triage drift`` counts live cases into.
    """
    from training.drift import build_reference_profile

    return build_reference_profile(model.feature_names, model.builder, X_train, p_test)


def _day(value) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def _flat_params(config: TrainingConfig) -> dict[str, object]:
    flat: dict[str, object] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        else:
            flat[prefix] = value

    walk("", config.model_dump())
    return flat


def _log_model_run_data(kind: str, outcome: ModelOutcome, scratch: Path, splits) -> None:
    import mlflow

    for name, values in outcome.metrics.items():
        mlflow.log_metrics(
            {
                f"{kind}.{name}.test.{k}": float(v)
                for k, v in values.items()
                if isinstance(v, int | float) and np.isfinite(v)
            }
        )
    mlflow.log_metrics(
        {
            f"{kind}.model.validation.{k}": float(v)
            for k, v in outcome.validation_metrics.items()
            if np.isfinite(v)
        }
    )
    if "bayes_limit" in outcome.metrics:
        gaps = evaluate.gap_to_bayes(outcome.metrics["model"], outcome.metrics["bayes_limit"])
        mlflow.log_metrics(
            {f"{kind}.gap_to_bayes.{k}": float(v) for k, v in gaps.items() if np.isfinite(v)}
        )
    mlflow.log_params(
        {f"{kind}.lgbm.{k}": v for k, v in outcome.search["params"].items()}
        | {
            f"{kind}.best_iteration": outcome.search["best_iteration"],
            f"{kind}.calibration": outcome.model.calibrator.method,
            f"{kind}.search_trials": len(outcome.search["trials"]),
        }
    )
    if outcome.routing:
        mlflow.log_params(
            {f"stream.threshold.{k}": v for k, v in outcome.routing["thresholds"].items()}
        )
        mlflow.log_metrics(
            {f"stream.routing.test.{k}": v for k, v in outcome.routing["test"].items()}
        )
    folder = scratch / kind
    folder.mkdir(exist_ok=True)
    curves = outcome.figures.pop("_curves")
    title = f"{kind} model ({TARGETS[kind]})"
    y_test = curves["model"][0]
    p_test = curves["model"][1]
    outcome.figures = {
        "roc": plots.plot_roc(curves, folder / "roc.png", f"ROC, {title}"),
        "reliability": plots.plot_reliability(
            {k: v for k, v in curves.items() if k != "published rules"},
            folder / "reliability.png",
            f"Reliability, {title}",
        ),
        "importance": plots.plot_feature_importance(
            outcome.model.feature_names,
            outcome.model.booster.feature_importance(importance_type="gain"),
            folder / "feature_importance.png",
            f"Feature importance (gain), {title}",
        ),
        "histogram": plots.plot_score_histograms(
            {"positive": p_test[y_test == 1], "negative": p_test[y_test == 0]},
            folder / "score_histograms.png",
            f"Scores by true class, {title}",
        ),
    }
    outcome.slices.to_csv(folder / "slices.csv", index=False)
    reliability = evaluate.reliability_curve(y_test, p_test)
    reliability.to_csv(folder / "reliability.csv", index=False)
    (folder / "search_trials.json").write_text(json.dumps(outcome.search["trials"], indent=1))
    (folder / "calibration.json").write_text(
        json.dumps(
            {
                "chosen": outcome.model.calibrator.method,
                "cross_validated_log_loss": outcome.calibration_losses,
            },
            indent=1,
        )
    )
    if outcome.routing:
        (folder / "routing_policy.json").write_text(json.dumps(outcome.routing, indent=1))
    mlflow.log_artifacts(str(folder), artifact_path=kind)


def _card(kind, outcome, name, version, run_id, commit, fingerprint, splits, synthetic, settings):
    return ModelCardData(
        model_name=name,
        target=TARGETS[kind],
        model_version=version,
        run_id=run_id,
        git_commit=commit,
        data_fingerprint=fingerprint,
        splits=splits,
        metrics=outcome.metrics,
        model_key="model",
        bayes_metrics=outcome.metrics.get("bayes_limit"),
        calibration_method=outcome.model.calibrator.method,
        ece_before=outcome.ece_before,
        ece_after=outcome.metrics["model"]["ece"],
        slice_table=outcome.slices,
        routing=outcome.routing,
        synthetic_data=synthetic,
        figures={k: f"{kind}/{Path(v).name}" for k, v in outcome.figures.items()},
    )


def write_results(result: TrainResult, path: str | Path) -> None:
    """The machine-readable summary of a training run (``--results``)."""
    write_atomically(
        path, json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=json_default)
    )
