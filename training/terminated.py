"""`triage train --kind terminated`: terminated (终本) cases in, two registered models out.

The same machinery as the new-case models (:mod:`training.train`): the search
and final fit of :mod:`training.fit`, calibration of :mod:`training.calibration`,
the out-of-time split, the card, the gate and the registry.  What differs is
what each model learns from:

* ``triage-resume``, the calibrated probability that a follow-up recovers
  something within six months, is trained on **the cases that were followed
  up** only.  The label then means exactly what the list scores — "if we
  follow this case up" — and no flag has to be set by hand at scoring time.
  Unfollowed cases would add little (they recover only through the routine
  inquiry, a quarter as often on the generator) and, in a court's own export
  where clerks chose whom to follow up, would mix the choice into the
  estimate.  Both designs assume the follow-ups were chosen on what the record
  shows (random in a pilot, as the generator draws them).
* ``triage-recovery``, the expected yuan *given* a recovery, is a LightGBM
  regression on **every recovered case**, followed up or not: given that
  something is recovered, how much does not depend on how it was found on the
  generator, and recoveries are scarce (a few per hundred cases).  Gamma
  regression (log link: it fits the mean, and errors are relative, as they
  are across five orders of magnitude of debts) by default; least squares on
  log yuan with a smearing correction is the alternative
  (``TrainingConfig.recovery_objective``).  Either way the level is corrected
  on the validation cases (``log_link`` calibration).

What the card measures is the point of the models: yuan recovered per 100
follow-ups when a court follows up the top K = 1 %, 5 %, 10 % of its newest
inventory (the test split, by ``as_of_date``) by the model's expected yuan
per follow-up (``p_resume × E[yuan | recovered]``), against three common
rules (largest unpaid amount first, oldest termination first, random) and,
with the generator's truth, against the Bayes-optimal ranking by
``expected_yuan_true``.  With the truth every ranking is valued by the true
expected yuan of the cases it picks (no sampling noise); without it, by the
realised amounts of the picked cases that were followed up.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.settings import TriageSettings, get_settings
from features.load import ValidationReport, read_cases
from features.terminated import TERMINATED_RECORD
from features.terminated_builder import TerminatedFeatureBuilder
from models.calibration import ScoreCalibrator
from models.case_model import TARGETS, CaseModel, ModelKind
from models.metadata import ModelMetadata
from training import evaluate
from training.amount import fit_amount, recovered_rows
from training.calibration import choose_calibrator
from training.card import ModelCardData, describe_split, render_model_card, summary_lines
from training.checks import TrainingRefused, check_leaks
from training.config import TrainingConfig
from training.fit import FitResult, refit_booster, sample_positions, search_and_fit
from training.provenance import file_fingerprint, git_commit
from training.run_log import day, flat_params
from training.split import TimeSplit, split_by_filing_date
from training.train import BASELINE_ROWS, ModelOutcome, TrainResult, _search_summary

log = logging.getLogger(__name__)

KINDS: tuple[ModelKind, ...] = ("resume", "recovery")
#: Follow-up budgets the card reports, as shares of the inventory.
BUDGETS: tuple[float, ...] = (0.01, 0.05, 0.10)
#: The rankings a court might use without a model, and the best possible one.
RULES: tuple[str, ...] = ("largest unpaid first", "oldest first", "random")
BAYES = "Bayes-optimal"
MODEL = "model"
#: Columns of a terminated truth file training reads.
TRUTH_COLUMNS: tuple[str, ...] = ("p_recover_true", "expected_amount_true", "expected_yuan_true")
#: Fewest recovered training cases the yuan model is fitted on.
MIN_RECOVERED = 100

INTENDED_USE = (
    "Ordering the extra follow-up work on terminated (终本) cases — field visits, reward "
    "notices, audits, a look at a spouse's property — by the yuan each follow-up is expected "
    "to recover. It never replaces the six-monthly legal network inquiry (网络查控) every "
    "terminated case receives for five years, nor a resumption the applicant asks for; it is "
    "no decision on any case or party."
)


@dataclass
class TerminatedModels:
    """Both terminated-case models fitted and evaluated in memory (nothing logged yet)."""

    outcomes: dict[str, ModelOutcome]
    split: TimeSplit
    #: Yuan per 100 follow-ups by ranking and budget on the test split.
    follow_up: list[dict[str, Any]]
    #: Predicted against realised (and true) yuan per decile, recovered test cases.
    yuan_calibration: pd.DataFrame
    frame: pd.DataFrame


def read_terminated_truth(path: str | Path, case_ids: pd.Series) -> pd.DataFrame:
    """The truth of generated terminated cases, aligned to ``case_ids``; refused when it does not fit."""
    truth = pd.read_csv(path, dtype={"case_id": str})
    missing = {"case_id", *TRUTH_COLUMNS} - set(truth.columns)
    if missing:
        raise TrainingRefused(
            f"{path}: a terminated truth file needs the columns {sorted(missing)} "
            "(`triage generate --kind terminated --truth`)"
        )
    if truth["case_id"].duplicated().any():
        raise TrainingRefused(f"{path}: a case_id appears more than once")
    aligned = truth.set_index("case_id").reindex(case_ids.astype(str).to_numpy())
    unusable = aligned[list(TRUTH_COLUMNS)].isna().any(axis=1)
    if unusable.any():
        first = aligned.index[unusable.to_numpy()][0]
        raise TrainingRefused(
            f"{path}: {int(unusable.sum())} case(s) of the data have no truth, e.g. {first!r}"
        )
    return aligned.reset_index(drop=True)


def check_terminated_trainable(
    frame: pd.DataFrame, report: ValidationReport, config: TrainingConfig
) -> None:
    """Refuse data that cannot make trustworthy terminated-case models."""
    if not report.ok:
        raise TrainingRefused(
            "the data fails validation; check it with "
            f"`triage validate --kind terminated --data {report.source} --labels`:\n"
            f"{report.render()}"
        )
    if len(frame) < config.min_cases:
        raise TrainingRefused(
            f"{report.source}: {len(frame)} labelled cases; at least {config.min_cases} are needed"
        )
    followed = frame["followed_up"] == 1
    outcomes = frame.loc[followed, "recovered_after"]
    if outcomes.nunique() < 2:
        raise TrainingRefused(
            "the followed-up cases all have one outcome: the resume model cannot learn"
        )
    recovered = int((frame["recovered_after"] == 1).sum())
    if recovered < MIN_RECOVERED:
        raise TrainingRefused(
            f"{recovered} recovered cases: the yuan model needs at least {MIN_RECOVERED}"
        )


def _within(positions: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return positions[mask[positions]]


def _fit_one(
    kind: ModelKind,
    X: np.ndarray,
    y: np.ndarray,
    split: TimeSplit,
    builder: TerminatedFeatureBuilder,
    config: TrainingConfig,
    *,
    objective: str,
    seconds: float,
) -> tuple[FitResult, np.ndarray, np.ndarray, np.ndarray]:
    """Search and final fit of one model on its rows; returns the fit and its positions."""
    train, valid, test = split.train, split.validation, split.test
    names = list(builder.get_feature_names_out())
    categorical = list(builder.categorical_features_)
    fitted = search_and_fit(
        kind,
        X,
        y,
        train,
        valid,
        categorical=categorical,
        feature_names=names,
        config=config.search,
        threads=config.threads,
        objective=objective,
        seconds=seconds,
        started=time.monotonic(),
    )
    return fitted, train, valid, test


def _refit(
    fitted: FitResult,
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    valid: np.ndarray,
    builder: TerminatedFeatureBuilder,
    seconds_left: float,
) -> tuple[Any, bool]:
    both = np.concatenate([train, valid])
    refitted = refit_booster(
        X[both],
        y[both],
        fitted,
        n_fit_rows=len(train),
        categorical=list(builder.categorical_features_),
        feature_names=list(builder.get_feature_names_out()),
        seconds_left=seconds_left,
    )
    return (fitted.booster, False) if refitted is None else (refitted, True)


def _resume_model(
    frame: pd.DataFrame,
    X: np.ndarray,
    split: TimeSplit,
    builder: TerminatedFeatureBuilder,
    config: TrainingConfig,
    truth: pd.DataFrame | None,
    seconds: float,
) -> ModelOutcome:
    """The probability a follow-up recovers, learnt from the followed-up cases."""
    followed = frame["followed_up"].to_numpy() == 1
    part = TimeSplit(*(_within(rows, followed) for rows in split.parts().values()))
    y = frame["recovered_after"].to_numpy(dtype=np.int64)
    started = time.monotonic()
    fitted, train, valid, test = _fit_one(
        "resume", X, y, part, builder, config, objective="binary", seconds=seconds
    )
    raw_valid = np.asarray(fitted.booster.predict(X[valid], raw_score=True))
    calibrator, losses = choose_calibrator(raw_valid, y[valid], seed=config.search.seed)
    booster, refitted = _refit(
        fitted, X, y, train, valid, builder, started + seconds - time.monotonic()
    )
    raw_test = np.asarray(booster.predict(X[test], raw_score=True))
    p_test = calibrator.probability(raw_test)
    logistic = evaluate.logistic_baseline(categorical_indices=builder.categorical_features_)
    fit_rows = train[sample_positions(len(train), BASELINE_ROWS, seed=0)]
    logistic.fit(X[fit_rows], y[fit_rows])
    curves = {
        "model": (y[test], p_test),
        "logistic regression": (y[test], logistic.predict_proba(X[test])[:, 1]),
    }
    if truth is not None:
        curves["Bayes limit"] = (y[test], truth["p_recover_true"].to_numpy()[test])
    metrics = {
        name.replace(" ", "_").lower(): (
            evaluate.bayes_limit(*curve)
            if name == "Bayes limit"
            else evaluate.binary_metrics(*curve)
        )
        for name, curve in curves.items()
    }
    model = CaseModel(
        kind="resume",
        builder=builder,
        booster=booster,
        calibrator=calibrator,
        threads=config.threads,
    )
    test_frame = frame.iloc[test].reset_index(drop=True)
    outcome = ModelOutcome(
        kind="resume",
        model=model,
        metrics=metrics,
        validation_metrics=evaluate.binary_metrics(y[valid], calibrator.probability(raw_valid)),
        slices=evaluate.slice_metrics(
            test_frame, y[test], p_test, columns=evaluate.TERMINATED_SLICE_COLUMNS
        ),
        calibration_losses=losses,
        ece_before=evaluate.binary_metrics(y[test], ScoreCalibrator().probability(raw_test))["ece"],
        routing=None,
        search=_search_summary(fitted, refitted=refitted),
    )
    outcome.curves = curves
    return outcome


def _recovery_model(
    frame: pd.DataFrame,
    X: np.ndarray,
    split: TimeSplit,
    builder: TerminatedFeatureBuilder,
    config: TrainingConfig,
    truth: pd.DataFrame | None,
    seconds: float,
) -> tuple[ModelOutcome, pd.DataFrame]:
    """Expected yuan given a recovery, learnt from every recovered case; and its deciles."""
    recovered = frame["recovered_after"].to_numpy() == 1
    amount = np.where(recovered, frame["recovered_after_amount"].to_numpy(dtype=np.float64), 0.0)
    fit = fit_amount(
        X,
        amount,
        recovered_rows(split, recovered),
        config,
        categorical=list(builder.categorical_features_),
        feature_names=list(builder.get_feature_names_out()),
        seconds=seconds,
        expected=None if truth is None else truth["expected_amount_true"].to_numpy(),
        name="recovery",
    )
    model = CaseModel(
        kind="recovery",
        builder=builder,
        booster=fit.booster,
        calibrator=fit.calibrator,
        threads=config.threads,
    )
    outcome = ModelOutcome(
        kind="recovery",
        model=model,
        metrics=fit.metrics,
        validation_metrics=fit.validation_metrics,
        slices=pd.DataFrame(),
        calibration_losses={},
        ece_before=float("nan"),
        routing=None,
        search=_search_summary(fit.fitted, refitted=fit.refitted),
    )
    outcome.curves = {"model": (amount[fit.rows.test], fit.test_yuan)}
    return outcome, fit.deciles


def follow_up_value(
    frame: pd.DataFrame,
    value: np.ndarray,
    truth: pd.DataFrame | None,
    *,
    budgets: tuple[float, ...] = BUDGETS,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Yuan per 100 follow-ups of each ranking at each budget, on one inventory.

    ``value`` is the model's expected yuan per follow-up of each case of
    ``frame``.  With ``truth``, each ranking is valued by the true expected
    yuan of the cases it picks (``expected_yuan_true``; random by the
    inventory's mean, its expectation); without it, by the realised amounts of
    the picked cases that were followed up (an unbiased estimate when
    follow-ups were random, noisy at small budgets).
    Rows: ``ranking``, ``budget_share``, ``budget`` (cases), ``yuan_per_100``
    and, for the model, ``share_of_bayes`` and ``times_best_rule``.
    """
    n = len(frame)
    case_ids = frame["case_id"].astype(str).to_numpy()
    unpaid = frame["unpaid_amount"].to_numpy(dtype=np.float64)
    terminated = pd.to_datetime(frame["terminated_date"]).to_numpy(dtype="datetime64[D]")
    orders = {
        MODEL: np.lexsort((case_ids, -value)),
        "largest unpaid first": np.lexsort((case_ids, -unpaid)),
        "oldest first": np.lexsort((case_ids, terminated.astype(np.int64))),
        "random": np.random.default_rng(seed).permutation(n),
    }
    if truth is not None:
        worth = truth["expected_yuan_true"].to_numpy(dtype=np.float64)
        orders[BAYES] = np.lexsort((case_ids, -worth))
    else:
        followed = frame["followed_up"].to_numpy() == 1
        worth = np.where(followed, frame["recovered_after_amount"].to_numpy(dtype=np.float64), 0)
        orders = {name: order[followed[order]] for name, order in orders.items()}
    rows: list[dict[str, Any]] = []
    for share in budgets:
        budget = max(1, int(round(share * n)))
        values: dict[str, float] = {}
        for name, order in orders.items():
            size = budget if truth is not None else max(1, int(round(share * len(order))))
            if name == "random" and truth is not None:
                values[name] = float(100 * worth.mean())  # its expectation, not one draw
            else:
                values[name] = evaluate.yuan_per_100_follow_ups(order, worth, size)
        best_rule = max(values[r] for r in RULES)
        for name, yuan in values.items():
            row: dict[str, Any] = {
                "ranking": name,
                "budget_share": share,
                "budget": budget,
                "yuan_per_100": yuan,
            }
            if name == MODEL:
                row["times_best_rule"] = yuan / best_rule if best_rule > 0 else float("nan")
                if BAYES in values:
                    row["share_of_bayes"] = yuan / values[BAYES]
            rows.append(row)
    return rows


