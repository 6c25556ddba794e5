"""The assets model's amount part when the export cannot teach one: trained without, said so."""

from __future__ import annotations

import json

import pytest

from features.synthetic import generate_cases
from models.case_model import AMOUNT_BOOSTER_FILE, MODEL_FILE, CaseModel
from training.amount import amount_problem
from training.card import ExpectedRecoveryCard, ModelCardData, render_model_card
from training.config import SearchConfig, TrainingConfig
from training.split import split_by_filing_date
from training.train import fit_models

pytestmark = pytest.mark.slow  # one small training (~20 s on a shared 2-core machine)

FAST = TrainingConfig(
    search=SearchConfig(n_trials=1, time_budget_seconds=4, max_rounds=120),
    threads=1,
    figures=False,
)


def test_an_export_without_recovered_amount_trains_an_assets_model_without_the_part(tmp_path):
    cases = generate_cases(1200, seed=5).cases.drop(columns=["recovered_amount"])
    assets = fit_models(cases, FAST).outcomes["assets"]
    assert assets.model.amount is None and assets.recovery is None
    assert assets.recovery_problem == "the export has no recovered_amount column"
    folder = assets.model.save(tmp_path / "assets")
    assert json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))["amount"] is None
    assert not (folder / AMOUNT_BOOSTER_FILE).exists()
    loaded = CaseModel.load(folder)
    features = loaded.features(cases.head(5))
    assert loaded.expected_recovery(features, loaded.predict_proba(cases.head(5))) is None
    card = render_model_card(
        ModelCardData(
            model_name="triage-assets",
            target="has_recoverable_assets",
            expected_recovery=ExpectedRecoveryCard(problem=assets.recovery_problem),
        )
    )
    assert "carries no amount part: the export has no recovered_amount column" in card
    assert "`expected_recovery` null" in card


def test_too_few_recovered_cases_with_an_amount_leave_the_part_out_and_say_how_many():
    cases = generate_cases(2500, seed=5).cases
    split = split_by_filing_date(cases["filing_date"], FAST.split)
    assert amount_problem(cases, split) is None
    # Amounts known for a handful of cases only (an export that fills the column rarely).
    cases.loc[cases.index[40:], "recovered_amount"] = float("nan")
    problem = amount_problem(cases, split)
    assert problem is not None and problem.startswith(
        "too few recovered cases with a recovered_amount (train "
    )
    assert "at least 30 in each part" in problem
