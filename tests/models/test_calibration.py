"""A model's calibrator maps raw scores to probabilities and survives its JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.calibration import ScoreCalibrator


def test_none_is_the_boosters_own_sigmoid():
    raw = np.array([-2.0, 0.0, 3.0])
    assert ScoreCalibrator().probability(raw) == pytest.approx(1 / (1 + np.exp(-raw)))


def test_isotonic_interpolates_its_knots_and_stays_off_0_and_1():
    calibrator = ScoreCalibrator(method="isotonic", knots_x=(-1.0, 1.0), knots_y=(0.0, 1.0))
    p = calibrator.probability(np.array([-5.0, -1.0, 0.0, 0.5, 5.0]))
    assert p[2] == pytest.approx(0.5)
    assert p[3] == pytest.approx(0.75)
    assert 0 < p[0] < 1e-5 and 1 - 1e-5 < p[-1] < 1


@pytest.mark.parametrize(
    "calibrator",
    [
        ScoreCalibrator(),
        ScoreCalibrator(method="sigmoid", slope=0.8, intercept=-0.1),
        ScoreCalibrator(method="isotonic", knots_x=(-2.0, 0.0, 2.5), knots_y=(0.1, 0.4, 0.9)),
    ],
)
def test_the_stored_json_gives_the_same_probabilities(calibrator):
    restored = ScoreCalibrator.from_dict(json.loads(json.dumps(calibrator.to_dict())))
    raw = np.linspace(-4, 4, 41)
    assert restored == calibrator
    assert np.array_equal(restored.probability(raw), calibrator.probability(raw))


def test_an_unknown_method_is_refused_with_its_name():
    with pytest.raises(ValueError, match="'platt'"):
        ScoreCalibrator.from_dict(
            {"method": "platt", "slope": 1, "intercept": 0, "knots_x": [], "knots_y": []}
        )
