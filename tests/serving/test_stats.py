"""The dashboard's numbers: every /v1/stats answer against counts computed from the log itself.

Known decisions are written with the decision log's own writer into a
throwaway SQLite log and a throwaway PostgreSQL cluster; the expected numbers
are computed with plain Python over the rows read back from the log.  The
dashboard app is served on its own for those (``create_app`` with the test's
log), and through the service's ASGI app for what the service adds: keys,
the open page, /docs.json and /metrics.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from dataclasses import dataclass

import pytest

from features.record import example_case
from serving.dashboard import DRIFT_SAMPLE, STATS_PATHS, StatsSource, create_app
from serving.decision_log import DecisionIds, DecisionLog, GroupCommitWriter, Shadow, build_rows
from serving.stats import BINS, STREAMS
from tests.serving.conftest import AUTH

COURTS = ("440305", "440106", "110105", "320102")
DAYS = ("2024-06-01", "2024-06-02", "2024-06-05")
REASONS = (
    ("claim_amount_log:large", "标的额较大（20万至100万元）", "large claim (¥200k–1M)"),
    ("funds_to_claim_log:none", "未查到存款或网络资金", "no deposits or online funds found"),
    ("real_estate_count:some", "有不动产需评估拍卖", "real estate to appraise and auction"),
    ("n_respondents:many", "被执行人众多", "many respondents"),
    ("cause:private_lending", "案由：民间借贷", "cause of action: private lending"),
    ("vehicle_count:none", "未查到车辆", "no vehicles found"),
    ("dishonest_listed:yes", "已列入失信名单", "on the dishonest list"),
)
#: The first case's first decision is the riskiest of all; it was scored again later.
RESCORED = "case-00-0"

SELECTIONS = [
    {},
    {"court_id": "440305"},
    {"province": "44"},
    {"since": "2024-06-02", "until": "2024-06-05"},
    {"province": "44", "since": "2024-06-02"},
]


def _stream(p_complex: float) -> str:
    return "simple" if p_complex < 0.3 else ("complex" if p_complex >= 0.6 else "review")


def _reasons(rng: random.Random) -> str:
    def pick():
        return [
            {"code": code, "zh": zh, "en": en, "effect": round(rng.uniform(-1, 1), 4)}
            for code, zh, en in rng.sample(REASONS, 3)
        ]

    return json.dumps({"complex": pick(), "assets": pick()}, ensure_ascii=False)


def known_decisions() -> list[dict]:
    """30 batches of 10 decisions over three days and four courts, half shadowed, plus a re-score."""
    rng = random.Random(11)
    ids = DecisionIds()
    rows = []
    for batch in range(30):
        new_ids, _ = ids.next(10)
        decided_at = f"{DAYS[batch % 3]}T{batch // 3:02d}:00:00.000Z"
        cases = []
        for i in range(10):
            court = COURTS[(batch + i) % len(COURTS)]
            cases.append(
                dict(
                    example_case(),
                    case_id=f"case-{batch:02d}-{i}",
                    court_id=court,
                    province=court[:2],
                )
            )
        p_complex = [rng.random() for _ in cases]
        p_assets = [rng.uniform(0.05, 1.0) for _ in cases]
        if batch == 0:
            p_assets[0], p_complex[1], p_complex[2] = 0.001, 1.0, 0.0  # extremes and edges
        streams = [_stream(p) for p in p_complex]
        shadow = None
        if batch % 2 == 0:
            shadow_p = [min(max(p + rng.uniform(-0.1, 0.1), 0.0), 1.0) for p in p_complex]
            shadow = Shadow(
                "2", "3", shadow_p, [rng.random() for _ in cases], [_stream(p) for p in shadow_p]
            )
        version = "1" if batch < 20 else "2"
        rows += build_rows(
            ids=new_ids,
            decided_at=decided_at,
            cases=cases,
            p_complex=p_complex,
            p_assets=p_assets,
            streams=streams,
            reasons_json=[_reasons(rng) for _ in cases],
            stream_model=("triage-stream", version),
            assets_model=("triage-assets", version),
            shadow=shadow,
            source="batch",
        )
    # The riskiest case answered its asset inquiry: scored again, now likely to pay.
    (rescore_id,), _ = ids.next(1)
    rows += build_rows(
        ids=[rescore_id],
        decided_at="2024-06-01T12:00:00.000Z",
        cases=[dict(example_case(), case_id=RESCORED, court_id=COURTS[0], province="44")],
        p_complex=[0.2],
        p_assets=[0.95],
        streams=["simple"],
        reasons_json=[_reasons(rng)],
        stream_model=("triage-stream", "1"),
        assets_model=("triage-assets", "1"),
        shadow=None,
        source="api",
    )
    return rows


def dashboard_client(app):
    from starlette.testclient import TestClient

    return TestClient(app)


@dataclass
class Logged:
    log: DecisionLog
    rows: list[dict]  # as read back from the log
    client: object  # a Starlette TestClient on the dashboard app


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def logged(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('stats') / 'decisions.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    log = DecisionLog(url).create()
    writer = GroupCommitWriter(log)
    writer.write(known_decisions())
    writer.close()
    rows = [row for chunk in log.rows() for row in chunk]
    app = create_app(lambda: StatsSource(log.engine, None), cache_seconds=0)
    with dashboard_client(app) as client:
        yield Logged(log, rows, client)
    if request.param == "postgresql":
        from serving.decision_log import decisions

        with log.engine.begin() as connection:
            connection.execute(decisions.delete())
    log.close()


def selected(rows: list[dict], selection: dict) -> list[dict]:
    """The rows of a selection, by plain comparison."""
    return [
        row
        for row in rows
        if row["court_id"] == selection.get("court_id", row["court_id"])
        and row["province"] == selection.get("province", row["province"])
        and row["decided_at"][:10] >= selection.get("since", "0000")
        and row["decided_at"][:10] <= selection.get("until", "9999")
    ]


def get(logged: Logged, path: str, **params) -> dict:
    answer = logged.client.get(f"/v1/stats/{path}", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _mean(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


# --------------------------------------------------------------------------
# The answers match the log
# --------------------------------------------------------------------------


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: ",".join(s) or "all")
def test_totals_days_and_courts_match_the_log(logged, selection):
    rows = selected(logged.rows, selection)
    streams = Counter(row["stream"] for row in rows)

    summary = get(logged, "summary", **selection)
    assert summary["selection"] == {
        key: selection.get(key) for key in ("court_id", "province", "since", "until")
    }
    assert summary["decisions"] == len(rows) > 0
    assert summary["streams"] == {stream: streams[stream] for stream in STREAMS}
    assert summary["review_share"] == pytest.approx(streams["review"] / len(rows))
    assert summary["mean_p_complex"] == pytest.approx(_mean(r["p_complex"] for r in rows))
    assert summary["mean_p_assets"] == pytest.approx(_mean(r["p_assets"] for r in rows))
    assert summary["first"] == min(r["decided_at"] for r in rows)
    assert summary["last"] == max(r["decided_at"] for r in rows)

    daily = get(logged, "streams/daily", **selection)["days"]
    by_day = Counter((row["decided_at"][:10], row["stream"]) for row in rows)
    days = sorted({row["decided_at"][:10] for row in rows})
    assert [d["day"] for d in daily] == days
    for entry in daily:
        assert {s: entry[s] for s in STREAMS} == {s: by_day[(entry["day"], s)] for s in STREAMS}
        assert entry["total"] == sum(by_day[(entry["day"], s)] for s in STREAMS)

    courts = get(logged, "streams/courts", limit=2, **selection)
    by_court = Counter(row["court_id"] for row in rows)
    busiest = sorted(by_court, key=lambda c: (-by_court[c], c))
    assert [c["court_id"] for c in courts["courts"]] == busiest[:2]
    assert courts["n_courts"] == len(by_court)
    for court in courts["courts"]:
        mine = [r for r in rows if r["court_id"] == court["court_id"]]
        assert court["total"] == len(mine)
        assert court["review"] == sum(r["stream"] == "review" for r in mine)
    assert courts["others"]["total"] == sum(by_court[c] for c in busiest[2:])
    assert courts["others"]["courts"] == len(busiest[2:])


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: ",".join(s) or "all")
def test_histograms_match_the_log(logged, selection):
    rows = selected(logged.rows, selection)
    answer = get(logged, "probabilities", **selection)
    assert answer["edges"] == pytest.approx([i / BINS for i in range(BINS + 1)])
    for name in ("p_complex", "p_assets"):
        expected = {group: [0] * BINS for group in ("all", *STREAMS)}
        for row in rows:
            index = min(int(row[name] * BINS), BINS - 1)  # the same double arithmetic as SQL
            expected["all"][index] += 1
            expected[row["stream"]][index] += 1
        assert answer[name] == expected
        assert sum(answer[name]["all"]) == len(rows)


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: ",".join(s) or "all")
def test_reason_counts_match_the_log(logged, selection):
    rows = selected(logged.rows, selection)
    answer = get(logged, "reasons", limit=100, **selection)
    assert answer["decisions_counted"] == len(rows)
    for kind in ("complex", "assets"):
        counted = Counter(r["code"] for row in rows for r in json.loads(row["reasons"])[kind])
        assert {r["code"]: r["count"] for r in answer[kind]} == dict(counted)
        labels = {code: (zh, en) for code, zh, en in REASONS}
        for reason in answer[kind]:
            assert (reason["zh"], reason["en"]) == labels[reason["code"]]
            assert reason["share"] == pytest.approx(reason["count"] / len(rows))
        counts = [r["count"] for r in answer[kind]]
        assert counts == sorted(counts, reverse=True)
    top = get(logged, "reasons", limit=2, **selection)
    assert [r["code"] for r in top["complex"]] == [r["code"] for r in answer["complex"][:2]]


def test_reasons_are_counted_over_the_latest_decisions_only(logged):
    from serving import stats

    latest = sorted(logged.rows, key=lambda r: r["decided_at"])[-50:]  # whole batches
    with logged.log.engine.connect() as connection:
        answer = stats.top_reasons(connection, stats.Filters(), limit=100, sample=50)
    assert answer["decisions_counted"] == 50
    counted = Counter(r["code"] for row in latest for r in json.loads(row["reasons"])["assets"])
    assert {r["code"]: r["count"] for r in answer["assets"]} == dict(counted)


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: ",".join(s) or "all")
@pytest.mark.parametrize("rank_by", ["p_assets", "p_complex"])
def test_riskiest_open_cases_are_each_cases_latest_decision(logged, selection, rank_by):
    rows = selected(logged.rows, selection)
    latest: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: r["decided_at"]):
        latest[row["case_id"]] = row
    sign = 1 if rank_by == "p_assets" else -1
    expected = sorted(latest.values(), key=lambda r: (sign * r[rank_by], r["decision_id"]))[:7]
    answer = get(logged, "cases", rank_by=rank_by, limit=7, **selection)
    assert answer["rank_by"] == rank_by
    assert [c["decision_id"] for c in answer["cases"]] == [r["decision_id"] for r in expected]
    first = answer["cases"][0]
    assert first["reasons"] == {
        kind: json.loads(expected[0]["reasons"])[kind] for kind in ("complex", "assets")
    }
    # The re-scored case is never shown with its first, superseded decision.
    assert not any(c["case_id"] == RESCORED and c["p_assets"] < 0.01 for c in answer["cases"])


@pytest.mark.parametrize("selection", SELECTIONS, ids=lambda s: ",".join(s) or "all")
def test_model_versions_and_challenger_agreement_match_the_log(logged, selection):
    rows = selected(logged.rows, selection)
    answer = get(logged, "models", **selection)
    expected = {}
    for kind in ("stream", "assets"):
        for row in rows:
            key = (kind, row[f"{kind}_model"], row[f"{kind}_model_version"])
            expected.setdefault(key, []).append(row["decided_at"])
    assert {(v["kind"], v["name"], v["version"]): v["decisions"] for v in answer["versions"]} == {
        key: len(times) for key, times in expected.items()
    }
    for version in answer["versions"]:
        times = expected[(version["kind"], version["name"], version["version"])]
        assert (version["first"], version["last"]) == (min(times), max(times))

    shadowed = [r for r in rows if r["challenger_stream_version"] is not None]
    agreements = {(a["kind"], a["champion_version"]): a for a in answer["challengers"]}
    for champion in {r["stream_model_version"] for r in shadowed}:
        mine = [r for r in shadowed if r["stream_model_version"] == champion]
        stream = agreements[("stream", champion)]
        assert stream["challenger_version"] == "2"
        assert stream["decisions"] == len(mine)
        assert stream["same_stream_share"] == pytest.approx(
            sum(r["challenger_stream"] == r["stream"] for r in mine) / len(mine)
        )
        assert stream["mean_abs_delta_p"] == pytest.approx(
            _mean(abs(r["challenger_p_complex"] - r["p_complex"]) for r in mine)
        )
        assets = agreements[("assets", champion)]
        assert assets["challenger_version"] == "3" and assets["same_stream_share"] is None
        assert assets["mean_abs_delta_p"] == pytest.approx(
            _mean(abs(r["challenger_p_assets"] - r["p_assets"]) for r in mine)
        )
    assert len(answer["challengers"]) == 2 * len({r["stream_model_version"] for r in shadowed})


def test_filters_change_the_numbers(logged):
    everything = get(logged, "summary")["decisions"]
    one_court = get(logged, "summary", court_id="440305")["decisions"]
    later = get(logged, "summary", since="2024-06-05")["decisions"]
    assert 0 < one_court < everything and 0 < later < everything
    assert get(logged, "summary", court_id="440305", since="2024-06-05")["decisions"] < one_court
    empty = get(logged, "summary", since="2030-01-01")
    assert empty["decisions"] == 0 and empty["review_share"] is None and empty["first"] is None
    assert get(logged, "cases", since="2030-01-01")["cases"] == []
    assert get(logged, "reasons", since="2030-01-01")["complex"] == []


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("summary", {"since": "2024-02-30"}, "since"),
        ("summary", {"until": "yesterday"}, "until"),
        ("summary", {"since": "2024-06-05", "until": "2024-06-01"}, "until"),
        ("streams/daily", {"province": "99"}, "province"),
        ("streams/daily", {"court_id": "44030"}, "court_id"),
        ("probabilities", {"court_id": "44030'"}, "court_id"),
        ("reasons", {"court_id": "110105", "province": "44"}, "court_id"),
        ("streams/courts", {"limit": "0"}, "limit"),
        ("cases", {"rank_by": "p_anything"}, "rank_by"),
        ("probabilities", {"bins": "1"}, "bins"),
    ],
)
def test_bad_parameters_are_a_422_naming_the_field(logged, path, params, field):
    answer = logged.client.get(f"/v1/stats/{path}", params=params)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert [f["field"] for f in body["fields"]] == [field]
    assert body["error"] == "1 invalid field"


def test_labels_come_from_the_contract(logged):
    from features.record import PROVINCES

    labels = get(logged, "labels")
    assert labels["provinces"] == [{"code": p.code, "zh": p.zh, "en": p.en} for p in PROVINCES]
    assert [s["code"] for s in labels["streams"]] == list(STREAMS)


# --------------------------------------------------------------------------
# Drift
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def profiled(trained):
    """The champions, with the reference profiles training gave them."""
    from models.case_model import LoadedModel

    return {
        kind: LoadedModel(f"triage-{kind}", "1", "champion", model)
        for kind, model in trained["champion"].items()
    }


def test_drift_compares_the_latest_decisions_with_the_profiles_and_is_cached(profiled, tmp_path):
    log = DecisionLog(f"sqlite:///{tmp_path / 'decisions.db'}").create()
    log.write(known_decisions())
    app = create_app(lambda: StatsSource(log.engine, profiled), cache_seconds=0)
    with dashboard_client(app) as client:
        answer = client.get("/v1/stats/drift", params={"province": "44"}).json()
        again = client.get("/v1/stats/drift", params={"province": "44"}).json()
        other = client.get("/v1/stats/drift").json()
    log.close()
    assert answer["available"] and answer["reason"] is None
    assert answer["n_cases"] == sum(r["province"] == "44" for r in known_decisions())
    assert answer["sample_limit"] == DRIFT_SAMPLE
    assert answer["thresholds"] == {"warn": 0.1, "alert": 0.25}
    assert {s["name"] for s in answer["scores"]} == {"p_complex", "p_assets"}
    names = {f["name"] for f in answer["features"]}
    assert {"province", "claim_amount_log"} <= names
    assert all(
        f["state"] in ("ok", "warn", "alert") and f["zh"] and f["en"] for f in answer["features"]
    )
    # Every logged case is the contract's example case: far from any training population.
    assert answer["counts"]["alert"] > 0
    assert again["generated_at"] == answer["generated_at"]  # computed once per selection
    assert other["n_cases"] == len(known_decisions())


def test_drift_without_profiles_says_why(trained, tmp_path):
    from models.case_model import LoadedModel

    log = DecisionLog(f"sqlite:///{tmp_path / 'decisions.db'}").create()
    log.write(known_decisions()[:10])
    models = {
        k: LoadedModel(f"triage-{k}", "1", "champion", _without_profile(m))
        for k, m in trained["champion"].items()
    }
    with dashboard_client(create_app(lambda: StatsSource(log.engine, models))) as client:
        answer = client.get("/v1/stats/drift").json()
    log.close()
    assert not answer["available"] and "reference profile" in answer["reason"]


def _without_profile(model):
    """A model as versions trained before drift monitoring were: no reference profile."""
    return dataclasses.replace(
        model, metadata=model.metadata.model_copy(update={"reference_profile": None})
    )


# --------------------------------------------------------------------------
# Through the service: keys, the open page, /docs.json, /metrics
# --------------------------------------------------------------------------


def test_the_stats_need_a_key_and_the_page_does_not(client):
    for path in STATS_PATHS:
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401
    page = client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    for asset in ("app.js", "app.css", "vendor/chart.umd.min.js", "vendor/chart.js.LICENSE.md"):
        assert client.get(f"/dashboard/assets/{asset}").status_code == 200, asset
    assert client.get("/dashboard/assets/nothing.js").status_code == 404


def test_the_service_serves_its_own_log(client, case):
    from app.settings import get_settings

    for i in range(3):
        answer = client.post(
            "/triage", json={"case": dict(case, case_id=f"stats-{i}")}, headers=AUTH
        )
        assert answer.status_code == 200, answer.text
    log = DecisionLog(get_settings().resolved_decision_log_url())
    rows = [row for chunk in log.rows() for row in chunk]
    log.close()
    for path in STATS_PATHS:
        answer = client.get(path, headers=AUTH)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["cache-control"] == "no-store"
    summary = client.get("/v1/stats/summary", headers=AUTH).json()
    assert summary["decisions"] == len(rows) >= 3
    drift = client.get("/v1/stats/drift", headers=AUTH).json()
    # The champions carry the reference profiles training gave them.
    assert drift["available"], drift["reason"]
    assert drift["n_cases"] == len(rows)
    models = client.get("/v1/stats/models", headers=AUTH).json()
    assert {(v["kind"], v["version"]) for v in models["versions"]} >= {
        ("stream", "1"),
        ("assets", "1"),
    }
    assert models["challengers"], "the service shadows with its challengers"
    bad = client.get("/v1/stats/summary", params={"since": "2024-13-01"}, headers=AUTH)
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "since"


def test_docs_describe_every_stats_route_and_its_filters(client):
    spec = client.get("/docs.json").json()
    for path in STATS_PATHS:
        operation = spec["paths"][path]["get"]
        assert operation["description"] and operation["summary"], path
        names = {p["name"] for p in operation.get("parameters", [])}
        if path.endswith("/labels") or path.startswith("/v1/policy/"):
            continue  # no selection: the labels, a court's policy (test_dashboard_policy.py)
        assert {"court_id", "province", "since", "until"} <= names, path
        for parameter in operation["parameters"]:
            assert parameter["description"]
            assert "anyOf" not in parameter["schema"]  # OpenAPI 3.0 has no null type
    assert "/dashboard" not in spec["paths"]


def test_metrics_have_streams_probabilities_and_the_dashboard_routes(client):
    client.get("/v1/stats/summary", headers=AUTH)
    client.get("/dashboard")
    text = client.get("/metrics").text
    assert "triage_decisions_total{" in text
    assert "triage_p_complex_bucket{" in text and "triage_p_assets_bucket{" in text
    assert 'endpoint="/v1/stats/summary"' in text and 'endpoint="/dashboard"' in text
