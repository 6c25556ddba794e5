"""Evaluation: metrics, slices, Bayes gap, baselines, leak detection, charts, model card."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from tests.conftest import INQUIRY_NAMES
from training.card import (
    ModelCardData,
    SplitSummary,
    describe_split,
    render_model_card,
    summary_lines,
)
from training.evaluate import (
    COMPLEX,
    SIMPLE,
    SLICE_COLUMNS,
    UNDECIDED,
    RuleBaseline,
    bayes_limit,
    binary_metrics,
    claim_band,
    gap_to_bayes,
    logistic_baseline,
    reliability_curve,
    rule_based_stream_score,
    single_feature_auc,
    single_feature_aucs,
    slice_metrics,
)
from training.plots import (
    plot_feature_importance,
    plot_reliability,
    plot_roc,
    plot_score_histograms,
)


def case_frame(n: int, seed: int = 0, **overrides) -> pd.DataFrame:
    """A canonical case frame of ``n`` plain cases (no rule fires), columns overridable.

    Codes are pandas ``str`` with NaN for missing, numbers and booleans float64,
    ``filing_date`` datetime64 — what :mod:`features.load` gives.
    """
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "case_id": [f"(2024)粤0305执{i}号" for i in range(n)],
            "court_id": "440305",
            "filing_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n) % 365, "D"),
            "province": rng.choice(["44", "11", "51"], size=n),
            "court_level": rng.choice(["basic", "intermediate"], size=n),
            "basis_type": "judgment",
            "cause": "private_lending",
            "claim_amount": rng.lognormal(np.log(50_000), 2.0, size=n),
            "applicant_type": "natural_person",
            "n_applicants": 1.0,
            "n_respondents": 1.0,
            "respondent_type": rng.choice(["natural_person", "enterprise"], size=n),
            "respondent_age": 40.0,
            "enterprise_status": np.nan,
            "registered_capital": np.nan,
            "respondent_prior_cases": 0.0,
            "respondent_prior_terminated": 0.0,
            "respondent_concurrent_cases": 0.0,
            "dishonest_listed": 0.0,
            "consumption_restricted": 0.0,
            "litigation_preserved": 0.0,
            "preserved_amount": np.nan,
            "whereabouts_known": 1.0,
            "days_since_judgment": 30.0,
            "inquiry_done": 1.0,
            "bank_balance": 0.0,
            "real_estate_count": 0.0,
            "vehicle_count": 0.0,
            "securities_value": 0.0,
            "equity_stakes": 0.0,
            "online_payment_balance": 0.0,
            "has_salary_income": 0.0,
            "is_complex": np.nan,
            "has_recoverable_assets": np.nan,
        }
    )
    for name, value in overrides.items():
        frame[name] = value
    for name in ("province", "court_level", "respondent_type", "enterprise_status"):
        frame[name] = frame[name].astype("str")
    return frame


# --- metrics ------------------------------------------------------------------------------


def test_binary_metrics_match_sklearn():
    y = np.array([0, 0, 1, 1, 0, 1, 1, 0, 1, 0])
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.55, 0.7, 0.3])
    m = binary_metrics(y, p)
    assert m["auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["log_loss"] == pytest.approx(log_loss(y, p))
    assert m["brier"] == pytest.approx(brier_score_loss(y, p))
    assert m["n"] == 10
    assert m["positive_rate"] == pytest.approx(0.5)
    assert m["mean_p"] == pytest.approx(p.mean())


def test_binary_metrics_ignore_unlabelled_and_reject_bad_input():
    m = binary_metrics([1, np.nan, 0], [0.9, 0.5, 0.1])
    assert m["n"] == 2 and m["auc"] == 1.0
    with pytest.raises(ValueError):
        binary_metrics([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError):
        binary_metrics([0, 1], [0.1, np.nan])


def test_ece_near_zero_when_calibrated_and_large_when_not():
    rng = np.random.default_rng(1)
    p = rng.uniform(size=100_000)
    y = (rng.uniform(size=p.size) < p).astype(float)
    assert binary_metrics(y, p)["ece"] < 0.01
    assert binary_metrics(y, p**3)["ece"] > 0.15
    assert binary_metrics(y, np.clip(p + 0.2, 0, 1))["ece"] > 0.15


def test_ece_keeps_ties_in_one_bin():
    # Two levels, each perfectly calibrated: equal-mass cuts must not split the ties.
    y = np.array([0, 0, 0, 1] * 50 + [1, 1, 1, 0] * 50, dtype=float)
    p = np.array([0.25] * 200 + [0.75] * 200)
    assert binary_metrics(y, p)["ece"] == pytest.approx(0.0, abs=1e-12)
    curve = reliability_curve(y, p)
    assert list(curve["n"]) == [200, 200]


def test_one_class_and_tiny_slices_give_nan_not_errors():
    m = binary_metrics(np.ones(5), np.full(5, 0.7))
    assert np.isnan(m["auc"]) and m["n"] == 5 and np.isfinite(m["log_loss"])
    empty = binary_metrics([], [])
    assert empty["n"] == 0 and np.isnan(empty["auc"]) and np.isnan(empty["ece"])
    single = binary_metrics([0], [0.2])
    assert single["n"] == 1 and np.isnan(single["auc"])


def test_reliability_curve_columns_and_mass():
    rng = np.random.default_rng(2)
    p = rng.uniform(size=3000)
    y = (rng.uniform(size=p.size) < p).astype(float)
    curve = reliability_curve(y, p, n_bins=10)
    assert list(curve.columns) == ["bin", "mean_p", "observed_rate", "n"]
    assert len(curve) == 10 and curve["n"].sum() == 3000
    assert (curve["n"] == 300).all()
    assert curve["mean_p"].is_monotonic_increasing


# --- slices -------------------------------------------------------------------------------


def test_claim_band_edges():
    bands = claim_band(pd.Series([500.0, 10_000.0, 49_999.0, 50_000.0, 250_000.0, 1e6, np.nan]))
    assert list(bands.astype(object).iloc[:6]) == [
        "<10k",
        "10k–50k",
        "10k–50k",
        "50k–200k",
        "200k–1M",
        "≥1M",
    ]
    assert pd.isna(bands.iloc[6])


def test_slice_table_covers_every_slice_and_hides_small_ones():
    n = 2000
    rng = np.random.default_rng(3)
    inquiry = np.where(np.arange(n) < 100, 0.0, 1.0)
    frame = case_frame(n, inquiry_done=inquiry)
    frame.loc[:4, "province"] = "54"  # a slice of 5 cases
    p = rng.uniform(size=n)
    y = (rng.uniform(size=n) < p).astype(float)
    table = slice_metrics(frame, y, p, min_size=200)
    assert list(table.columns) == [
        "slice",
        "value",
        "n",
        "auc",
        "log_loss",
        "brier",
        "ece",
        "positive_rate",
        "mean_p",
    ]
    assert set(table["slice"]) == {"all", *SLICE_COLUMNS}
    for name in SLICE_COLUMNS:
        assert table.loc[table["slice"] == name, "n"].sum() == n
    tibet = table[(table["slice"] == "province") & (table["value"] == "54")].iloc[0]
    assert tibet["n"] == 5 and np.isnan(tibet["auc"]) and np.isnan(tibet["log_loss"])
    no_inquiry = table[(table["slice"] == "inquiry_done") & (table["value"] == "no")].iloc[0]
    assert no_inquiry["n"] == 100 and np.isnan(no_inquiry["brier"])
    overall = table.iloc[0]
    assert overall["slice"] == "all" and overall["auc"] == pytest.approx(roc_auc_score(y, p))


def test_slice_table_one_class_slice():
    n = 600
    frame = case_frame(n, court_level=np.where(np.arange(n) < 300, "basic", "high"))
    y = np.where(np.arange(n) < 300, 1.0, np.arange(n) % 2)
    p = np.full(n, 0.5)
    table = slice_metrics(frame, y, p, min_size=100)
    basic = table[(table["slice"] == "court_level") & (table["value"] == "basic")].iloc[0]
    assert np.isnan(basic["auc"]) and basic["positive_rate"] == 1.0


# --- Bayes limit --------------------------------------------------------------------------


def test_bayes_limit_and_gap():
    rng = np.random.default_rng(4)
    p_true = rng.uniform(size=20_000)
    y = (rng.uniform(size=p_true.size) < p_true).astype(float)
    bayes = bayes_limit(y, p_true)
    model = binary_metrics(y, np.clip(p_true + rng.normal(0, 0.15, size=y.size), 0.01, 0.99))
    gap = gap_to_bayes(model, bayes)
    assert gap["auc_gap"] == pytest.approx(bayes["auc"] - model["auc"])
    assert gap["log_loss_gap_pct"] == pytest.approx(
        (model["log_loss"] - bayes["log_loss"]) / bayes["log_loss"] * 100
    )
    assert gap["auc_gap"] > 0 and gap["log_loss_gap_pct"] > 0


# --- rule baseline ------------------------------------------------------------------------


def test_rule_score_follows_the_published_criteria():
    claim = 10_000.0
    frame = case_frame(9, claim_amount=claim)
    frame.loc[0, "bank_balance"] = 6_000.0
    frame.loc[0, "online_payment_balance"] = 4_000.0  # funds = claim → simple
    frame.loc[1, "real_estate_count"] = 1.0
    frame.loc[2, "enterprise_status"] = "in_liquidation"
    frame.loc[3, "whereabouts_known"] = 0.0
    frame.loc[4, "equity_stakes"] = 2.0
    frame.loc[5, ["n_respondents", "n_applicants"]] = [3.0, 1.0]
    frame.loc[6, "respondent_type"] = "government_organ"
    frame.loc[7, "bank_balance"] = 9_999.0  # short of the claim, nothing else → undecided
    frame.loc[8, list(INQUIRY_NAMES)] = np.nan  # inquiry not answered
    frame.loc[8, "inquiry_done"] = 0.0
    score = rule_based_stream_score(frame)
    assert list(score) == [SIMPLE] + [COMPLEX] * 6 + [UNDECIDED, UNDECIDED]
    # The party threshold is a parameter.
    assert rule_based_stream_score(frame, many_parties=5)[5] == UNDECIDED
    # Funds covering the claim win over a complex sign.
    frame.loc[1, "bank_balance"] = 20_000.0
    assert rule_based_stream_score(frame)[1] == SIMPLE


def test_rule_baseline_learns_bucket_rates():
    n = 300
    frame = case_frame(n, claim_amount=10_000.0)
    bucket = np.arange(n) % 3
    frame.loc[bucket == 0, "bank_balance"] = 50_000.0
    frame.loc[bucket == 2, "real_estate_count"] = 1.0
    rng = np.random.default_rng(5)
    y = (rng.uniform(size=n) < np.array([0.1, 0.5, 0.8])[bucket]).astype(float)
    model = RuleBaseline().fit(frame, y)
    for b in (SIMPLE, UNDECIDED, COMPLEX):
        assert model.rates_[b] == pytest.approx(y[bucket == b].mean())
    proba = model.predict_proba(frame)
    assert proba.shape == (n, 2)
    np.testing.assert_allclose(proba[:, 1], model.rates_[bucket])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert binary_metrics(y, proba[:, 1])["ece"] == pytest.approx(0.0, abs=1e-12)


def test_rule_baseline_empty_bucket_gets_base_rate():
    frame = case_frame(10)
    y = np.array([0, 1] * 5, dtype=float)
    model = RuleBaseline().fit(frame, y)  # only the undecided bucket
    assert model.rates_[SIMPLE] == pytest.approx(0.5) and model.counts_[UNDECIDED] == 10


# --- leak detection -----------------------------------------------------------------------


def test_single_feature_auc_finds_leaks():
    rng = np.random.default_rng(6)
    n = 20_000
    y = (rng.uniform(size=n) < 0.4).astype(float)
    X = rng.normal(size=(n, 6))
    X[:, 1] = y * 3 + rng.normal(0, 0.1, size=n)  # the label in disguise
    X[:, 2] = -X[:, 1]  # the same, reversed
    X[y == 1, 3] = np.nan  # missing exactly when positive
    X[:, 4] = 7.0  # constant
    X[y == 0, 5] = np.nan  # missing exactly when negative: missing "above"
    X[rng.uniform(size=n) < 0.2, 0] = np.nan  # noise with random gaps
    auc = single_feature_auc(X, y, [f"f{i}" for i in range(6)])
    assert list(auc.index) == [f"f{i}" for i in range(6)]
    assert auc["f1"] > 0.99 and auc["f2"] > 0.99
    assert auc["f3"] == pytest.approx(1.0) and auc["f5"] == pytest.approx(1.0)
    assert auc["f4"] == pytest.approx(0.5)
    assert abs(auc["f0"] - 0.5) < 0.03


def test_single_feature_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(7)
    y = (rng.uniform(size=5000) < 0.3).astype(float)
    x = np.round(rng.normal(size=5000) + y * 0.5)
    auc = single_feature_auc(x[:, None], y, ["x"])["x"]
    assert auc == pytest.approx(roc_auc_score(y, x))


def test_one_sort_per_feature_gives_each_label_its_own_auc():
    """Several labels at once (the leak check's) equal each label alone, unlabelled rows too."""
    rng = np.random.default_rng(3)
    n = 3000
    X = np.round(rng.normal(size=(n, 4)), 1)
    X[rng.uniform(size=X.shape) < 0.2] = np.nan
    a = (rng.uniform(size=n) < 0.3).astype(float)
    b = (X[:, 2] > 0).astype(float)  # a leak in feature f2
    b[rng.uniform(size=n) < 0.1] = np.nan  # unlabelled cases of one label only
    names = [f"f{i}" for i in range(4)]
    together = single_feature_aucs(X, {"a": a, "b": b}, names)
    for label, y in {"a": a, "b": b}.items():
        pd.testing.assert_series_equal(together[label], single_feature_auc(X, y, names))
    assert together["b"]["f2"] == pytest.approx(1.0)
    one_class = single_feature_aucs(X, {"c": np.ones(n)}, names)["c"]
    assert one_class.isna().all() and list(one_class.index) == names


# --- logistic baseline --------------------------------------------------------------------


def test_logistic_baseline_with_nans_and_unseen_codes():
    rng = np.random.default_rng(8)
    n = 4000
    signal = rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-2 * signal))).astype(float)
    code = rng.integers(0, 4, size=n).astype(float)
    X = np.column_stack([signal, rng.normal(size=n), code])
    X[rng.uniform(size=n) < 0.2, 0] = np.nan
    X[rng.uniform(size=n) < 0.1, 2] = np.nan
    pipe = logistic_baseline(categorical_indices=[2], C=1.0, max_iter=300)
    pipe.fit(X[:3000], y[:3000])
    test = X[3000:].copy()
    test[:100, 2] = 9.0  # a code never seen in training
    p = pipe.predict_proba(test)[:, 1]
    assert np.isfinite(p).all()
    assert roc_auc_score(y[3000:], p) > 0.7
    names = pipe[:-1].get_feature_names_out()
    assert len(names) == pipe[-1].coef_.shape[1]


