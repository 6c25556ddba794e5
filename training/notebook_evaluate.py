"""What ``notebooks/2.0-evaluate-models.ipynb`` computes; its cells call these and show the results.

The latest training run in MLflow: test metrics against the baselines and the
Bayes limit, reliability curves, slices, routing shares and example reasons of
the run's models; and, from the latest terminated-case (终本) run, the yuan
per 100 follow-ups of the model, the common rules and the Bayes-optimal
ranking, and the yuan calibration per decile.  The registry is the one of ``TRIAGE_HOME`` (or
``MLFLOW_TRACKING_URI``), as for every ``triage`` command.

The models are also scored afresh on the notebook's cases, read from the same
inputs as 1.0's: :class:`NotebookInputs`, :class:`CaseData` and
:func:`load_case_data` are :mod:`training.notebook_explore`'s, exported here
too so that the notebook calls one module.  Reliability is drawn with
:func:`training.plots.plot_reliability`, the model card's chart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.case_model import TARGETS, TERMINATED_KINDS
from training import evaluate
from training.notebook_explore import CaseData, NotebookInputs, float_values, load_case_data
from training.terminated import BAYES, MODEL, RULES
from training.truth import TRUTH_COLUMNS

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from mlflow.entities import Run

    from models.case_model import LoadedModel
    from models.triage import Triage

__all__ = [
    "CaseData",
    "NotebookInputs",
    "add_binned_curve",
    "bayes_gaps",
    "cost_over_bayes",
    "example_reasons",
    "follow_up_ratios",
    "follow_up_yuan",
    "fresh_evaluation",
    "latest_run",
    "latest_terminated_run",
    "load_case_data",
    "reliability_curves",
    "routing_shares",
    "routing_summary",
    "run_document",
    "run_metrics",
    "run_models",
    "run_table",
    "run_text",
    "terminated_run_note",
    "weakest_slices",
    "yuan_calibration_table",
]

#: How the scorers of a training run are shown, best known first.
SCORERS: tuple[str, ...] = ("model", "logistic_regression", "published_rules", "bayes_limit")

#: The models this notebook evaluates: those of new cases (`triage train` without --kind).
CASE_KINDS = tuple(kind for kind in TARGETS if kind not in TERMINATED_KINDS)


#: The tag value a `triage train --kind terminated` run carries under ``record``.
TERMINATED_RECORD = "terminated"


def _is_terminated(run: Run) -> bool:
    return run.data.tags.get("record") == TERMINATED_RECORD


def _newest_finished_run(*, terminated: bool) -> Run | None:
    """The newest finished training run of new cases, or of terminated cases."""
    import mlflow

    from models.registry import EXPERIMENT

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return None
    # Runs of new cases carry no ``record`` tag and MLflow cannot filter on a missing
    # tag, so the pages are read newest first until a run of the wanted kind shows.
    token = None
    while True:
        page = client.search_runs(
            [experiment.experiment_id],
            filter_string="attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=200,
            page_token=token,
        )
        for run in page:
            if _is_terminated(run) == terminated:
                return run
        token = page.token
        if not token:
            return None


def latest_run(run_id: str | None = None) -> Run:
    """The new-case run to evaluate: ``run_id``, or the newest finished one.

    Terminated-case runs (``triage train --kind terminated``) are passed over:
    they have no stream or assets model; :func:`latest_terminated_run` finds them.
    """
    import mlflow

    from models.registry import configure_mlflow

    configure_mlflow()
    if run_id:
        return mlflow.get_run(run_id)
    run = _newest_finished_run(terminated=False)
    if run is None:
        raise LookupError(
            f"no finished training run in {mlflow.get_tracking_uri()}: "
            "train with `triage train --data CASES.csv` first"
        )
    return run


def latest_terminated_run(run_id: str | None = None) -> Run | None:
    """The terminated-case run whose follow-ups to show: ``run_id``, or the newest finished one.

    None when the store holds none (the notebook then says the section is
    skipped); a ``run_id`` that is not a terminated-case run is refused.
    """
    import mlflow

    from models.registry import configure_mlflow

    configure_mlflow()
    if not run_id:
        return _newest_finished_run(terminated=True)
    run = mlflow.get_run(run_id)
    if not _is_terminated(run):
        raise ValueError(
            f"run {run_id} is not a terminated-case run (`triage train --kind terminated`)"
        )
    return run


def terminated_run_note(run: Run | None) -> str:
    """What the follow-up section shows first: the run it reads, or why it is skipped."""
    if run is None:
        import mlflow

        return (
            "Skipped: no finished terminated-case (终本) training run in "
            f"{mlflow.get_tracking_uri()}. Train one with `triage generate --kind terminated "
            "--n 100000 --out t.csv --truth tt.csv` then `triage train --kind terminated "
            "--data t.csv --truth tt.csv`, or name one in TRIAGE_NOTEBOOK_TERMINATED_RUN."
        )
    tags = run.data.tags
    return (
        f"terminated run {run.info.run_id} ({run.info.run_name}), data {tags.get('data_file')}, "
        f"git commit {tags.get('git_commit')}, synthetic: {tags.get('synthetic_data')}"
    )


def _metrics_under(run: Run, prefix: str) -> dict[str, float]:
    """The run's metrics whose key starts with ``prefix``, keyed by the rest of the key."""
    return {
        key[len(prefix) :]: value
        for key, value in run.data.metrics.items()
        if key.startswith(prefix)
    }


