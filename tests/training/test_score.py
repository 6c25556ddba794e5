"""Batch scoring: the output file, same numbers as the models, atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.load import CaseDataError, load_cases
from features.synthetic import generate_cases
from models.case_model import LoadedModel
from models.triage import OUTPUT_COLUMNS, Triage
from training.config import SearchConfig, TrainingConfig
from training.score import score_file
from training.train import fit_models


@pytest.fixture(scope="module")
def triage(tmp_path_factory) -> Triage:
    """Two models trained in-process on 3,000 cases (no registry needed)."""
    config = TrainingConfig(search=SearchConfig(n_trials=1, time_budget_seconds=5, max_rounds=200))
    fitted = fit_models(generate_cases(3000, seed=3).cases, config)
    loaded = {
        kind: LoadedModel(name=f"triage-{kind}", version="7", alias=None, model=outcome.model)
        for kind, outcome in fitted.outcomes.items()
    }
    return Triage(stream=loaded["stream"], assets=loaded["assets"])


@pytest.fixture(scope="module")
def cases_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("score") / "cases.csv"
    generate_cases(2500, seed=4).cases.drop(columns=["is_complex"]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_score_writes_every_case_with_the_models_numbers(triage, cases_csv, tmp_path, suffix):
    out = tmp_path / f"scored{suffix}"
    summary = score_file(cases_csv, out, chunk_rows=1000, triage=triage, progress=False)
    scored = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert list(scored.columns) == list(OUTPUT_COLUMNS)
    assert summary["rows"] == len(scored) == 2500
    frame = load_cases(cases_csv)
    assert scored["case_id"].tolist() == frame["case_id"].tolist()
    decisions = triage.decide(frame)
    np.testing.assert_allclose(scored["p_complex"], decisions.p_complex, rtol=0, atol=1e-12)
    np.testing.assert_allclose(scored["p_assets"], decisions.p_assets, rtol=0, atol=1e-12)
    assert (scored["stream"] == decisions.stream).all()
    assert set(scored["stream"]) <= {"simple", "complex", "review"}
    assert (scored["stream_model_version"].astype(str) == "7").all()
    reasons = json.loads(scored["reasons"].iloc[0])
    assert len(reasons["complex"]) == 3 and len(reasons["assets"]) == 3
    assert all(r["zh"] and r["en"] and ":" in r["code"] for r in reasons["complex"])


def test_one_case_scores_like_a_batch(triage, cases_csv):
    frame = load_cases(cases_csv).head(40)
    batch = triage.decide(frame)
    records = [
        {k: (None if pd.isna(v) else v) for k, v in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]
    for i, record in enumerate(records):
        record["filing_date"] = frame["filing_date"].iloc[i].strftime("%Y-%m-%d")
        one = triage.decide([record])
        assert abs(one.p_complex[0] - batch.p_complex[i]) < 1e-12
        assert abs(one.p_assets[0] - batch.p_assets[i]) < 1e-12
        assert one.stream[0] == batch.stream[i]
        assert one.reasons_complex.dicts()[0] == batch.reasons_complex.dicts()[i]
        assert one.reasons_assets.dicts()[0] == batch.reasons_assets.dicts()[i]
        assert one.reasons_json()[0] == batch.reasons_json()[i]


def test_a_bad_row_in_a_late_chunk_leaves_no_output_and_the_old_file(triage, cases_csv, tmp_path):
    frame = pd.read_csv(cases_csv, dtype=str)
    frame.loc[2200, "claim_amount"] = "1,000"
    frame.loc[10, "cause"] = "bogus"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    out = tmp_path / "scored.csv"
    out.write_text("previous results\n")
    with pytest.raises(CaseDataError) as caught:
        score_file(bad, out, chunk_rows=500, triage=triage, progress=False)
    assert caught.value.report.n_problems == 2
    assert "row 2201" in str(caught.value) and "row 11" in str(caught.value)
    assert out.read_text() == "previous results\n"
    assert [p.name for p in tmp_path.iterdir()] == sorted(["bad.csv", "scored.csv"]) or set(
        p.name for p in tmp_path.iterdir()
    ) == {"bad.csv", "scored.csv"}


def test_personal_data_in_the_input_never_reaches_the_scores(triage, tmp_path):
    from features.record import PII_FIELDS
    from features.synthetic import write_synthetic

    data = tmp_path / "with_pii.csv"
    write_synthetic(500, data, seed=21, with_pii=True)
    raw = pd.read_csv(data, dtype=str)
    secrets = {str(v) for column in PII_FIELDS for v in raw[column].head(200)}
    out = tmp_path / "scored.csv"
    score_file(data, out, triage=triage, progress=False)
    written = out.read_text(encoding="utf-8")
    assert [s for s in secrets if s in written] == []
    assert not set(PII_FIELDS) & set(pd.read_csv(out, nrows=1).columns)


def test_features_are_built_once_per_vocabulary_and_shared(triage, cases_csv):
    """Champions and shadow challengers of one run share one feature build."""
    import dataclasses

    from features.builder import CaseFeatureBuilder
    from models.triage import CaseFeatures

    frame = load_cases(cases_csv).head(50)
    stream, assets = triage.stream.model, triage.assets.model
    vocabulary = {name: codes[1:] for name, codes in assets.builder.categories_.items()}
    other = dataclasses.replace(assets, builder=CaseFeatureBuilder.from_vocabulary(vocabulary))
    builds = []
    for model in (stream, assets, other):
        model_features = model.features
        object.__setattr__(
            model,
            "features",
            lambda cases, _f=model_features, _m=model: builds.append(_m) or _f(cases),
        )
    try:
        features = CaseFeatures(frame)
        shared = triage.decide(frame, features=features)
        assert len(builds) == 1  # both champions, one vocabulary
        assert features.of(other) is not features.of(stream)
        assert features.of(other) is features.of(other)
        assert builds == [stream, other]
    finally:
        for model in (stream, assets, other):
            del model.__dict__["features"]
    alone = triage.decide(frame)
    np.testing.assert_array_equal(shared.p_complex, alone.p_complex)
    np.testing.assert_array_equal(shared.p_assets, alone.p_assets)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_file_without_cases_scores_to_a_valid_empty_file(triage, cases_csv, tmp_path, suffix):
    empty = tmp_path / "no_cases.csv"
    empty.write_text(cases_csv.read_text(encoding="utf-8").splitlines()[0] + "\n", "utf-8")
    out = tmp_path / f"scores{suffix}"
    assert score_file(empty, out, triage=triage, progress=False)["rows"] == 0
    scores = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert list(scores.columns) == list(OUTPUT_COLUMNS) and scores.empty


def test_the_pipeline_view_scores_like_the_model(triage, cases_csv):
    """CaseModel.pipeline(): one scikit-learn Pipeline (features → calibrated booster)."""
    from sklearn.pipeline import Pipeline

    frame = load_cases(cases_csv).head(200)
    for loaded in (triage.stream, triage.assets):
        pipeline = loaded.model.pipeline()
        assert isinstance(pipeline, Pipeline)
        np.testing.assert_allclose(
            pipeline.predict_proba(frame)[:, 1], loaded.model.predict_proba(frame), atol=1e-12
        )


# --- each case routed by its court's policy ------------------------------------------------------


def _book(*policies: tuple[str | None, dict]):
    """A policy book holding a policy for each (court, fields); None: the national one."""
    from models.policy import DEFAULT_POLICY, parse_policy
    from models.policy_book import POLICY_TAG_PREFIX, PolicyBook, PolicyChange, scope_of

    tags = {}
    for n, (court, fields) in enumerate(policies):
        change = PolicyChange(
            time=f"2026-12-0{n + 1}T00:00:00Z",
            scope=scope_of(court=court),
            policy=parse_policy(DEFAULT_POLICY.model_dump() | fields),
            previous=None,
            reason="test",
        )
        tags[f"{POLICY_TAG_PREFIX}{n}"] = change.to_json()
    return PolicyBook.from_tags(tags)


def test_each_case_is_routed_by_its_courts_policy(triage):
    from models.court_routing import CourtRouter, ThresholdCache
    from models.policy import thresholds_for

    frame = generate_cases(400, seed=12).cases
    court = str(frame["court_id"].iloc[0])
    book = _book((court, {"max_review": 0.02}), (None, {"max_review": 0.5}))
    cache = ThresholdCache()
    router = CourtRouter(book, triage.stream, cache)
    routing = router.routing(frame["court_id"].astype(str).tolist())
    own = frame["court_id"].astype(str) == court
    summary = triage.stream.model.metadata.validation_scores
    assert summary is not None
    narrow = thresholds_for(summary, book.resolve(court).policy).thresholds
    wide = thresholds_for(summary, book.resolve("110101").policy).thresholds
    assert narrow != wide
    for applied, mine in zip(routing.applied, own, strict=True):
        expected = (
            ("court:" + court, "court", 1, narrow) if mine else ("national", "national", 1, wide)
        )
        assert (applied.policy_id, applied.scope, applied.version, applied.thresholds) == expected
    assert len(cache) == 2  # once per (model version, policy, version), not per case

    decided = triage.decide_frame(frame, reasons=0, routing=routing)
    p = decided["p_complex"].to_numpy()
    expected_streams = np.where(own, narrow.route(p), wide.route(p))
    assert decided["stream"].tolist() == expected_streams.tolist()
    assert set(decided.loc[own.to_numpy(), "policy_id"]) == {"court:" + court}
    assert set(decided.loc[~own.to_numpy(), "policy_version"]) == {1}
    # Without a book every case keeps the model's own thresholds: the national built-in default.
    untouched = CourtRouter(_book(), triage.stream).routing([court])
    assert untouched.applied[0].thresholds == triage.thresholds
    assert untouched.applied[0].to_dict() == {"id": "national", "scope": "national", "version": 0}


def test_a_per_day_capacity_routes_each_court_by_its_own_intake(triage):
    """A desk of 20 cases a day: the court's share is 20 over its intake, or says why not."""
    import datetime as dt

    from models.court_routing import CourtRouter, ThresholdCache
    from models.policy import thresholds_for
    from models.review_capacity import intake_from_counts, intake_window

    book = _book(("440305", {"review_per_day": 20, "max_review": 0.3}))
    intake = intake_from_counts(
        [("440305", 28 * 200, "2026-11-01"), ("440306", 28 * 40, "2026-11-01")],
        intake_window(dt.date(2026, 12, 5)),
        "2026-12-05T00:00:00Z",
    )
    summary = triage.stream.model.metadata.validation_scores
    assert summary is not None
    cache = ThresholdCache()
    busy = CourtRouter(book.with_intake(intake), triage.stream, cache).applied("440305")
    policy = book.resolve("440305").policy
    # 20 of 200 a day: the thresholds of a 10 % capacity, and the response says where from.
    assert busy.thresholds == thresholds_for(summary, policy, capacity=0.1).thresholds
    capacity = busy.to_dict()["capacity"]
    assert capacity["review_share"] == pytest.approx(0.1) and capacity["intake_per_day"] == 200
    assert capacity["source"] == "review_per_day"
    assert '"capacity":{"review_share":0.1' in busy.json_fields
    # No intake measured (`triage score`, a built Bento): its max_review, said in the response.
    unmeasured = CourtRouter(book, triage.stream, cache).applied("440305")
    assert unmeasured.thresholds == thresholds_for(summary, policy).thresholds
    assert unmeasured.to_dict()["capacity"]["source"] == "max_review_fallback"
    assert "no intake measured" in unmeasured.to_dict()["capacity"]["note"]
    assert len(cache) == 2  # one entry per share, not per case or court
    # A policy without a per-day capacity carries no capacity block (responses unchanged).
    other = CourtRouter(_book((None, {"max_review": 0.2})), triage.stream, cache).applied("440306")
    assert "capacity" not in other.to_dict()