# --- charts -------------------------------------------------------------------------------


def test_plots_write_png(tmp_path):
    rng = np.random.default_rng(9)
    p = rng.uniform(size=5000)
    y = (rng.uniform(size=p.size) < p).astype(float)
    noisy = np.clip(p + rng.normal(0, 0.2, size=p.size), 0, 1)
    curves = {"model": (y, noisy), "rules": (y, np.round(p, 1)), "Bayes limit": (y, p)}
    paths = [
        plot_roc(curves, tmp_path / "roc.png", "triage-stream: ROC"),
        plot_reliability(curves, tmp_path / "rel.png", "triage-stream: reliability"),
        plot_feature_importance(
            [f"feature_{i}" for i in range(30)],
            rng.uniform(size=30),
            tmp_path / "sub" / "imp.png",
            "triage-stream: importance",
        ),
        plot_score_histograms(
            {"complex": noisy[y == 1], "simple": noisy[y == 0]},
            tmp_path / "hist.png",
            "triage-stream: scores",
        ),
    ]
    for path in paths:
        assert path.exists() and path.stat().st_size > 1000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_reliability_without_a_path_returns_the_chart_it_would_write(tmp_path):
    """The notebook's figure (no path) is the model card's PNG: same lines, same pixels, no file."""
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    rng = np.random.default_rng(11)
    p = rng.uniform(size=3000)
    y = (rng.uniform(size=p.size) < p).astype(float)
    curves = {
        "model": (y, np.clip(p + rng.normal(0, 0.1, size=p.size), 0, 1)),
        "Bayes limit": (y, p),
    }
    written = plot_reliability(curves, tmp_path / "rel.png", "Reliability, stream")
    figure = plot_reliability(curves, title="Reliability, stream")

    assert isinstance(figure, Figure)
    assert sorted(tmp_path.iterdir()) == [written]
    top = figure.axes[0]
    assert top.get_title() == "Reliability, stream"
    lines = {line.get_label(): line for line in top.get_lines()}
    expected = ["perfect"]
    for label, (y_s, p_s) in curves.items():
        ece = binary_metrics(y_s, p_s, n_bins=15)["ece"]
        expected.append(f"{label} (ECE {ece:.4f})")
        curve = reliability_curve(y_s, p_s, n_bins=15)
        np.testing.assert_allclose(lines[expected[-1]].get_xdata(), curve["mean_p"])
        np.testing.assert_allclose(lines[expected[-1]].get_ydata(), curve["observed_rate"])
    assert list(lines) == expected
    assert lines[expected[-1]].get_linestyle() == "--"
    # Rendered at the file's resolution, the figure is the file pixel for pixel.
    pixels = imread(written)
    figure.savefig(
        tmp_path / "again.png", format="png", dpi=pixels.shape[1] / figure.get_figwidth()
    )
    np.testing.assert_array_equal(imread(tmp_path / "again.png"), pixels)