def run_metrics(run: Run) -> pd.DataFrame:
    """Test metrics of each model and its baselines (and the Bayes limit), one row each."""
    rows = []
    for kind in CASE_KINDS:
        for scorer in SCORERS:
            values = _metrics_under(run, f"{kind}.{scorer}.test.")
            if values:
                rows.append({"model": kind, "scorer": scorer, **values})
    columns = ["model", "scorer", *[m for m in evaluate.METRIC_NAMES if m != "n"], "n"]
    table = pd.DataFrame(rows)
    return table[[c for c in columns if c in table.columns]].set_index(["model", "scorer"])


def bayes_gaps(run: Run) -> pd.DataFrame:
    """How far each model is from the Bayes limit (logged when training had the truth)."""
    rows = []
    for kind in CASE_KINDS:
        values = _metrics_under(run, f"{kind}.gap_to_bayes.")
        if values:
            rows.append({"model": kind, **values})
    return pd.DataFrame(rows).set_index("model") if rows else pd.DataFrame()


def run_table(run: Run, artifact: str) -> pd.DataFrame:
    """A CSV artifact of the run (e.g. ``stream/slices.csv``)."""
    import mlflow

    path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=artifact)
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def run_document(run: Run, artifact: str) -> dict[str, Any]:
    """A JSON artifact of the run (e.g. ``stream/routing_policy.json``)."""
    import mlflow

    return mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/{artifact}")


def run_text(run: Run, artifact: str) -> str:
    """A text artifact of the run (e.g. ``model_card_stream.md``)."""
    import mlflow

    return mlflow.artifacts.load_text(f"{run.info.artifact_uri}/{artifact}")


def routing_summary(run: Run) -> pd.DataFrame:
    """Routing thresholds, stream shares and the two error rates, on validation and test."""
    routing = run_document(run, "stream/routing_policy.json")
    rows = {split: routing[split] for split in ("validation", "test") if split in routing}
    table = pd.DataFrame(rows).T
    for name, value in routing["thresholds"].items():
        table[name] = value
    for name, value in routing["policy"].items():
        table[f"policy {name}"] = value
    return table


def weakest_slices(slices: pd.DataFrame, n: int = 8) -> pd.DataFrame:
    """The slices with the lowest AUC (those large enough to have one), against the whole."""
    overall = slices.loc[slices["slice"] == "all", "auc"].iloc[0]
    evaluated = slices[(slices["slice"] != "all") & slices["auc"].notna()].copy()
    evaluated["auc vs all"] = evaluated["auc"] - overall
    return evaluated.nsmallest(n, "auc").reset_index(drop=True)


def run_models(run: Run) -> dict[str, LoadedModel]:
    """The model versions registered by the run: ``{"stream": LoadedModel, "assets": …}``."""
    import mlflow

    from models import registry

    client = mlflow.MlflowClient()
    found = {}
    for kind in CASE_KINDS:
        name = registry.model_name(kind)
        versions = client.search_model_versions(f"name='{name}' and run_id='{run.info.run_id}'")
        if versions:
            version = max(versions, key=lambda v: int(v.version))
            found[kind] = registry.load_case_model(name, version=str(version.version))
    if set(found) != set(CASE_KINDS):
        raise LookupError(f"run {run.info.run_id} registered {sorted(found)} only")
    return found


