"""Court policies on the dashboard: /v1/policy/tradeoff and each court's mix against its policy.

The dashboard app is served on a throwaway SQLite decision log of known
decisions (``test_stats.known_decisions``) with champion models trained by
the real pipeline (so the stream model carries its validation summary) and
a policy book of a court's and a province's policy, as the registry's tags
hold them.  Expected numbers come from :mod:`models.policy` directly and
from the rows read back from the log.  Through the service: the key, the
docs and the worker's own (empty) book.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from models.policy import DEFAULT_POLICY, CourtPolicy, thresholds_for
from models.policy_book import POLICY_TAG_PREFIX, PolicyBook, PolicyChange, scope_of
from models.tradeoff import CURVE_CAPACITIES
from serving.dashboard import StatsSource, create_app
from serving.dashboard_source import live_policy_book
from serving.decision_log import DecisionLog
from tests.serving.conftest import AUTH
from tests.serving.test_stats import dashboard_client, known_decisions

COURT_POLICY = CourtPolicy(max_review=0.10, cost_review=0.5, max_simple_to_complex=None)
PROVINCE_POLICY = CourtPolicy(max_review=0.30, gives_way="capacity")


def _book() -> PolicyBook:
    changes = [
        PolicyChange("2026-01-01T00:00:00Z", scope_of(court="440305"), CourtPolicy(), None, "v1"),
        PolicyChange("2026-01-02T00:00:00Z", scope_of(court="440305"), COURT_POLICY, None, "v2"),
        PolicyChange("2026-01-03T00:00:00Z", scope_of(province="11"), PROVINCE_POLICY, None, "p"),
    ]
    return PolicyBook.from_tags(
        {
            f"{POLICY_TAG_PREFIX}{c.time}.{c.scope.tag_part}.{n}": c.to_json()
            for n, c in enumerate(changes)
        }
    )


@pytest.fixture(scope="module")
def champions(trained):
    from models.case_model import LoadedModel

    return {
        kind: LoadedModel(f"triage-{kind}", "1", "champion", model)
        for kind, model in trained["champion"].items()
    }


@pytest.fixture(scope="module")
def policy_client(champions, tmp_path_factory):
    log = DecisionLog(f"sqlite:///{tmp_path_factory.mktemp('policy') / 'decisions.db'}").create()
    log.write(known_decisions())
    rows = [row for chunk in log.rows() for row in chunk]
    app = create_app(lambda: StatsSource(log.engine, champions, policies=_book()))
    with dashboard_client(app) as client:
        yield client, rows
    log.close()


def _tradeoff(client, **params) -> dict:
    answer = client.get("/v1/policy/tradeoff", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()


@pytest.mark.parametrize(
    ("court", "policy_id", "version", "policy"),
    [
        ("440305", "court:440305", 2, COURT_POLICY),
        ("110105", "province:11", 1, PROVINCE_POLICY),
        ("320102", "national", 0, DEFAULT_POLICY),
        (None, "national", 0, DEFAULT_POLICY),
    ],
)
def test_the_tradeoff_is_the_courts_policy_in_force_and_its_curve(
    policy_client, champions, court, policy_id, version, policy
):
    client, _ = policy_client
    answer = _tradeoff(client, **({"court": court} if court else {}))
    assert answer["court"] == court and answer["available"] and answer["reason"] is None
    assert answer["model"] == {"name": "triage-stream", "version": "1"}
    assert answer["policy"]["policy_id"] == policy_id
    assert answer["policy"]["version"] == version
    assert answer["policy"]["policy"] == policy.model_dump()

    summary = champions["stream"].model.metadata.validation_scores
    chosen = thresholds_for(summary, policy)
    current = answer["current"]
    assert (current["simple_below"], current["complex_from"]) == (
        chosen.thresholds.simple_below,
        chosen.thresholds.complex_from,
    )
    assert current["predicted"] == pytest.approx(chosen.predicted.to_dict())
    assert current["max_review"] == policy.max_review

    curve = answer["curve"]
    assert [point["capacity"] for point in curve] == list(CURVE_CAPACITIES)
    # The point at the policy's own capacity is the policy's routing now.
    at_own = next(p for p in curve if p["capacity"] == policy.max_review)
    assert at_own["share_review"] == pytest.approx(current["predicted"]["share_review"])
    assert at_own["expected_cost_days"] == pytest.approx(current["predicted"]["expected_cost_days"])
    # Within each capacity, unless the policy lets capacity give way and the curve says so.
    for point in curve:
        beyond = point["share_review"] > point["capacity"] + 1e-9
        assert beyond == any(g.startswith("max_review gives way") for g in point["gave_way"])
    assert (curve[0]["share_review"] > 0) == (policy.gives_way == "capacity")


@pytest.mark.parametrize("court", ["44030", "4403051", "44030'", "44 305", "４４0305"])
def test_a_bad_court_is_a_422_naming_the_parameter(policy_client, court):
    client, _ = policy_client
    answer = client.get("/v1/policy/tradeoff", params={"court": court})
    assert answer.status_code == 422, answer.text
    assert [f["field"] for f in answer.json()["fields"]] == ["court"]


def test_each_courts_mix_is_set_against_its_policys_prediction(policy_client, champions):
    client, rows = policy_client
    answer = client.get("/v1/stats/streams/policy", params={"limit": 50})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["available"] and body["model"]["version"] == "1"
    summary = champions["stream"].model.metadata.validation_scores
    per_court = Counter((row["court_id"], row["stream"]) for row in rows)
    totals = Counter(row["court_id"] for row in rows)
    assert {c["court_id"] for c in body["courts"]} == set(totals) and body["n_courts"] == 4
    policies = {"440305": COURT_POLICY, "110105": PROVINCE_POLICY}
    for court in body["courts"]:
        code = court["court_id"]
        assert court["total"] == totals[code]
        for stream in ("simple", "complex", "review"):
            assert court["actual"][stream] == pytest.approx(per_court[code, stream] / totals[code])
        predicted = thresholds_for(summary, policies.get(code, DEFAULT_POLICY)).predicted
        assert court["predicted"] == pytest.approx(
            {s: getattr(predicted, f"share_{s}") for s in ("simple", "complex", "review")}
        )
        assert court["policy_id"] == {"440305": "court:440305", "110105": "province:11"}.get(
            code, "national"
        )
    # The selection narrows the courts like every /v1/stats route.
    only = client.get("/v1/stats/streams/policy", params={"province": "44"}).json()
    assert {c["court_id"] for c in only["courts"]} == {"440305", "440106"}


def test_a_model_without_a_validation_summary_says_why(champions, tmp_path):
    stream = champions["stream"]
    older = dataclasses.replace(
        stream,
        model=dataclasses.replace(
            stream.model,
            metadata=stream.model.metadata.model_copy(update={"validation_scores": None}),
        ),
    )
    log = DecisionLog(f"sqlite:///{tmp_path / 'decisions.db'}").create()
    log.write(known_decisions()[:10])
    app = create_app(lambda: StatsSource(log.engine, {**champions, "stream": older}))
    with dashboard_client(app) as client:
        tradeoff = _tradeoff(client, court="440305")
        mix = client.get("/v1/stats/streams/policy").json()
    log.close()
    assert not tradeoff["available"] and "validation summary" in tradeoff["reason"]
    assert tradeoff["curve"] == [] and tradeoff["current"] is None
    assert tradeoff["policy"]["label"] == "national (built-in default)"  # an empty book
    assert not mix["available"] and all(c["predicted"] is None for c in mix["courts"])


def test_the_dashboard_reads_the_book_the_worker_routes_by():
    from serving.policies import LivePolicies
    from tests.serving.test_live_models import pointer

    book = _book()
    tags = {
        f"{POLICY_TAG_PREFIX}x.{c.scope.tag_part}.{n}": c.to_json()
        for n, c in enumerate(book.changes)
    }
    policies = LivePolicies()
    assert live_policy_book(policies).resolve("440305").version == 0  # nothing yet: default
    policies.follow(pointer("triage-models:a", policies=tags))
    assert live_policy_book(policies) is policies.current.book  # the same book, not a copy
    assert live_policy_book(policies).resolve("440305").policy == COURT_POLICY
    assert live_policy_book(None).resolve("440305").version == 0  # no worker state: default


# --------------------------------------------------------------------------
# Through the service: behind the key, documented, the worker's own book
# --------------------------------------------------------------------------


def test_the_service_answers_the_tradeoff_behind_the_key_and_documents_it(client):
    assert client.get("/v1/policy/tradeoff", params={"court": "440305"}).status_code == 401
    answer = client.get("/v1/policy/tradeoff", params={"court": "440305"}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # The served champion was trained with its summary; no policy set: the built-in default.
    assert body["available"] and len(body["curve"]) == len(CURVE_CAPACITIES)
    assert body["policy"]["label"] == "national (built-in default)"
    bad = client.get("/v1/policy/tradeoff", params={"court": "44-305"}, headers=AUTH)
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "court"

    spec = client.get("/docs.json").json()
    operation = spec["paths"]["/v1/policy/tradeoff"]["get"]
    assert "curve" in operation["description"] and "Authorization" in operation["description"]
    (court,) = operation["parameters"]
    assert court["name"] == "court" and "6 ASCII" in court["description"]
    assert "anyOf" not in court["schema"]
    assert "/v1/stats/streams/policy" in spec["paths"]
