"""Calibration is chosen by cross-validated log loss, and only when it helps."""

from __future__ import annotations

import numpy as np

from training.calibration import choose_calibrator


def _labels(raw, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random(raw.size) < 1 / (1 + np.exp(-raw))).astype(int)


def test_a_calibrated_score_keeps_the_boosters_sigmoid():
    raw = np.random.default_rng(1).normal(0, 1.5, 20_000)
    calibrator, losses = choose_calibrator(raw, _labels(raw))
    assert calibrator.method == "none"
    assert set(losses) == {"none", "sigmoid", "isotonic"}


def test_an_overconfident_score_is_rescaled():
    raw = np.random.default_rng(2).normal(0, 1.5, 20_000)
    y = _labels(raw)
    calibrator, losses = choose_calibrator(3 * raw, y)  # three times too confident
    assert calibrator.method in ("sigmoid", "isotonic")
    assert losses[calibrator.method] < losses["none"]
    if calibrator.method == "sigmoid":
        assert abs(calibrator.slope - 1 / 3) < 0.05
