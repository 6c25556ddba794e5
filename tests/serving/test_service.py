"""The service through its ASGI app, in this process: answers, refusals, log, metrics, docs."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from features.load import records_from_frame
from features.record import PII_FIELDS, RECORD_FIELDS, example_case
from serving.schemas import BatchResponse, Decision, ModelInfo
from tests.serving.conftest import AUTH, KEY

JSON = {**AUTH, "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def decision_log(client, serving_home):
    from app.settings import get_settings
    from serving.decision_log import DecisionLog

    log = DecisionLog(get_settings().resolved_decision_log_url())
    yield log
    log.close()


def logged(decision_log, decision_id: str) -> dict:
    for chunk in decision_log.rows():
        for row in chunk:
            if row["decision_id"] == decision_id:
                return row
    raise AssertionError(f"{decision_id} is not in the decision log")


def test_a_contract_case_gets_every_field(client, case, decision_log):
    answer = client.post("/triage", json={"case": case}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    Decision.model_validate(body)
    assert body["case_id"] == case["case_id"]
    assert body["stream"] in ("simple", "complex", "review")
    assert 0 <= body["p_complex"] <= 1 and 0 <= body["p_assets"] <= 1
    for reasons in body["reasons"].values():
        assert len(reasons) == 3
        assert all(r["zh"] and r["en"] and ":" in r["code"] for r in reasons)
    assert body["models"] == {
        "stream": {"name": "triage-stream", "version": "1"},
        "assets": {"name": "triage-assets", "version": "1"},
    }
    lower, upper = body["thresholds"]["simple_below"], body["thresholds"]["complex_from"]
    expected = (
        "simple"
        if body["p_complex"] < lower
        else ("complex" if body["p_complex"] >= upper else "review")
    )
    assert body["stream"] == expected
    # acknowledged means logged, with the same numbers and reasons
    row = logged(decision_log, body["decision_id"])
    assert row["p_complex"] == body["p_complex"] and row["stream"] == body["stream"]
    # The assets version carries its amount part: yuan beside p_assets, logged as answered.
    assert body["expected_recovery"] > 0 and row["expected_recovery"] == body["expected_recovery"]
    assert json.loads(row["reasons"]) == body["reasons"]
    assert row["decided_at"] == body["decided_at"] and row["source"] == "api"


def test_the_shadow_challenger_is_logged_never_answered(client, case, decision_log):
    body = client.post("/triage", json={"case": case}, headers=AUTH).json()
    assert "challenger" not in json.dumps(body)
    row = logged(decision_log, body["decision_id"])
    assert row["challenger_stream_version"] == "2" and row["challenger_assets_version"] == "2"
    assert 0 <= row["challenger_p_complex"] <= 1 and 0 <= row["challenger_p_assets"] <= 1
    assert row["challenger_stream"] in ("simple", "complex", "review")
    assert row["challenger_p_complex"] != row["p_complex"]


def test_batch_answers_in_order_in_one_transaction(client, cases, decision_log):
    answer = client.post("/triage_batch", json={"cases": cases}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    decisions = BatchResponse.model_validate(answer.json()).decisions
    assert [d.case_id for d in decisions] == [c["case_id"] for c in cases]
    ids = [d.decision_id for d in decisions]
    assert ids == sorted(ids) and len({d.decided_at for d in decisions}) == 1
    assert {logged(decision_log, i)["source"] for i in ids} == {"batch"}


def test_single_batch_and_triage_score_give_the_same_numbers(client, models_tag, tmp_path):
    """Same probabilities (1e-9), expected recovery (1e-9 relative), streams and reasons
    from /triage, /triage_batch and triage score."""
    from features.synthetic import generate_cases
    from serving.served_models import load_models
    from training.score import score_file

    frame = generate_cases(40, seed=31).cases.drop(columns=["is_complex", "has_recoverable_assets"])
    data = tmp_path / "cases.csv"
    frame.to_csv(data, index=False)
    scored = pd.read_csv(
        score_file(
            data, tmp_path / "scored.csv", triage=load_models(models_tag).triage, progress=False
        )["out"]
    )
    records = records_from_frame(frame)
    batch = client.post("/triage_batch", json={"cases": records}, headers=AUTH).json()["decisions"]
    single = [client.post("/triage", json={"case": r}, headers=AUTH).json() for r in records[:15]]
    for answers in (batch, single):
        n = len(answers)
        np.testing.assert_allclose(
            [a["p_complex"] for a in answers], scored["p_complex"][:n], rtol=0, atol=1e-9
        )
        np.testing.assert_allclose(
            [a["p_assets"] for a in answers], scored["p_assets"][:n], rtol=0, atol=1e-9
        )
        np.testing.assert_allclose(
            [a["expected_recovery"] for a in answers],
            scored["expected_recovery"][:n],
            rtol=1e-9,
            atol=0,
        )
        assert [a["stream"] for a in answers] == scored["stream"][:n].tolist()
        assert [a["reasons"] for a in answers] == [json.loads(r) for r in scored["reasons"][:n]]


def test_scoring_needs_a_valid_key_and_health_metrics_docs_do_not(client, case):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
        answer = client.post("/triage", json={"case": case}, headers=headers)
        assert answer.status_code == 401 and case["case_id"] not in answer.text
        assert answer.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/model_info").status_code == 401
    assert client.post("/triage_batch", json={"cases": [case]}).status_code == 401
    for path in ("/livez", "/healthz", "/readyz", "/metrics", "/docs.json", "/"):
        assert client.get(path).status_code == 200, path


def test_model_info(client):
    answer = client.get("/model_info", headers=AUTH)
    assert answer.status_code == 200
    info = ModelInfo.model_validate(answer.json())
    assert (info.stream.version, info.stream.alias) == ("1", "champion")
    window = info.stream.training_window
    assert list(window) == ["train", "validation", "test"]
    days = [day for part in window.values() for day in part]
    assert days == sorted(days) and days[0] >= "2021-01-01"  # out of time, oldest first
    assert info.stream.n_cases == 2500 and info.stream.calibration in (
        "none",
        "sigmoid",
        "isotonic",
    )
    assert info.stream.test_metrics["auc"] > 0.5
    assert info.policy == {"max_complex_to_simple": 0.1, "max_simple_to_complex": 0.25}
    assert {k: v.version for k, v in info.challengers.items()} == {"stream": "2", "assets": "2"}
    assert info.bento_model.startswith("triage-models:")
    assert info.follow_up is None  # no terminated-case champions in this registry


@pytest.mark.parametrize("name", PII_FIELDS)
def test_personal_data_is_refused_naming_the_field_and_never_kept(
    client, case, decision_log, caplog, capfd, name
):
    secret = "李四-440305198801011234"
    before = decision_log.count()
    with caplog.at_level(logging.DEBUG):
        answer = client.post("/triage", json={"case": dict(case, **{name: secret})}, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["fields"][0]["field"] == f"case.{name}"
    assert answer.json()["fields"][0]["type"] == "personal_data"
    assert secret not in answer.text
    logs = "\n".join(
        r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
        for r in caplog.records
    )
    assert secret not in logs and secret not in "".join(capfd.readouterr())
    assert decision_log.count() == before  # nothing decided, nothing logged


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"case": {**example_case(), "claim_amount": "5000"}}, "case.claim_amount"),
        ({"case": {**example_case(), "n_applicants": 1.5}}, "case.n_applicants"),
        ({"case": {**example_case(), "cause": "bogus"}}, "case.cause"),
        ({"case": {**example_case(), "bank_balance": -3.0}}, "case.bank_balance"),
        ({"case": {k: v for k, v in example_case().items() if k != "province"}}, "case.province"),
        ({"case": {**example_case(), "court_id": "110105"}}, "case.court_id"),
        ({"case": example_case(), "more": True}, "more"),
        ({"cases": [example_case()]}, "case"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(client, body, field):
    answer = client.post("/triage", json=body, headers=AUTH)
    assert answer.status_code == 422, answer.text
    problems = answer.json()["fields"]
    assert field in [p["field"] for p in problems]
    assert all(p["message"] for p in problems)


def test_batch_refusals(client, case):
    empty = client.post("/triage_batch", json={"cases": []}, headers=AUTH)
    assert empty.status_code == 422 and empty.json()["fields"][0]["field"] == "cases"
    too_many = client.post("/triage_batch", json={"cases": [case] * 10_001}, headers=AUTH)
    assert too_many.status_code == 422 and too_many.json()["fields"][0]["type"] == "too_long"
    bad_second = [case, dict(case, case_id="x", claim_amount=-1)]
    answer = client.post("/triage_batch", json={"cases": bad_second}, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["fields"][0]["field"] == "cases.1.claim_amount"


@pytest.mark.parametrize(
    "content",
    [b'{"case": ', b"not json at all", b'{"case": {"claim_amount": 1e999999}}'[:20], b""],
)
def test_malformed_json_is_a_4xx(client, content):
    answer = client.post("/triage", content=content, headers=JSON)
    assert answer.status_code in (400, 422), answer.text
    assert answer.json()["fields"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/vnd.bentoml+pickle",
        "application/x-pickle",
        "application/python-pickle",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/octet-stream",
        "text/plain",
        "",
    ],
)
def test_only_json_is_read(client, case, content_type):
    import pickle

    payload = pickle.dumps({"case": case})
    headers = {**AUTH, "Content-Type": content_type} if content_type else AUTH
    answer = client.post("/triage", content=payload, headers=headers)
    assert answer.status_code == 415, (content_type, answer.status_code, answer.text)
    ok = client.post(
        "/triage",
        json={"case": case},
        headers={**JSON, "Content-Type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 200


def test_bodies_over_the_limit_are_a_413(client, case, monkeypatch):
    from serving.service import GATE

    monkeypatch.setattr(GATE, "max_body_bytes", 4096)
    big = {"cases": [dict(case, case_id=str(i)) for i in range(20)]}
    assert client.post("/triage_batch", json=big, headers=AUTH).status_code == 413

    def chunks():  # no Content-Length: counted while streaming
        data = json.dumps(big).encode()
        for start in range(0, len(data), 1000):
            yield data[start : start + 1000]

    assert client.post("/triage_batch", content=chunks(), headers=JSON).status_code == 413
    small = {"cases": [case]}
    assert client.post("/triage_batch", json=small, headers=AUTH).status_code == 200


def test_the_default_limit_holds_a_full_batch():
    from app.settings import TriageSettings
    from serving.schemas import MAX_BATCH

    size = len(json.dumps({"cases": [example_case()] * MAX_BATCH}, ensure_ascii=False).encode())
    assert size < TriageSettings().max_request_bytes


def test_metrics_count_streams_and_probabilities_and_ignore_random_paths(client, case):
    client.post("/triage", json={"case": case}, headers=AUTH)
    for i in range(5):
        client.get(f"/wp-admin/random-{i}.php")
        client.post(f"/random-{i}", headers=AUTH)
    text = client.get("/metrics").text
    assert 'triage_decisions_total{source="api",stream=' in text
    assert 'triage_decisions_total{source="batch",stream=' in text
    assert "triage_p_complex_bucket" in text and "triage_p_assets_bucket" in text
    assert "triage_shadow_stream_disagreements_total" in text
    assert 'endpoint="/triage"' in text and 'endpoint="__other__"' in text
    assert "random-" not in text and "wp-admin" not in text


def test_openapi_documents_the_contract(client):
    spec = client.get("/docs.json").json()
    assert {"/triage", "/triage_batch", "/model_info"} <= set(spec["paths"])
    assert "get" in spec["paths"]["/model_info"]
    case_schema = spec["components"]["schemas"]["Case"]
    assert case_schema["example"] == example_case()
    assert case_schema["additionalProperties"] is False
    assert "案由" in case_schema["properties"]["cause"]["description"]
    assert set(case_schema["properties"]) == {f.name for f in RECORD_FIELDS}
    recovery = spec["components"]["schemas"]["Decision"]["properties"]["expected_recovery"]
    assert recovery["type"] == "number" and recovery["nullable"] is True
    assert recovery["minimum"] == 0 and "p_assets ×" in recovery["description"]


def test_a_decision_that_cannot_be_logged_is_not_made(client, case, monkeypatch, caplog):
    import concurrent.futures

    import bentoml

    service = bentoml.get_current_service()

    def failing(rows):
        future = concurrent.futures.Future()
        future.set_exception(OSError("disk full"))
        return future

    monkeypatch.setattr(service.writer, "submit", failing)
    with caplog.at_level(logging.ERROR):
        answer = client.post("/triage", json={"case": case}, headers=AUTH)
        batch = client.post("/triage_batch", json={"cases": [case]}, headers=AUTH)
    assert answer.status_code == batch.status_code == 503
    assert "no decision was made" in answer.json()["error"] and "decision_id" not in answer.text
    assert answer.headers["retry-after"] == "5"
    assert "decision log write failed" in caplog.text


def test_an_assets_version_without_the_amount_part_serves_null(trained, models_tag, tmp_path):
    """A version registered before the amount part (no `amount` in its model.json, no amount
    booster) loads from the BentoML store, warms up and decides: expected_recovery is null
    in the response, the log row and `triage score`'s column, never an error."""
    from models.case_model import AMOUNT_BOOSTER_FILE, MODEL_FILE, CaseModel
    from serving.decider import Decider
    from serving.served_models import load_models
    from tests.serving.conftest import store_models
    from training.score import score_file

    folder = trained["champion"]["assets"].save(tmp_path / "assets")
    assert (folder / AMOUNT_BOOSTER_FILE).is_file()
    document = json.loads((folder / MODEL_FILE).read_text(encoding="utf-8"))
    del document["amount"]
    (folder / MODEL_FILE).write_text(json.dumps(document), encoding="utf-8")
    (folder / AMOUNT_BOOSTER_FILE).unlink()
    old = {"stream": trained["champion"]["stream"], "assets": CaseModel.load(folder)}
    assert old["assets"].amount is None
    try:
        tag = store_models({"champion": old}, challengers=False)
    finally:
        store_models(trained)  # `latest` again, as the other modules (the Bento) expect
    served = load_models(tag)
    decider = Decider(served)
    decider.warm_up()
    cases = [dict(example_case(), case_id=f"old-{i}") for i in range(3)]
    scored = decider.score(cases, "batch")
    answers = [Decision.model_validate_json(text) for text in decider.responses(scored)]
    assert [a.expected_recovery for a in answers] == [None] * 3
    assert all(0 <= a.p_assets <= 1 for a in answers)
    assert [row["expected_recovery"] for row in decider.log_rows(scored)] == [None] * 3
    frame = pd.DataFrame(cases)
    frame.to_csv(tmp_path / "cases.csv", index=False)
    out = score_file(
        tmp_path / "cases.csv", tmp_path / "scored.parquet", triage=served.triage, progress=False
    )["out"]
    assert pd.read_parquet(out)["expected_recovery"].isna().all()


