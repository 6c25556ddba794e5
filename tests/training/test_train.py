"""Training end to end against a real MLflow store (SQLite in a temporary TRIAGE_HOME).

One module-scoped home: the first training registers version 1 of both
models; later tests add versions and check what the gate and the alias
commands did.  Run with ``--dist loadfile`` so the module stays on one worker.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from app.cli import main
from features.record import PII_FIELDS
from features.synthetic import GeneratorConfig, write_synthetic
from models import registry
from tests.conftest import triage_home
from training.checks import TrainingRefused
from training.config import SearchConfig, TrainingConfig
from training.train import train

pytestmark = pytest.mark.slow

FAST = TrainingConfig(search=SearchConfig(n_trials=3, time_budget_seconds=20, max_rounds=400))
CLI_FAST = ["--time-budget", "20", "--trials", "3"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A fresh TRIAGE_HOME (and MLflow store) for this module."""
    with triage_home(tmp_path_factory.mktemp("train-home")) as home:
        yield home


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """4,000 labelled cases with personal-data columns, a truth file and 1,000 newer cases."""
    folder = tmp_path_factory.mktemp("data")
    cases, truth = folder / "cases.csv", folder / "truth.csv"
    write_synthetic(4000, cases, truth, seed=11, with_pii=True)
    new_path = folder / "new.csv"
    write_synthetic(
        1000, new_path, seed=12, config=GeneratorConfig(start="2025-01-01", end="2025-03-31")
    )
    return {
        "cases": cases,
        "truth": truth,
        "new": new_path,
        "frame": pd.read_csv(cases, dtype=str),
        "folder": folder,
    }


@pytest.fixture(scope="module")
def first(home, sample, tmp_path_factory):
    """The first training: both models registered as version 1 and promoted."""
    results = tmp_path_factory.mktemp("results") / "train.json"
    code = main(
        [
            "train",
            "--data",
            str(sample["cases"]),
            "--truth",
            str(sample["truth"]),
            "--results",
            str(results),
            *CLI_FAST,
        ]
    )
    assert code == 0
    return json.loads(results.read_text())


def _versions(name: str) -> list[str]:
    client = mlflow.MlflowClient()
    return sorted(str(v.version) for v in client.search_model_versions(f"name='{name}'"))


def _run_ids() -> set[str]:
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    return {run.info.run_id for run in runs}


def test_first_training_registers_and_promotes_both_models(first):
    for kind in ("stream", "assets"):
        model = first["models"][kind]
        assert model["version"] == "1"
        assert model["promoted"], model["reason"]
        assert model["test"]["model"]["auc"] > 0.7
        assert {"logistic_regression", "bayes_limit"} <= set(model["test"])
    assert "published_rules" in first["models"]["stream"]["test"]
    # What scoring costs is in the summary: the trees of the model registered.
    assets = first["models"]["assets"]
    champion = registry.load_case_model("triage-assets").model
    assert assets["trees"] == champion.booster.num_trees() > 0
    assert assets["learning_rate"] in (FAST.search.learning_rate, FAST.search.search_learning_rate)
    client = mlflow.MlflowClient()
    for name in ("triage-stream", "triage-assets"):
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
        assert str(client.get_model_version_by_alias(name, "challenger").version) == "1"