def fit_terminated_models(
    frame: pd.DataFrame,
    config: TrainingConfig,
    *,
    truth: pd.DataFrame | None = None,
    started: float | None = None,
) -> TerminatedModels:
    """Split by ``as_of_date``, build features, check leaks, fit and evaluate both models."""
    started = time.monotonic() if started is None else started
    split = split_by_filing_date(frame["as_of_date"], config.split)
    builder = TerminatedFeatureBuilder().fit(frame.iloc[split.train])
    X = builder.transform(frame)
    names = list(builder.get_feature_names_out())
    train = split.train
    check_leaks(
        X[train],
        {label: frame[label].to_numpy()[train] for label in ("recovered_after",)},
        names,
        config.leak_auc,
    )
    budget = config.search.time_budget_seconds
    # The probability is the harder, larger fit; the yuan model sees a few per hundred cases.
    left = lambda: started + budget * 0.9 - time.monotonic()  # noqa: E731
    resume = _resume_model(frame, X, split, builder, config, truth, max(left() * 0.65, 1.0))
    recovery, deciles = _recovery_model(frame, X, split, builder, config, truth, max(left(), 1.0))
    test = split.test
    test_frame = frame.iloc[test].reset_index(drop=True)
    value = resume.model.predict_proba(test_frame) * recovery.model.predict_proba(test_frame)
    test_truth = None if truth is None else truth.iloc[test].reset_index(drop=True)
    follow_up = follow_up_value(test_frame, value, test_truth, seed=config.search.seed)
    outcomes = {"resume": resume, "recovery": recovery}
    for outcome in outcomes.values():
        outcome.model.metadata = _describe(outcome, frame, split)
    return TerminatedModels(
        outcomes=outcomes,
        split=split,
        follow_up=follow_up,
        yuan_calibration=deciles,
        frame=frame,
    )