# --- POST /follow_up (the session's models have no terminated-case champions) ----------------


def _terminated(case_id: str, **changes) -> dict:
    from serving.follow_up_schemas import example_terminated_case

    return {**example_terminated_case(), "case_id": case_id, **changes}


def test_follow_up_without_terminated_champions_is_a_503_saying_how_to_train(client):
    answer = client.post("/follow_up", json={"cases": [_terminated("T-1")]}, headers=AUTH)
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert "triage train --kind terminated" in answer.json()["error"]
    # New cases are served all the same.
    assert client.post("/triage", json={"case": example_case()}, headers=AUTH).status_code == 200
    assert client.post("/follow_up", json={"cases": []}).status_code == 401  # keyed like the rest


def test_follow_up_refuses_bad_cases_naming_index_case_id_and_field(client, caplog):
    secret = "张三-110101199001011234"
    cases = [
        _terminated("T-ok"),
        # Terminated before it was filed: the record's own rule, in the loader's words.
        _terminated("T-order", terminated_date="2023-01-01"),
        _terminated("T-type", inquiries_since="2"),
        _terminated("T-pii", respondent_name=secret),
    ]
    with caplog.at_level(logging.DEBUG):
        answer = client.post("/follow_up", json={"cases": cases, "budget": "5%"}, headers=AUTH)
    assert answer.status_code == 422, answer.text
    found = {p["field"]: p for p in answer.json()["fields"]}
    assert found["cases.1.terminated_date"]["case_id"] == "T-order"
    assert found["cases.1.terminated_date"]["message"] == "is not after filing_date"
    assert found["cases.2.inquiries_since"]["case_id"] == "T-type"
    assert found["cases.3.respondent_name"]["type"] == "personal_data"
    assert found["cases.3.respondent_name"]["case_id"] == "T-pii"
    assert secret not in answer.text
    assert secret not in "\n".join(r.getMessage() for r in caplog.records)
    # Valid cases, one case_id twice: the second copy is named, with its first.
    twice = [_terminated("T-1"), _terminated("T-2"), _terminated("T-1")]
    answer = client.post("/follow_up", json={"cases": twice}, headers=AUTH)
    assert answer.status_code == 422, answer.text
    (problem,) = answer.json()["fields"]
    assert (problem["field"], problem["type"], problem["case_id"]) == (
        "cases.2.case_id",
        "duplicate",
        "T-1",
    )
    assert "first at cases.0" in problem["message"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"budget": "lots"}, "budget"), ({"budget": 0}, "budget"), ({"court": "1101"}, "court")],
)
def test_follow_up_refuses_a_bad_budget_or_court(client, extra, field):
    body = {"cases": [_terminated("T-1")], **extra}
    answer = client.post("/follow_up", json=body, headers=AUTH)
    assert answer.status_code == 422, answer.text
    assert [p["field"] for p in answer.json()["fields"]] == [field]


def test_openapi_documents_follow_up_with_the_terminated_record(client):
    from features.terminated import TERMINATED_RECORD

    spec = client.get("/docs.json").json()
    assert "/follow_up" in spec["paths"]
    terminated = spec["components"]["schemas"]["TerminatedCase"]
    assert set(terminated["properties"]) == {f.name for f in TERMINATED_RECORD.record_fields}
    assert terminated["additionalProperties"] is False
