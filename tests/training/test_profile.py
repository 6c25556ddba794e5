"""The reference profile a model version carries: its training features and test scores, binned."""

from __future__ import annotations

import numpy as np
import pytest

from features.builder import FEATURE_NAMES, CaseFeatureBuilder
from features.record import FEATURE_FIELDS
from features.synthetic import generate_cases
from models.case_model import CaseModel
from models.profile import SCORE_KEY, CodeProfile, NumericProfile
from training.config import SearchConfig, TrainingConfig
from training.profile import feature_profile, scored_profile
from training.train import fit_models


@pytest.fixture(scope="module")
def fitted():
    """Both models trained in-process on 3,000 cases, as `triage train` fits them."""
    config = TrainingConfig(search=SearchConfig(n_trials=1, time_budget_seconds=5, max_rounds=200))
    return fit_models(generate_cases(3000, seed=3).cases, config)


def _profile_of(columns: dict[str, np.ndarray], p: np.ndarray) -> dict:
    builder = CaseFeatureBuilder.from_vocabulary(
        {spec.name: spec.code_values for spec in FEATURE_FIELDS if spec.codes}
    )
    X = np.column_stack([columns.get(name, np.zeros(len(p))) for name in FEATURE_NAMES])
    return scored_profile(feature_profile(list(FEATURE_NAMES), builder, X), p)


def test_numeric_bins_keep_flags_apart_and_leave_room_above_the_training_range():
    flag = np.array([0.0] * 6 + [1.0] * 3 + [np.nan])
    amount = np.log1p(np.arange(10, dtype=float) * 1000)
    p = np.linspace(0.05, 0.95, 10)
    profile = _profile_of({"dishonest_listed": flag, "claim_amount_log": amount}, p)

    entry = profile["dishonest_listed"]
    assert isinstance(entry, NumericProfile)
    assert entry.edges == (0.0, 1.0)
    # Bins: <= 0, (0, 1], > 1, and missing apart.
    assert entry.shares == pytest.approx([0.6, 0.3, 0.0])
    assert entry.missing == pytest.approx(0.1)
    assert entry.n == 10

    claim = profile["claim_amount_log"]
    assert len(claim.shares) == len(claim.edges) + 1
    assert claim.shares[-1] == 0.0  # nothing above the training maximum
    assert sum(claim.shares) + claim.missing == pytest.approx(1.0)

    score = profile[SCORE_KEY]
    assert score.kind == "score"
    assert score.edges == pytest.approx([0.1 * i for i in range(1, 10)])
    assert score.shares == pytest.approx([0.1] * 10)


@pytest.mark.slow
def test_coded_features_are_profiled_by_code(fitted):
    model = fitted.outcomes["stream"].model
    entry = model.metadata.reference_profile["province"]
    assert isinstance(entry, CodeProfile)
    vocabulary = model.builder.categories_["province"]
    assert list(entry.codes) == [vocabulary[int(v)] for v in entry.values]
    assert sum(entry.shares) + entry.missing == pytest.approx(1.0)


@pytest.mark.slow
def test_training_profiles_what_the_model_learned_from(fitted):
    """Each model's profile describes its own training features and its test scores."""
    for outcome in fitted.outcomes.values():
        model = outcome.model
        profile = model.metadata.reference_profile
        assert set(profile) == {*model.feature_names, SCORE_KEY}
        claim = profile["claim_amount_log"]
        assert claim.n == len(fitted.split.train)
        assert profile[SCORE_KEY].n == len(fitted.split.test)


@pytest.mark.slow
def test_the_profile_survives_the_model_files(fitted, tmp_path):
    model = fitted.outcomes["assets"].model
    restored = CaseModel.load(model.save(tmp_path / "assets"))
    assert restored.metadata == model.metadata
    assert restored.metadata.reference_profile == model.metadata.reference_profile


@pytest.mark.slow
def test_the_run_profiles_the_shared_features_once_and_each_model_as_if_alone(fitted):
    """The features' half computed once for both models equals each model's own profile."""
    X_train = fitted.X[fitted.split.train]
    for outcome in fitted.outcomes.values():
        model = outcome.model
        alone = scored_profile(
            feature_profile(model.feature_names, model.builder, X_train),
            outcome.curves["model"][1],
        )
        assert model.metadata.reference_profile == alone
