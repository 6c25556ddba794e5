"""Helpers of the evaluation notebook that need no training run (the notebook test runs the rest)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

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


def _follow_up_rows() -> pd.DataFrame:
    """A run's follow_up_value.csv in miniature: yuan per 100 follow-ups at two budgets."""
    yuan = {
        0.01: {"model": 900.0, "largest unpaid first": 300.0, "oldest first": 100.0},
        0.05: {"model": 400.0, "largest unpaid first": 100.0, "oldest first": 160.0},
    }
    rows = []
    for share, cases in ((0.01, 10), (0.05, 50)):
        for ranking, value in (
            *yuan[share].items(),
            ("random", 50.0),
            ("Bayes-optimal", 1000.0 if share == 0.01 else 500.0),
        ):
            rows.append(
                {"ranking": ranking, "budget_share": share, "budget": cases, "yuan_per_100": value}
            )
    return pd.DataFrame(rows)


def test_follow_up_yuan_is_one_row_per_ranking_model_first_bayes_last():
    from training.notebook_evaluate import follow_up_yuan

    table = follow_up_yuan(_follow_up_rows().sample(frac=1, random_state=1))  # any row order
    assert list(table.index) == [
        "model",
        "largest unpaid first",
        "oldest first",
        "random",
        "Bayes-optimal",
    ]
    assert list(table.columns) == ["K = 1 % (10 cases)", "K = 5 % (50 cases)"]
    assert table.loc["oldest first", "K = 5 % (50 cases)"] == 160.0


def test_follow_up_ratios_divide_by_bayes_and_by_the_best_rule_of_each_budget():
    from training.notebook_evaluate import follow_up_ratios

    rows = _follow_up_rows()
    ratios = follow_up_ratios(rows)
    assert list(ratios.columns) == ["K = 1 %", "K = 5 %"]
    np.testing.assert_allclose(ratios.loc["model ÷ Bayes-optimal"], [0.9, 0.8])
    # The best rule is largest-unpaid at 1 % (300) and oldest-first at 5 % (160).
    np.testing.assert_allclose(ratios.loc["model ÷ best rule"], [3.0, 2.5])
    # Without the generator's truth there is no Bayes row, only the rules'.
    without = follow_up_ratios(rows[rows["ranking"] != "Bayes-optimal"])
    assert list(without.index) == ["model ÷ best rule"]


def test_yuan_calibration_table_pools_the_deciles_by_their_cases():
    from training.evaluate import amount_calibration
    from training.notebook_evaluate import yuan_calibration_table

    rng = np.random.default_rng(5)
    expected = rng.lognormal(8, 1.5, size=400)
    realised = expected * rng.lognormal(0, 0.5, size=400)
    predicted = expected * 1.2
    table = yuan_calibration_table(amount_calibration(realised, predicted, expected))
    assert list(table.index) == [*(str(d) for d in range(1, 11)), "all"]
    pooled = table.loc["all"]
    assert pooled["n"] == 400
    assert pooled["predicted"] == pytest.approx(predicted.mean())
    assert pooled["realised"] == pytest.approx(realised.mean())
    assert pooled["ratio"] == pytest.approx(predicted.sum() / realised.sum())
    assert pooled["ratio_expected"] == pytest.approx(1.2)
