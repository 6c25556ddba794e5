"""The promotion gate's decision, as a pure function of test metrics."""

from __future__ import annotations

from training.config import GateConfig
from training.gate import ece_ceiling, gate_decision

GOOD = {"auc": 0.84, "log_loss": 0.47, "ece": 0.01, "n": 30_000}


def test_first_model_is_promoted_when_it_clears_the_floors():
    promoted, reason = gate_decision(GOOD, None, GateConfig())
    assert promoted and "first champion" in reason


def test_a_model_no_better_than_chance_is_refused_with_the_reason():
    promoted, reason = gate_decision({**GOOD, "auc": 0.51}, None, GateConfig())
    assert not promoted
    assert "test AUC 0.5100 is below the floor 0.65" in reason


def test_worse_than_champion_beyond_tolerance_is_refused():
    champion = {**GOOD, "auc": 0.85, "log_loss": 0.46}
    promoted, reason = gate_decision(GOOD, champion, GateConfig(auc_tolerance=0.005))
    assert not promoted and "trails the champion's 0.8500" in reason
    promoted, _ = gate_decision(
        GOOD, champion, GateConfig(auc_tolerance=0.02, log_loss_tolerance=0.05)
    )
    assert promoted


def test_log_loss_worse_than_champion_is_refused():
    champion = {**GOOD, "log_loss": 0.40}
    promoted, reason = gate_decision(GOOD, champion, GateConfig())
    assert not promoted and "log loss 0.4700 exceeds the champion's 0.4000" in reason


def test_the_calibration_ceiling_allows_for_sampling_noise_on_small_test_splits():
    config = GateConfig(max_ece=0.05)
    assert ece_ceiling(config, 600) > 0.1
    assert 0.05 < ece_ceiling(config, 30_000) < 0.06
    assert gate_decision({**GOOD, "ece": 0.07, "n": 600}, None, config)[0]
    promoted, reason = gate_decision({**GOOD, "ece": 0.07, "n": 30_000}, None, config)
    assert not promoted and "calibration error 0.0700 is above the ceiling" in reason