def test_the_run_records_data_code_metrics_and_artifacts(first, sample):
    run = mlflow.get_run(first["run_id"])
    assert run.data.params["n_cases"] == "4000"
    assert len(run.data.tags["data_fingerprint"]) == 64
    assert run.data.tags["git_commit"]
    for key in (
        "stream.model.test.auc",
        "assets.model.test.log_loss",
        "assets.gap_to_bayes.auc_gap",
    ):
        assert key in run.data.metrics
    assert "stream.threshold.simple_below" in run.data.params
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(first["run_id"])}
    assert {
        "model_card_stream.md",
        "model_card_assets.md",
        "validation_report.json",
        "stream",
    } <= artifacts
    nested = {a.path for a in mlflow.MlflowClient().list_artifacts(first["run_id"], "stream")}
    for figure in ("roc.png", "reliability.png", "feature_importance.png", "score_histograms.png"):
        assert f"stream/{figure}" in nested
    card = mlflow.artifacts.load_text(f"runs:/{first['run_id']}/model_card_stream.md")
    assert "Bayes" in card and "routing" in card.lower()
    boosting = card.split("## Boosting", 1)[1].split("\n## ", 1)[0]
    trees = first["models"]["stream"]["trees"]
    assert f"| trees | {trees:,} |" in boosting
    assert f"| learning rate | {first['models']['stream']['learning_rate']:.4f} |" in boosting
    # Reasons are TreeSHAP's own: the card compares them with pred_contrib on test cases.
    reasons = card.split("## Reasons", 1)[1].split("\n## ", 1)[0]
    assert "| same top 3 reasons (features and signs) | 100.0 % |" in reasons, reasons
    run = mlflow.get_run(first["run_id"])
    assert run.data.metrics["stream.reasons.top3_agreement"] == 1.0
    assert run.data.metrics["assets.reasons.largest_difference"] < 1e-9
    assert run.data.metrics["stream.reasons.cases"] > 0
    # The data table gives each split's share of complex cases.
    rows = [line for line in card.splitlines() if line.startswith(("| train ", "| test "))]
    assert len(rows) == 2 and all(row.rstrip(" |").endswith("%") for row in rows), rows
    # The stream model's policy at each review capacity, from 0 to 50 % in 5-point rows.
    tradeoff = card.split("## Review capacity: the trade-off", 1)[1].split("\n## ", 1)[0]
    capacities = [line.split("|")[1].strip() for line in tradeoff.splitlines() if "| " in line]
    assert capacities == ["review capacity", *(f"{k} %" for k in range(0, 55, 5))], capacities
    assets_card = mlflow.artifacts.load_text(f"runs:/{first['run_id']}/model_card_assets.md")
    assert "## Review capacity" not in assets_card
    # With the truth: the routing's cost over the Bayes-optimal routing's at each capacity.
    curve = first["models"]["stream"]["policy_cost_curve"]
    assert [point["capacity"] for point in curve] == [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5]
    assert all(point["cost_ratio"] > 0.9 for point in curve)  # 1 is the best possible
    assert f"| 50 % | {curve[-1]['share_review'] * 100:.1f} % |" in card


def test_registered_model_round_trips_through_mlflow_pyfunc(first, sample):
    model = mlflow.pyfunc.load_model("models:/triage-assets@champion")
    assert model.metadata.signature is not None
    assert model.metadata.saved_input_example_info is not None
    cases = pd.read_csv(sample["new"], dtype=str).head(50)
    out = model.predict(cases)
    assert list(out.columns) == [
        "case_id",
        "probability",
        "raw_score",
        "reasons",
        "expected_recovery",
    ]
    assert out["probability"].between(0, 1).all()
    direct = registry.load_case_model("triage-assets").model
    from features.load import load_cases

    frame = load_cases(sample["new"]).head(50)
    np.testing.assert_allclose(out["probability"], direct.predict_proba(frame), rtol=0, atol=1e-12)
    features = direct.features(frame)
    expected = direct.expected_recovery(features, direct.predict_proba(frame))
    np.testing.assert_allclose(out["expected_recovery"], expected, rtol=1e-12)
    reasons = json.loads(out["reasons"].iloc[0])
    assert len(reasons) == 3 and {"code", "zh", "en", "effect"} <= set(reasons[0])
    stream = mlflow.pyfunc.load_model("models:/triage-stream@champion").predict(cases)
    assert set(stream["stream"]) <= {"simple", "complex", "review"}


def test_the_assets_version_carries_expected_recovery_calibrated_on_newer_cases(first, sample):
    """p_assets × E[amount | recovered] from the registered version, against realised yuan."""
    from features.load import load_cases
    from models.triage import Triage

    champion = registry.load_case_model("triage-assets").model
    assert champion.amount is not None and champion.amount.calibrator.method == "log_link"
    newer = load_cases(sample["new"])
    scored = Triage.from_registry().decide_frame(newer, reasons=0)
    predicted = scored["expected_recovery"].to_numpy()
    realised = newer["recovered_amount"].to_numpy()
    # Loose: 1,000 heavy-tailed amounts alone move the realised total by ~10 %.
    assert 0.7 <= predicted.sum() / realised.sum() <= 1.3, predicted.sum() / realised.sum()
    decile = pd.qcut(predicted, 10, labels=False)
    means = pd.Series(realised).groupby(decile).mean()
    assert means.iloc[7:].mean() > 10 * means.iloc[:3].mean(), means
    assert np.corrcoef(np.arange(10), means.rank())[0, 1] > 0.8, means
    # The run says what it is worth: the results, the card's section and the table artifact.
    summary = first["models"]["assets"]["expected_recovery"]
    assert len(summary["calibration"]) == 10
    assert summary["amount_given_recovery"]["model"]["n"] > 100
    assert first["models"]["stream"].get("expected_recovery") is None
    card = mlflow.artifacts.load_text(f"runs:/{first['run_id']}/model_card_assets.md")
    section = card.split("## Expected recovery (yuan)", 1)[1].split("\n## ", 1)[0]
    assert "predicted ÷ true" in section  # the truth file carries expected_recovery_true
    assert sum(line.startswith("| 10 |") for line in section.splitlines()) == 1
    table = mlflow.artifacts.load_text(
        f"runs:/{first['run_id']}/assets/expected_recovery_calibration.csv"
    )
    assert table.splitlines()[0].startswith("decile,n,predicted,realised,ratio")