def test_a_model_without_a_validation_summary_keeps_its_own_thresholds(triage):
    import dataclasses

    from models.court_routing import CourtRouter

    model = triage.stream.model
    bare = dataclasses.replace(
        model, metadata=model.metadata.model_copy(update={"validation_scores": None})
    )
    old = LoadedModel(name="triage-stream", version="1", alias=None, model=bare)
    (applied,) = CourtRouter(_book((None, {"max_review": 0.05})), old).routing(["440305"]).applied
    assert applied.to_dict() == {"id": "model-default", "scope": "model", "version": 0}
    assert applied.thresholds == model.thresholds


def test_score_routes_by_the_book_it_is_given(triage, cases_csv, tmp_path):
    frame = load_cases(cases_csv)
    court = str(frame["court_id"].iloc[0])
    book = _book((court, {"max_review": 0.01}))
    out = tmp_path / "scored.csv"
    score_file(cases_csv, out, triage=triage, book=book, reasons=0, progress=False)
    scored = pd.read_csv(out, dtype={"policy_id": str})
    own = frame["court_id"].astype(str).to_numpy() == court
    assert set(scored.loc[own, "policy_id"]) == {f"court:{court}"}
    assert set(scored.loc[~own, "policy_id"]) == {"national"}
    assert set(scored.loc[~own, "policy_version"]) == {0}


def test_score_says_a_per_day_capacity_falls_back_to_max_review(
    triage, cases_csv, tmp_path, capsys
):
    book = _book((None, {"review_per_day": 25}))
    score_file(
        cases_csv, tmp_path / "scored.csv", triage=triage, book=book, reasons=0, progress=False
    )
    assert "routed by their policy's max_review" in capsys.readouterr().err
    score_file(
        cases_csv, tmp_path / "again.csv", triage=triage, book=_book(), reasons=0, progress=False
    )
    assert "max_review" not in capsys.readouterr().err