# --- model card ---------------------------------------------------------------------------


def _full_card() -> ModelCardData:
    rng = np.random.default_rng(10)
    n = 1000
    frame = case_frame(n)
    frame.loc[:9, "province"] = "54"
    p = rng.uniform(size=n)
    y = (rng.uniform(size=n) < p).astype(float)
    model = binary_metrics(y, p)
    return ModelCardData(
        model_name="triage-stream",
        model_version="3",
        target="is_complex",
        run_id="abc123",
        git_commit="0123456789abcdef",
        data_fingerprint="sha256:feedbeef",
        splits=[
            SplitSummary("train", 700, "2021-01-01", "2023-06-30", 0.5),
            describe_split("test", frame.assign(is_complex=y), "is_complex"),
        ],
        metrics={
            "triage-stream": model,
            "logistic": binary_metrics(y, np.clip(p + 0.1, 0, 1)),
            "rules": binary_metrics(y, np.round(p)),
        },
        bayes_metrics=bayes_limit(y, p),
        calibration_method="isotonic",
        ece_before=0.031,
        ece_after=0.004,
        slice_table=slice_metrics(frame, y, p, min_size=50),
        routing={
            "policy": {"max_complex_to_simple": 0.1, "max_simple_to_complex": 0.25},
            "thresholds": {"simple_below": 0.3, "complex_from": 0.7},
            "shares": {"share_simple": 0.3, "share_review": 0.4, "share_complex": 0.3},
            "errors": {"complex_to_simple": 0.08, "simple_to_complex": 0.2},
        },
        synthetic_data=True,
    )


