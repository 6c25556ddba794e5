"""Drift monitoring: the index, the report, and ``triage drift`` end to end.

The behaviour test scores a *shifted* synthetic sample — half the cases moved
to four western provinces, every claim five times larger — and checks that
the alert fires on the moved features (and on those computed from the
claim) and on nothing else, while an unshifted sample raises no alert.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from features.builder import FEATURE_NAMES, CaseFeatureBuilder
from features.record import FEATURE_FIELDS
from features.synthetic import generate_cases, write_synthetic
from models.case_model import LoadedModel
from models.metadata import ModelMetadata
from serving.drift import (
    EPSILON,
    DriftMonitor,
    DriftThresholds,
    decisions_frame,
    drift_report,
    population_stability_index,
)
from tests.conftest import triage_home
from training.config import SearchConfig, TrainingConfig
from training.train import fit_models

#: Features a larger claim moves: the claim itself and the ratios and flags built on it.
CLAIM_FEATURES = {
    "claim_amount_log",
    "preserved_to_claim_log",
    "capital_to_claim_log",
    "funds_to_claim_log",
    "funds_cover_claim",
    "liquid_to_claim_log",
    "securities_to_claim_log",
    "property_sale_likely",
}
MOVED = {"province"} | CLAIM_FEATURES
WESTERN = ["54", "63", "64", "65"]


def shifted(cases: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Half the cases moved to western provinces (court codes along), claims ×5.

    The frame is transformed rather than drawn with another ``GeneratorConfig``:
    the generator solves its constants per configuration (e.g. funds covering
    the claim in 25 % of cases), so a larger ``claim_median`` would move the
    deposits too, and unrelated features would drift with the claims.
    """
    rng = np.random.default_rng(seed)
    cases = cases.copy()
    moved = rng.random(len(cases)) < 0.5
    cases.loc[moved, "province"] = rng.choice(WESTERN, size=int(moved.sum()))
    cases["court_id"] = cases["province"] + cases["court_id"].str.slice(2)
    cases["claim_amount"] = cases["claim_amount"] * 5.0
    return cases


@pytest.fixture(scope="module")
def models() -> dict[str, LoadedModel]:
    """Both models trained in-process on 3,000 cases, with the profiles training gave them."""
    config = TrainingConfig(search=SearchConfig(n_trials=1, time_budget_seconds=5, max_rounds=200))
    fitted = fit_models(generate_cases(3000, seed=3).cases, config)
    return {
        kind: LoadedModel(f"triage-{kind}", "4", "champion", outcome.model)
        for kind, outcome in fitted.outcomes.items()
    }


@pytest.fixture(scope="module")
def live() -> pd.DataFrame:
    return generate_cases(3000, seed=21).cases


# --- the index and the thresholds ---------------------------------------------------------