def _describe(outcome: ModelOutcome, frame: pd.DataFrame, split: TimeSplit) -> ModelMetadata:
    windows = {
        name: (day(s.start), day(s.end))
        for name, s in (
            (n, _describe_split(n, frame.iloc[rows])) for n, rows in split.parts().items()
        )
    }
    metrics = outcome.metrics["model"]
    return ModelMetadata(
        trained_at=pd.Timestamp.now(tz="UTC").isoformat(),
        training_window=windows,
        n_cases=len(frame),
        test_metrics={k: float(v) for k, v in metrics.items()},
        calibration=outcome.model.calibrator.method,
    )


def _describe_split(name: str, frame: pd.DataFrame, label: str | None = None):
    """A split of terminated cases, dated by ``as_of_date`` (what the split is by)."""
    return describe_split(name, frame.assign(filing_date=frame["as_of_date"]), label)


# --------------------------------------------------------------------------
# Card, run, registry
# --------------------------------------------------------------------------


def terminated_card(
    kind: str,
    fitted: TerminatedModels,
    *,
    name: str,
    version: str | None,
    run_id: str | None,
    commit: str | None,
    fingerprint: str | None,
    synthetic: bool,
    figures: Mapping[str, str] | None = None,
) -> ModelCardData:
    """The model card of one terminated-case model: the new-case card's, with yuan sections.

    ``figures`` maps a chart's title to its artifact path in the run (from
    :func:`draw_terminated_figures`); the resume card shows the follow-up
    chart, the recovery card the yuan calibration too.
    """
    outcome = fitted.outcomes[kind]
    frame, split = fitted.frame, fitted.split
    target = TARGETS[kind]
    followed = frame["followed_up"].to_numpy() == 1
    recovered = frame["recovered_after"].to_numpy() == 1
    rows = followed if kind == "resume" else recovered
    splits = [
        _describe_split(part, frame.iloc[_within(positions, rows)], target)
        for part, positions in split.parts().items()
    ]
    amounts = kind == "recovery"
    meaning = (
        "Money or property recovered within six months of a follow-up (learnt from the "
        "followed-up cases)"
        if kind == "resume"
        else "Yuan recovered within six months, given something was (learnt from every "
        "recovered case)"
    )
    return ModelCardData(
        model_name=name,
        target=target,
        target_meaning=meaning,
        model_version=version,
        run_id=run_id,
        git_commit=commit,
        data_fingerprint=fingerprint,
        splits=splits,
        metrics=outcome.metrics,
        model_key="model",
        bayes_metrics=None if amounts else outcome.metrics.get("bayes_limit"),
        calibration_method=outcome.model.calibrator.method,
        ece_before=None if amounts else outcome.ece_before,
        ece_after=None if amounts else outcome.metrics["model"]["ece"],
        slice_table=None if amounts else outcome.slices,
        intended_use=INTENDED_USE,
        synthetic_data=synthetic,
        boosting={
            "learning_rate": outcome.search["params"]["learning_rate"],
            "trees": outcome.model.booster.num_trees(),
            "validation_log_loss": outcome.search["validation_log_loss"],
            "cut_short": outcome.search.get("cut_short", False),
            "refitted": outcome.search["refitted"],
        },
        follow_up=fitted.follow_up,
        yuan_calibration=fitted.yuan_calibration if amounts else None,
        figures={
            title: path
            for title, path in (figures or {}).items()
            if amounts or title != YUAN_CALIBRATION_CHART
        },
        extra_limits=(
            "Valued on the newest cases of the export (by as_of_date); a court that follows "
            "up cases it chose, rather than at random, teaches the model its own choices.",
        ),
    )