def test_model_card_has_every_section():
    text = render_model_card(_full_card())
    for heading in (
        "# Model card: triage-stream v3",
        "## Model details",
        "## Training data",
        "## Test metrics",
        "## Bayes limit",
        "## Calibration",
        "## Slices",
        "## Routing policy",
        "## Intended use",
        "## Known limits",
    ):
        assert heading in text, heading
    for words in (
        "abc123",
        "0123456789abcdef",
        "sha256:feedbeef",
        "2021-01-01",
        "AUC gap",
        "isotonic",
        "30.0 %",
        "| review | 40.0 % |",
        "| max_complex_to_simple | 10.0 % |",
        "| complex_from | 0.7000 |",
        "human-review band",
        "Synthetic data",
        "终本",
        "5–15 %",
        "Drift",
        "54 西藏",
        "logistic",
        "rules",
    ):
        assert words in text, words


def test_model_card_omits_what_is_not_given():
    card = ModelCardData(model_name="triage-assets", target="has_recoverable_assets")
    text = render_model_card(card)
    for heading in (
        "## Bayes limit",
        "## Calibration",
        "## Slices",
        "## Routing policy",
        "## Test metrics",
        "Synthetic data",
    ):
        assert heading not in text, heading
    assert "not registered yet" in text
    assert "## Intended use" in text and "## Known limits" in text
    assert "Money or property was actually recovered" in text  # meaning from the contract