def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_move():
    assert population_stability_index([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0
    small = population_stability_index([0.5, 0.5], [0.45, 0.55])
    large = population_stability_index([0.5, 0.5], [0.1, 0.9])
    expected = (0.45 - 0.5) * math.log(0.45 / 0.5) + (0.55 - 0.5) * math.log(0.55 / 0.5)
    assert small == pytest.approx(expected)
    assert 0 < small < 0.1 < 0.25 < large


def test_an_empty_bin_costs_a_finite_amount():
    psi = population_stability_index([0.0, 1.0], [0.1, 0.9])
    assert math.isfinite(psi)
    assert psi == pytest.approx(
        (0.1 - EPSILON) * math.log(0.1 / EPSILON) + (0.9 - 1.0) * math.log(0.9)
    )
    assert population_stability_index([0.0, 1.0], [0.0, 1.0]) == 0.0
    with pytest.raises(ValueError, match="bins"):
        population_stability_index([0.5, 0.5], [1.0])


def test_thresholds_name_the_state_and_must_be_ordered():
    thresholds = DriftThresholds()
    assert (thresholds.warn, thresholds.alert) == (0.1, 0.25)
    assert [thresholds.state(x) for x in (0.0, 0.099, 0.1, 0.249, 0.25, 3.0)] == [
        "ok",
        "ok",
        "warn",
        "warn",
        "alert",
        "alert",
    ]
    assert DriftThresholds(warn=0.05, alert=0.5).state(0.3) == "warn"
    with pytest.raises(ValueError, match="above warn"):
        DriftThresholds(warn=0.3, alert=0.2)


# --- from the decision log to features ----------------------------------------------------


def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Validated case dicts, as the service holds them (None for missing, bools for flags)."""
    records = []
    for row in frame.astype(object).to_dict(orient="records"):
        record = {
            k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()
        }
        for spec in FEATURE_FIELDS:
            if spec.kind.value == "boolean" and record[spec.name] is not None:
                record[spec.name] = bool(record[spec.name])
        record["filing_date"] = pd.Timestamp(row["filing_date"]).strftime("%Y-%m-%d")
        records.append(record)
    return records


def _log_rows(frame: pd.DataFrame, decided_at: str, versions=("1", "1"), start: int = 0):
    """Decision-log rows of a frame, built by the log's own row builder."""
    from serving.decision_log import build_rows

    records = _records(frame)
    n = len(records)
    return build_rows(
        ids=[f"{start + i:026d}" for i in range(n)],
        decided_at=decided_at,
        cases=records,
        p_complex=[0.5] * n,
        p_assets=[0.5] * n,
        streams=["review"] * n,
        reasons_json=['{"complex":[],"assets":[]}'] * n,
        stream_model=("triage-stream", versions[0]),
        assets_model=("triage-assets", versions[1]),
        shadow=None,
        source="batch",
    )


def test_decision_rows_give_the_features_of_the_original_cases():
    frame = generate_cases(300, seed=8).cases
    rows = _log_rows(frame, "2025-03-01T08:00:00.000Z")
    cases = decisions_frame(rows)
    assert {spec.name for spec in FEATURE_FIELDS} <= set(cases.columns)
    assert cases["province"].dtype == frame["province"].dtype
    assert cases["claim_amount"].dtype == np.float64
    assert cases["inquiry_done"].isin([0.0, 1.0]).all()
    assert cases["bank_balance"].isna().sum() == frame["bank_balance"].isna().sum() > 0
    builder = CaseFeatureBuilder().fit(frame)
    np.testing.assert_array_equal(builder.transform(cases), builder.transform(frame))


def test_a_missing_feature_field_in_the_log_is_missing_not_an_error():
    frame = generate_cases(5, seed=8).cases
    rows = _log_rows(frame, "2025-03-01T08:00:00.000Z")
    document = json.loads(rows[0]["case_features"])
    del document["registered_capital"]
    rows[0]["case_features"] = json.dumps(document)
    cases = decisions_frame(rows)
    assert math.isnan(cases.loc[0, "registered_capital"])


# --- the behaviour: a shifted sample --------------------------------------------------------


@pytest.mark.slow
def test_the_alert_fires_on_the_moved_features_and_nowhere_else(models, live):
    report = drift_report(models, shifted(live))
    psi = {item.name: item.psi for item in report.features}
    states = {item.name: item.state for item in report.features}
    assert states["province"] == "alert" and psi["province"] > 1.0
    assert states["claim_amount_log"] == "alert"
    assert {"funds_to_claim_log", "liquid_to_claim_log", "preserved_to_claim_log"} <= {
        i.name for i in report.alerts
    }
    # Everything the move could not touch stays quiet: not even a warning.
    for name, value in psi.items():
        if name not in MOVED:
            assert states[name] == "ok", f"{name} drifts without being moved: PSI {value:.3f}"
            assert value < 0.05, name
    # The report lists the alerts first, each feature once for both models.
    assert report.features[0].name == "province"
    assert [i.psi for i in report.features] == sorted(
        (i.psi for i in report.features), reverse=True
    )
    assert len(report.features) == len(FEATURE_NAMES)
    assert set(report.item("province").models) == {"stream", "assets"}


@pytest.mark.slow
def test_an_unshifted_sample_raises_no_alert(models, live):
    report = drift_report(models, live)
    assert report.alerts == []
    assert report.warnings == []
    assert max(item.psi for item in report.features) < 0.1
    assert {item.name for item in report.scores} == {"p_complex", "p_assets"}
    assert all(item.state == "ok" for item in report.scores)


@pytest.mark.slow
def test_a_code_the_reference_never_saw_gets_a_bin_of_its_own(models, live):
    stream = models["stream"]
    profile = dict(stream.model.metadata.reference_profile)
    entry = profile["province"]
    gone = entry.codes.index("44")
    profile["province"] = entry.model_copy(
        update={
            key: tuple(v for i, v in enumerate(getattr(entry, key)) if i != gone)
            for key in ("codes", "values", "shares")
        }
    )
    model = dataclasses.replace(
        stream.model,
        metadata=stream.model.metadata.model_copy(update={"reference_profile": profile}),
    )
    report = drift_report({"stream": dataclasses.replace(stream, model=model)}, live)
    province = report.item("province")
    assert province.unseen == ("44",)
    index = province.bins.index("44 广东")
    assert province.reference[index] == 0.0 and province.current[index] > 0.05
    assert province.state == "alert"


@pytest.mark.slow
def test_a_model_without_a_profile_is_refused(models):
    stream = models["stream"]
    bare = dataclasses.replace(stream.model, metadata=ModelMetadata())
    with pytest.raises(ValueError, match="no reference profile"):
        DriftMonitor({"stream": dataclasses.replace(stream, model=bare)})


@pytest.mark.slow
def test_no_cases_is_no_report(models):
    with pytest.raises(ValueError, match="no cases"):
        DriftMonitor(models).report()


# --- what the report says ---------------------------------------------------------------------


@pytest.mark.slow
def test_chunks_of_decisions_add_up_to_the_whole(models, live):
    sample = shifted(live).head(900)
    rows = _log_rows(sample.head(600), "2025-03-02T09:00:00.000Z", versions=("3", "3"))
    rows += _log_rows(sample.tail(300), "2025-03-05T09:00:00.000Z", start=600)
    monitor = DriftMonitor(models)
    for start in range(0, len(rows), 250):
        monitor.add_decisions(rows[start : start + 250])
    chunked = monitor.report(since="2025-03-01T00:00:00.000Z")
    whole = drift_report(models, sample)
    assert chunked.n_cases == 900
    for a, b in zip(chunked.features, whole.features, strict=True):
        assert a.name == b.name and a.psi == pytest.approx(b.psi, abs=1e-12)
    assert chunked.decided_by == {"stream": {"1": 300, "3": 600}, "assets": {"1": 300, "3": 600}}
    assert chunked.window["first"] == "2025-03-02T09:00:00.000Z"
    assert chunked.window["last"] == "2025-03-05T09:00:00.000Z"


@pytest.mark.slow
def test_the_json_and_html_reports_are_complete_and_self_contained(models, live):
    report = drift_report(
        models, shifted(live), since="2025-03-01T00:00:00.000Z", until="2025-04-01T00:00:00.000Z"
    )
    document = json.loads(report.to_json())
    assert document["n_cases"] == 3000
    assert document["thresholds"] == {"warn": 0.1, "alert": 0.25}
    assert document["models"]["stream"]["version"] == "4"
    assert "province" in document["alerts"]
    first = document["features"][0]
    assert {"name", "zh", "en", "psi", "state", "n", "missing_now", "missing_then", "bins"} <= set(
        first
    )
    assert sum(b["current"] for b in first["bins"]) == pytest.approx(1.0)

    page = report.to_html()
    assert page.startswith("<!doctype html>")
    # Nothing to fetch: no scripts, no stylesheets, no remote anything.
    assert not re.search(r"<script|<link|https?://|src=", page, flags=re.IGNORECASE)
    for text in ("省份", "province", "执行标的额", "claim amount", "警报", "alert", "<svg"):
        assert text in page
    # Sorted by PSI: the claim's row comes before the calm ones.
    assert page.index("执行标的额") < page.index("下落明确")


@pytest.mark.slow
def test_the_summary_names_the_alerts(models, live):
    lines = drift_report(models, shifted(live)).summary_lines()
    alert_line = next(line for line in lines if line.startswith("alert"))
    assert "province" in alert_line and "claim_amount_log" in alert_line
    assert any(line.startswith("scores: p_complex") for line in lines)


# --- triage drift, end to end ------------------------------------------------------------------


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A fresh TRIAGE_HOME with its MLflow store and decision log."""
    with triage_home(tmp_path_factory.mktemp("drift-home")) as home:
        yield home


@pytest.fixture(scope="module")
def champions(home, tmp_path_factory):
    """Both models trained with ``triage train`` and promoted to champion."""
    from app.cli import main

    folder = tmp_path_factory.mktemp("drift-data")
    cases, truth = folder / "cases.csv", folder / "truth.csv"
    write_synthetic(3000, cases, truth, seed=5)
    assert main(["train", "--data", str(cases), "--truth", str(truth), "--time-budget", "8",
                 "--trials", "1"]) == 0  # fmt: skip
    return home


@pytest.fixture(scope="module")
def decision_log(champions):
    """February: ordinary cases.  March: shifted cases, a third decided by an older version."""
    from app.settings import get_settings
    from models.triage import Triage
    from serving.decision_log import DecisionLog

    triage = Triage.from_registry()
    log = DecisionLog(get_settings().resolved_decision_log_url()).create()
    february = generate_cases(1000, seed=31).cases
    march = shifted(generate_cases(1500, seed=32).cases)
    rows = _log_rows(february, "2025-02-10T09:00:00.000Z", versions=("1", "1"))
    rows += _log_rows(march.head(500), "2025-03-03T09:00:00.000Z", versions=("0", "0"), start=1000)
    rows += _log_rows(march.tail(1000), "2025-03-20T09:00:00.000Z", start=1500)
    # The champions' own scores where they decided (the report recomputes them anyway).
    decided = triage.decide(pd.concat([february, march]).reset_index(drop=True), reasons=0)
    for row, p_complex, p_assets in zip(rows, decided.p_complex, decided.p_assets, strict=True):
        row["p_complex"], row["p_assets"] = float(p_complex), float(p_assets)
    log.write(rows)
    log.close()
    return champions


@pytest.mark.slow
def test_triage_drift_reports_the_shifted_month(decision_log, tmp_path, capsys):
    from app.cli import main

    html_path, json_path = tmp_path / "drift.html", tmp_path / "out" / "drift.json"
    code = main(
        ["drift", "--since", "2025-03-01", "--until", "2025-03-31",
         "--out", str(html_path), "--json", str(json_path)]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert re.search(r"^alert \(PSI ≥ 0.25\): .*province", printed, flags=re.MULTILINE)
    assert "decided by stream v0: 500, v1: 1000" in printed
    report = json.loads(json_path.read_text(encoding="utf-8"))
    assert report["n_cases"] == 1500
    assert {"province", "claim_amount_log"} <= set(report["alerts"])
    assert set(report["alerts"]) <= MOVED | {"p_complex", "p_assets"}
    assert report["models"]["stream"]["version"] == "1"
    assert report["models"]["stream"]["run_id"]
    assert report["models"]["stream"]["alias"] == "champion"
    assert report["decided_by"]["assets"] == {"0": 500, "1": 1000}
    assert report["window"]["since"] == "2025-03-01T00:00:00.000Z"
    assert report["window"]["until"] == "2025-04-01T00:00:00.000Z"
    page = html_path.read_text(encoding="utf-8")
    assert "省份" in page and "triage-stream" in page
    # Written atomically: no temporary files left beside the reports.
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "drift.html",
        "drift.json",
    ]


@pytest.mark.slow
def test_triage_drift_is_quiet_on_an_ordinary_month(decision_log, capsys):
    from app.cli import main

    assert main(["drift", "--since", "2025-02-01", "--until", "2025-02-28"]) == 0
    printed = capsys.readouterr().out
    assert "alert (PSI ≥ 0.25): none" in printed
    assert "1000 decisions" in printed


@pytest.mark.slow
def test_triage_drift_refuses_an_empty_window_and_a_missing_alias(decision_log, capsys):
    from app.cli import main

    assert main(["drift", "--since", "2030-01-01"]) == 2
    assert "no decisions" in capsys.readouterr().err
    assert main(["drift", "--since", "2025-03-01", "--until", "2025-02-01"]) == 2
    assert "before" in capsys.readouterr().err
    assert main(["drift", "--since", "2025-03-01", "--model-alias", "retired"]) == 2
    assert "nothing to compare with" in capsys.readouterr().err
