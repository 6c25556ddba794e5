"""Helpers of the evaluation notebook that need no training run (the notebook test runs the rest)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from training.evaluate import reliability_curve
from training.notebook_evaluate import CaseData, add_binned_curve, reliability_curves
from training.plots import plot_reliability


def _models_and_data(n: int = 2000):
    """A stand-in for a run's stream model (a fixed score) and cases with their truth."""
    rng = np.random.default_rng(3)
    truth = rng.uniform(size=n)
    y = (rng.uniform(size=n) < truth).astype(float)
    score = np.clip(truth + rng.normal(0, 0.1, size=n), 0, 1)
    model = SimpleNamespace(predict_proba=lambda cases: score[: len(cases)])
    data = CaseData(
        cases=pd.DataFrame({"is_complex": y}),
        truth=pd.DataFrame({"p_complex_true": truth}),
        sample=None,
        source="test",
    )
    return {"stream": SimpleNamespace(version="4", model=model)}, data, (y, score, truth)


def test_reliability_curves_are_y_and_p_per_label():
    models, data, (y, score, truth) = _models_and_data()
    curves = reliability_curves(models, data)
    assert list(curves) == ["stream"]
    assert list(curves["stream"]) == ["stream v4", "Bayes limit"]
    np.testing.assert_array_equal(curves["stream"]["stream v4"][0], y)
    np.testing.assert_array_equal(curves["stream"]["stream v4"][1], score)
    np.testing.assert_array_equal(curves["stream"]["Bayes limit"][1], truth)
    unknown = CaseData(cases=data.cases, truth=None, sample=None, source="test")
    assert list(reliability_curves(models, unknown)["stream"]) == ["stream v4"]


def test_a_logged_binned_curve_joins_the_top_panel_and_its_legend():
    models, data, (y, score, _) = _models_and_data()
    figure = plot_reliability(reliability_curves(models, data)["stream"], title="stream")
    logged = reliability_curve(y[:1000], score[:1000])  # what a run writes to reliability.csv
    histograms = len(figure.axes[1].patches)

    assert add_binned_curve(figure, logged, "test split (logged)") is figure
    top = figure.axes[0]
    line = top.get_lines()[-1]
    assert line.get_label() == "test split (logged)"
    np.testing.assert_allclose(line.get_xdata(), logged["mean_p"])
    np.testing.assert_allclose(line.get_ydata(), logged["observed_rate"])
    legend = [text.get_text() for text in top.get_legend().get_texts()]
    assert legend[-1] == "test split (logged)" and len(legend) == 4  # perfect, model, Bayes, logged
    assert len(figure.axes[1].patches) == histograms  # bins have no predictions to histogram


def test_cost_over_bayes_prices_each_capacity_against_the_best_routing_with_as_many_reviews():
    from models.policy import ScoreSummary
    from training.notebook_evaluate import cost_over_bayes
    from training.thresholds import BAYES_CURVE_CAPACITIES

    models, data, (y, score, _) = _models_and_data(4000)
    stream = models["stream"]
    # Validation: the first half of the same kind of scores; the model kept their summary.
    stream.model.metadata = SimpleNamespace(
        validation_scores=ScoreSummary.from_scores(score[:2000], y[:2000]), routing_policy=None
    )
    table = cost_over_bayes(stream, data)
    assert list(table.index) == list(BAYES_CURVE_CAPACITIES)
    # Noisy scores cost more than the truth would with as many reviews, never much less.
    assert (table["cost_ratio"] > 0.99).all() and table["cost_ratio"].iloc[0] > 1.0
    assert (table["share_review"] <= table.index + 0.05).all()
    np.testing.assert_allclose(
        table["model_cost_days"] / table["bayes_cost_days"], table["cost_ratio"]
    )
    unknown = CaseData(cases=data.cases, truth=None, sample=None, source="test")
    assert "no true probabilities" in cost_over_bayes(stream, unknown)["unavailable"].iloc[0]