FOLLOW_UP_CHART = "Yuan per 100 follow-ups"
YUAN_CALIBRATION_CHART = "Yuan calibration"


def draw_terminated_figures(fitted: TerminatedModels, folder: Path) -> dict[str, Path]:
    """The cards' charts of a terminated run, as PNGs in ``folder``: ``{title: path}``."""
    from training import plots

    return {
        FOLLOW_UP_CHART: plots.plot_follow_up(
            pd.DataFrame(fitted.follow_up),
            folder / "follow_up_value.png",
            "Yuan per 100 follow-ups, newest inventory (test split)",
        ),
        YUAN_CALIBRATION_CHART: plots.plot_yuan_calibration(
            fitted.yuan_calibration,
            folder / "yuan_calibration.png",
            "Yuan calibration, recovered test cases by decile",
        ),
    }


@dataclass
class TerminatedTrainResult(TrainResult):
    """A terminated-case training run: the new-case result with the follow-up values."""

    follow_up: list[dict[str, Any]] | None = None
    yuan_calibration: pd.DataFrame | None = None

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["follow_up"] = self.follow_up
        if self.yuan_calibration is not None:
            out["yuan_calibration"] = self.yuan_calibration.to_dict(orient="records")
        return out


def train_terminated(
    data: str | Path,
    *,
    truth: str | Path | None = None,
    config: TrainingConfig | None = None,
    settings: TriageSettings | None = None,
) -> TerminatedTrainResult:
    """Train, evaluate, log and register ``triage-resume`` and ``triage-recovery``."""
    import mlflow

    from models import registry
    from training.gate import promote_if_better

    settings = settings or get_settings()
    config = config or TrainingConfig(threads=settings.threads)
    started = time.monotonic()
    frame, report = read_cases(data, require_labels=True, contract=TERMINATED_RECORD)
    check_terminated_trainable(frame, report, config)
    truth_frame = read_terminated_truth(truth, frame["case_id"]) if truth else None
    fitted = fit_terminated_models(frame, config, truth=truth_frame, started=started)
    fingerprint, commit = file_fingerprint(data), git_commit()
    registry.configure_mlflow(settings)
    registered: list[tuple[str, str]] = []
    versions: dict[str, str] = {}
    promotions: dict[str, dict[str, object]] = {}
    with (
        mlflow.start_run(run_name=f"train terminated {Path(data).name}") as run,
        tempfile.TemporaryDirectory(prefix="triage-run-") as scratch,
        registry.cleanup_on_failure(registered),
    ):
        mlflow.set_tags(
            {
                "git_commit": commit,
                "data_fingerprint": fingerprint,
                "data_file": Path(data).name,
                "record": "terminated",
                "synthetic_data": str(truth is not None).lower(),
            }
        )
        mlflow.log_params(flat_params(config) | {"n_cases": len(frame)})
        follow_up = pd.DataFrame(fitted.follow_up)
        follow_up.to_csv(Path(scratch) / "follow_up_value.csv", index=False)
        fitted.yuan_calibration.to_csv(Path(scratch) / "yuan_calibration.csv", index=False)
        mlflow.log_artifact(str(Path(scratch) / "follow_up_value.csv"))
        mlflow.log_artifact(str(Path(scratch) / "yuan_calibration.csv"))
        # Off with --no-figures (config.figures), as the new-case models' charts are.
        charts = draw_terminated_figures(fitted, Path(scratch)) if config.figures else {}
        for chart in charts.values():
            mlflow.log_artifact(str(chart))
        for row in fitted.follow_up:
            key = f"follow_up.{row['ranking'].replace(' ', '_')}.k{row['budget_share']:.2f}"
            mlflow.log_metric(f"{key}.yuan_per_100", row["yuan_per_100"])
        test = fitted.split.test
        for kind, outcome in fitted.outcomes.items():
            name = registry.model_name(kind, settings)
            for scorer, values in outcome.metrics.items():
                mlflow.log_metrics(
                    {
                        f"{kind}.{scorer.replace(' ', '_')}.test.{k}": float(v)
                        for k, v in values.items()
                        if np.isfinite(v)
                    }
                )
            outcome.model.metadata = outcome.model.metadata.with_run(
                run_id=run.info.run_id, data_fingerprint=fingerprint, git_commit=commit
            )
            versions[kind] = registry.log_case_model(outcome.model, registered_name=name)
            registered.append((name, versions[kind]))
            outcome.card = terminated_card(
                kind,
                fitted,
                name=name,
                version=versions[kind],
                run_id=run.info.run_id,
                commit=commit,
                fingerprint=fingerprint,
                synthetic=truth is not None,
                figures={title: chart.name for title, chart in charts.items()},
            )
            mlflow.log_text(render_model_card(outcome.card), f"model_card_{kind}.md")
            mlflow.MlflowClient().update_model_version(
                name, versions[kind], description="\n".join(summary_lines(outcome.card))
            )
        for kind, outcome in fitted.outcomes.items():
            # Each model is gated on the test cases its label is defined on.
            column = "followed_up" if kind == "resume" else "recovered_after"
            rows = _within(test, frame[column].to_numpy() == 1)
            promotions[kind] = promote_if_better(
                registry.model_name(kind, settings),
                versions[kind],
                candidate_metrics=outcome.metrics["model"],
                target=TARGETS[kind],
                test_frame=frame.iloc[rows].reset_index(drop=True),
                config=config.gate,
                amounts=kind == "recovery",
                command="triage train --kind terminated",
            )
            mlflow.set_tag(f"{kind}_promoted", str(promotions[kind]["promoted"]).lower())
            mlflow.set_tag(f"{kind}_promotion_reason", promotions[kind]["reason"])
        seconds = time.monotonic() - started
        mlflow.log_metric("training_seconds", seconds)
    return TerminatedTrainResult(
        run_id=run.info.run_id,
        outcomes=fitted.outcomes,
        versions=versions,
        promotions=promotions,
        seconds=seconds,
        n_cases=len(frame),
        follow_up=fitted.follow_up,
        yuan_calibration=fitted.yuan_calibration,
    )


__all__ = [
    "BUDGETS",
    "KINDS",
    "RULES",
    "TerminatedModels",
    "TerminatedTrainResult",
    "draw_terminated_figures",
    "fit_terminated_models",
    "follow_up_value",
    "read_terminated_truth",
    "train_terminated",
]