def fresh_evaluation(models: Mapping[str, LoadedModel], data: CaseData) -> pd.DataFrame:
    """Metrics of the run's models on the notebook's cases, beside the Bayes limit when known.

    These cases are not the run's test split: on a new synthetic sample they
    show what the logged test metrics promise for cases the run never saw.
    """
    rows = []
    for kind, loaded in models.items():
        y = float_values(data.cases[TARGETS[kind]])
        p = loaded.model.predict_proba(data.cases)
        rows.append(
            {"model": kind, "scorer": f"v{loaded.version}", **evaluate.binary_metrics(y, p)}
        )
        if data.truth is not None:
            bayes = evaluate.bayes_limit(y, data.truth[TRUTH_COLUMNS[kind]].to_numpy())
            rows.append({"model": kind, "scorer": "bayes_limit", **bayes})
    return pd.DataFrame(rows).set_index(["model", "scorer"])


def reliability_curves(
    models: Mapping[str, LoadedModel], data: CaseData
) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Per model, ``{label: (y, p)}`` for :func:`training.plots.plot_reliability`.

    The model's probabilities on the cases, and the true probabilities' (the
    Bayes limit) when known.
    """
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for kind, loaded in models.items():
        y = float_values(data.cases[TARGETS[kind]])
        p = loaded.model.predict_proba(data.cases)
        curves[kind] = {f"{kind} v{loaded.version}": (y, p)}
        if data.truth is not None:
            curves[kind]["Bayes limit"] = (y, data.truth[TRUTH_COLUMNS[kind]].to_numpy())
    return curves


def add_binned_curve(figure: Figure, table: pd.DataFrame, label: str) -> Figure:
    """Adds an already binned reliability curve to a :func:`training.plots.plot_reliability` figure.

    A run logs its test split's curve as bins (``reliability.csv``, from
    :func:`training.evaluate.reliability_curve`), not as the ``(y, p)`` the
    chart takes, so it goes on the top panel as a line of its own, without a
    histogram.
    """
    top = figure.axes[0]
    top.plot(
        table["mean_p"],
        table["observed_rate"],
        marker="o",
        markersize=3.5,
        linewidth=1.8,
        label=label,
    )
    top.legend(loc="upper left", fontsize="small")  # again, to list the new line
    return figure


def routing_shares(triage: Triage, data: CaseData) -> pd.DataFrame:
    """Share of cases per stream, overall and among truly complex and truly simple cases."""
    decisions = triage.decide(data.cases, reasons=0)
    streams = pd.Series(decisions.stream, name="stream")
    table = streams.value_counts(normalize=True).rename("all cases").to_frame()
    if "is_complex" in data.cases.columns:
        complex_ = float_values(data.cases["is_complex"])
        for value, name in ((1.0, "truly complex"), (0.0, "truly simple")):
            chosen = streams[complex_ == value]
            table[name] = chosen.value_counts(normalize=True)
    order = [s for s in ("simple", "review", "complex") if s in table.index]
    return table.reindex(order).fillna(0.0)


def cost_over_bayes(stream: LoadedModel, data: CaseData) -> pd.DataFrame:
    """The stream model's policy against the best possible routing at each review capacity.

    On the notebook's cases, with the national default policy at capacities
    5 %…50 %: the review share and error rates predicted from the model's
    validation summary beside those realised, and the expected cost per case
    over the Bayes-optimal routing's with as many reviews
    (:func:`training.thresholds.policy_curve_on_cases`, as `make bench` prints
    it).  Needs the cases' true probabilities (synthetic cases) and a model
    trained with court policies; otherwise a one-row table saying why.
    """
    from models.policy import DEFAULT_POLICY
    from training.thresholds import policy_curve_on_cases

    summary = stream.model.metadata.validation_scores
    if data.truth is None or summary is None or "is_complex" not in data.cases.columns:
        why = (
            "no true probabilities for these cases (synthetic cases carry them)"
            if data.truth is None
            else "the model keeps no validation summary (trained before court policies)"
            if summary is None
            else "the cases carry no is_complex label"
        )
        return pd.DataFrame({"unavailable": [why]})
    policy = stream.model.metadata.routing_policy or DEFAULT_POLICY
    curve = policy_curve_on_cases(
        summary,
        policy,
        stream.model.predict_proba(data.cases),
        float_values(data.cases["is_complex"]),
        data.truth[TRUTH_COLUMNS["stream"]].to_numpy(dtype=float),
    )
    return pd.DataFrame(curve).set_index("capacity")


def example_reasons(triage: Triage, cases: pd.DataFrame, per_stream: int = 2) -> pd.DataFrame:
    """A few decided cases of each stream with their top reasons, in Chinese and English."""
    # Route every case without reasons (contributions cost ~10 predictions), then
    # explain only the few shown.
    streams = triage.decide(cases, reasons=0).stream
    chosen: list[int] = []
    for stream in ("simple", "review", "complex"):
        chosen += np.flatnonzero(streams == stream)[:per_stream].tolist()
    decisions = triage.decide(cases.iloc[chosen], reasons=3)
    # Reasons are None only when none were asked for (reasons=0).
    assert decisions.reasons_complex is not None and decisions.reasons_assets is not None
    complex_reasons = decisions.reasons_complex.dicts()
    assets_reasons = decisions.reasons_assets.dicts()
    rows = [
        {
            "case_id": decisions.case_id[i],
            "stream": decisions.stream[i],
            "p_complex": decisions.p_complex[i],
            "p_assets": decisions.p_assets[i],
            "complex: reasons": _reason_text(complex_reasons[i]),
            "assets: reasons": _reason_text(assets_reasons[i]),
        }
        for i in range(len(decisions))
    ]
    return pd.DataFrame(rows).set_index("case_id")


def _reason_text(reasons: Sequence[Mapping[str, Any]]) -> str:
    return " · ".join(f"{r['zh']} / {r['en']} ({float(r['effect']):+.2f})" for r in reasons)


def _budget_label(share: float) -> str:
    return f"K = {share * 100:g} %"


def follow_up_yuan(table: pd.DataFrame) -> pd.DataFrame:
    """Yuan per 100 follow-ups: one row per ranking (model, rules, Bayes), one column per K.

    ``table`` is a run's ``follow_up_value.csv`` (the rows of
    :func:`training.terminated.follow_up_value`).  The budget in cases is in
    the column names.
    """
    order = [name for name in (MODEL, *RULES, BAYES) if name in set(table["ranking"])]
    wide = table.pivot(index="ranking", columns="budget_share", values="yuan_per_100")
    cases = table.groupby("budget_share")["budget"].first()
    wide = wide.reindex(order)
    wide.columns = [f"{_budget_label(share)} ({int(cases[share]):,} cases)" for share in wide]
    wide.index.name = "yuan per 100 follow-ups"
    return wide


def follow_up_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """The model against the best possible and the best rule, per K.

    Rows ``model ÷ Bayes-optimal`` (only when the run had the generator's
    truth) and ``model ÷ best rule``, the best of the three rules at that K;
    computed from the yuan of ``table`` (a run's ``follow_up_value.csv``).
    """
    yuan = table.pivot(index="ranking", columns="budget_share", values="yuan_per_100")
    rows: dict[str, pd.Series] = {}
    if BAYES in yuan.index:
        rows[f"{MODEL} ÷ {BAYES}"] = yuan.loc[MODEL] / yuan.loc[BAYES]
    best_rule = yuan.loc[[rule for rule in RULES if rule in yuan.index]].max()
    rows[f"{MODEL} ÷ best rule"] = yuan.loc[MODEL] / best_rule.where(best_rule > 0)
    ratios = pd.DataFrame(rows).T
    ratios.columns = [_budget_label(share) for share in ratios.columns]
    return ratios


def yuan_calibration_table(deciles: pd.DataFrame) -> pd.DataFrame:
    """A run's ``yuan_calibration.csv`` by decile, and a last row ``all`` of the pooled cases.

    Means are pooled weighting each decile by its cases, so ``all`` compares
    the total predicted with the total realised (and true expected) yuan.
    """
    table = deciles.set_index("decile")
    table.index = table.index.astype(str)
    n = table["n"].to_numpy(dtype=np.float64)
    pooled: dict[str, float] = {"n": float(n.sum())}
    for column in ("predicted", "realised", "expected"):
        if column in table.columns:
            pooled[column] = float((table[column] * n).sum() / n.sum())
    pooled["ratio"] = pooled["predicted"] / pooled["realised"]
    if "expected" in pooled:
        pooled["ratio_expected"] = pooled["predicted"] / pooled["expected"]
    table.loc["all"] = pd.Series(pooled)
    table["n"] = table["n"].astype(int)
    return table