def test_model_card_shows_the_review_capacity_tradeoff_of_its_policy():
    from models.policy import DEFAULT_POLICY, ScoreSummary
    from models.tradeoff import tradeoff_curve

    rng = np.random.default_rng(4)
    p = rng.uniform(size=5000)
    summary = ScoreSummary.from_scores(p, rng.uniform(size=5000) < p)
    curve = [point.to_dict() for point in tradeoff_curve(summary, DEFAULT_POLICY)]
    card = dataclasses.replace(_full_card(), tradeoff=curve)
    text = render_model_card(card)
    section = text.split("## Review capacity: the trade-off")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "%" in line]
    assert len(rows) == 11  # 0 %, 5 %, … 50 %: every fifth point of the curve
    by_capacity = {row.split("|")[1].strip(): row for row in rows}
    at_20 = next(point for point in curve if point["capacity"] == 0.2)
    row = [cell.strip() for cell in by_capacity["20 %"].split("|")[1:-1]]
    assert row[1:5] == [
        f"{at_20['share_review'] * 100:.1f} %",
        f"{at_20['complex_to_simple'] * 100:.1f} %",
        f"{at_20['simple_to_complex'] * 100:.1f} %",
        f"{at_20['expected_cost_days']:.3f}",
    ]
    # No desk cannot hold the default limits: the card names what gave way.
    assert "max_complex_to_simple" in by_capacity["0 %"]
    assert "## Review capacity" not in render_model_card(_full_card())


def test_summary_lines():
    lines = summary_lines(_full_card())
    assert 5 <= len(lines) <= 10
    joined = "\n".join(lines)
    assert "triage-stream v3" in joined and "Bayes limit" in joined and "routing" in joined