def test_personal_data_never_reaches_the_store(first, sample, home):
    values = set()
    for column in PII_FIELDS:
        values.update(str(v) for v in sample["frame"][column].head(300))
    assert values
    leaks = []
    for path in Path(home).rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            leaks += [(path.name, v) for v in values if v.encode() in blob]
    assert not leaks, leaks[:5]


def test_shuffled_labels_stay_challenger_and_say_why(first, sample, tmp_path, capsys):
    frame = pd.read_csv(sample["cases"], dtype=str)
    rng = np.random.default_rng(0)
    for label in ("is_complex", "has_recoverable_assets"):
        frame[label] = rng.permutation(frame[label].to_numpy())
    path = tmp_path / "shuffled.csv"
    frame.to_csv(path, index=False)
    assert main(["train", "--data", str(path), *CLI_FAST]) == 0
    out = capsys.readouterr().out
    assert "not promoted" in out and "below the floor" in out
    client = mlflow.MlflowClient()
    for name in ("triage-stream", "triage-assets"):
        challenger = str(client.get_model_version_by_alias(name, "challenger").version)
        assert challenger != "1"
        assert str(client.get_model_version_by_alias(name, "champion").version) == "1"


def test_leaking_column_is_refused_and_nothing_registered(first, sample, tmp_path, capsys):
    frame = pd.read_csv(sample["cases"], dtype=str)
    # A field filled after the case closed: vehicles counted only where money came back.
    frame["vehicle_count"] = np.where(
        frame["inquiry_done"] == "true", frame["has_recoverable_assets"], ""
    )
    path = tmp_path / "leak.csv"
    frame.to_csv(path, index=False)
    before = {name: _versions(name) for name in ("triage-stream", "triage-assets")}
    assert main(["train", "--data", str(path), *CLI_FAST]) == 2
    err = capsys.readouterr().err
    assert "leak" in err and "vehicle_count" in err and "nothing registered" in err
    assert {name: _versions(name) for name in before} == before


@pytest.mark.parametrize("problem", ["invalid", "few", "one_class"])
def test_untrainable_data_is_refused_before_mlflow(problem, sample, tmp_path, home):
    frame = pd.read_csv(sample["cases"], dtype=str)
    if problem == "invalid":
        frame.loc[3, "claim_amount"] = "-5"
        expected = "fails validation"
    elif problem == "few":
        frame = frame.head(100)
        expected = "at least 500 are needed"
    else:
        frame["is_complex"] = "1"
        expected = "one class"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    from models import registry

    registry.configure_mlflow()
    runs = _run_ids()
    versions = {name: _versions(name) for name in ("triage-stream", "triage-assets")}
    with pytest.raises(TrainingRefused, match=expected):
        train(path, config=FAST)
    assert _run_ids() == runs
    assert {name: _versions(name) for name in versions} == versions


def test_promote_and_rollback_move_aliases_and_record_why(first, sample, capsys):
    name = "triage-assets"
    client = mlflow.MlflowClient()
    newest = max(_versions(name), key=int)
    assert main(["promote", "--model", name, "--version", newest, "--reason", "audit check"]) == 0
    assert str(client.get_model_version_by_alias(name, "champion").version) == newest
    assert main(["rollback", "--model", name]) == 0
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    history = registry.alias_history(name)
    reasons = [move.reason for move in history if move.alias == "champion"]
    assert reasons[-2] == "audit check" and reasons[-1].startswith("manual rollback")
    assert all(move.time for move in history)
    assert main(["promote", "--model", name, "--version", "99"]) == 2
    assert "no version 99" in capsys.readouterr().err
    assert main(["promote", "--model", "no-such-model", "--version", "1"]) == 2


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path
