"""The follow-up page's numbers from a decision log, the table behind them, the served set's name.

No model and no server: rows written as ``POST /follow_up`` writes them,
read back as ``/v1/stats/follow_up`` reads them.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from serving.decision_log import DecisionLog, follow_up_scores
from serving.follow_up_stats import budget_of, follow_up_board
from serving.model_import import ModelSet, ServedVersion
from serving.stats import Filters


def _row(n: int, case_id: str, court: str, yuan: float, terminated: str, at: str) -> dict:
    return {
        "score_id": f"{n:026d}",
        "scored_at": at,
        "case_id": case_id,
        "court_id": court,
        "province": court[:2],
        "expected_yuan": yuan,
        "p_resume": 0.1,
        "expected_amount": yuan * 10,
        "unpaid_amount": 1000.0 + n,
        "terminated_date": terminated,
        "as_of_date": "2025-06-30",
        "months_since_termination": 12.0,
        "resume_model_version": "1",
        "recovery_model_version": "1",
        "reason_features": json.dumps(["applicant_leads"]),
        "reasons_zh": "申请人提供了财产线索",
        "reasons_en": "the applicant filed property leads",
    }


@pytest.fixture
def log(tmp_path):
    decision_log = DecisionLog(f"sqlite:///{tmp_path / 'decisions.db'}").create()
    yield decision_log
    decision_log.close()


def test_the_board_counts_each_case_once_at_its_latest_score_and_compares_three_ways(log):
    rows = [
        # Court 110105: 30 cases, expected yuan 1..30; the oldest terminated are the cheapest.
        *(
            _row(i, f"A{i:02d}", "110105", float(i), f"20{10 + i // 10}-01-{1 + i % 10:02d}", "t1")
            for i in range(1, 31)
        ),
        _row(40, "B1", "440305", 500.0, "2009-01-01", "2025-07-01T00:00:00.000Z"),
        # B1 again, later: only this score counts.
        _row(41, "B1", "440305", 50.0, "2009-01-01", "2025-07-02T00:00:00.000Z"),
    ]
    for row in rows[:30]:
        row["scored_at"] = "2025-07-01T00:00:00.000Z"
    log.write_follow_up_scores(rows)

    with log.engine.connect() as connection:
        court = follow_up_board(connection, Filters(court_id="110105"), 0.10, 200)
        nation = follow_up_board(connection, Filters(), 0.05, 1)
    assert court["inventory"]["cases"] == 30
    assert court["inventory"]["unpaid_total"] == sum(1000.0 + i for i in range(1, 31))
    assert court["k"] == 3  # 10 % of 30
    assert court["comparison"]["model"] == 30 + 29 + 28
    assert court["comparison"]["random"] == pytest.approx(3 * 15.5)
    assert court["comparison"]["oldest_first"] == 1 + 2 + 3  # terminated 2010-01-02 .. 04
    assert [c["case_id"] for c in court["follow_ups"]] == ["A30", "A29", "A28"]
    assert court["follow_ups"][0]["reasons_en"] == "the applicant filed property leads"
    assert [b["k"] for b in court["budgets"]] == [1, 2, 3]

    assert nation["inventory"]["cases"] == 31  # B1 once
    assert nation["k"] == 2 and len(nation["follow_ups"]) == 1  # the limit
    assert nation["comparison"]["model"] == 50 + 30  # B1 at its latest score, then A30
    assert nation["comparison"]["oldest_first"] == 50 + 1  # B1 is the oldest
    assert [(c["court_id"], c["cases"]) for c in nation["courts"]] == [
        ("110105", 30),
        ("440305", 1),
    ]


def test_an_empty_selection_is_an_empty_board(log):
    with log.engine.connect() as connection:
        board = follow_up_board(connection, Filters(province="44"), 0.05, 200)
    assert board["inventory"] == {"cases": 0, "unpaid_total": 0, "expected_total": 0}
    assert board["k"] == 0 and board["follow_ups"] == [] and board["courts"] == []


@pytest.mark.parametrize(("share", "n", "k"), [(0.10, 30, 3), (0.05, 30, 2), (0.01, 7, 1)])
def test_k_is_the_share_of_the_inventory_rounded_up(share, n, k):
    assert budget_of(share, n) == k


def test_a_log_from_before_follow_ups_gets_the_table_on_open(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    DecisionLog(url).create().close()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE follow_up_scores"))
    assert "follow_up_scores" not in sa.inspect(engine).get_table_names()
    reopened = DecisionLog(url).create()
    assert "follow_up_scores" in sa.inspect(engine).get_table_names()
    reopened.write_follow_up_scores([_row(1, "A1", "110105", 1.0, "2020-01-01", "t")])
    with reopened.engine.connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(follow_up_scores)).scalar()
            == 1
        )
    reopened.close()
    engine.dispose()


def _served(kind: str, version: str) -> ServedVersion:
    return ServedVersion(kind, f"triage-{kind}", version, "champion", run_id="r")


def test_a_set_without_the_terminated_pair_keeps_its_name_and_one_with_it_says_so():
    new_cases = {k: _served(k, "3") for k in ("stream", "assets")}
    without = ModelSet(new_cases)
    assert without.bento_version().startswith("s3-a3-")
    assert without.bento_version().count("-") == 2  # s3, a3 and the contents' hash
    with_pair = ModelSet(
        new_cases | {"resume": _served("resume", "2"), "recovery": _served("recovery", "5")}
    )
    assert with_pair.bento_version().startswith("s3-a3-r2-y5-")
    assert set(with_pair.to_metadata()["models"]) == {"stream", "assets", "resume", "recovery"}


def test_the_route_answers_the_board_of_a_selection_and_refuses_another_share(log):
    from starlette.testclient import TestClient

    from models.follow_up import LEGAL_INQUIRY_NOTICE_EN
    from serving.dashboard import create_app
    from serving.dashboard_source import StatsSource

    log.write_follow_up_scores(
        [_row(i, f"A{i:02d}", "110105", float(i), "2012-01-01", "2025-07-01") for i in range(30)]
    )
    client = TestClient(create_app(lambda: StatsSource(log.engine)))
    answer = client.get("/v1/stats/follow_up", params={"court_id": "110105", "share": "10"})
    assert answer.status_code == 200, answer.text
    board = answer.json()
    assert (board["inventory"]["cases"], board["k"], board["comparison"]["model"]) == (30, 3, 84)
    assert board["legal_inquiry"]["en"] == LEGAL_INQUIRY_NOTICE_EN
    assert answer.headers["cache-control"] == "no-store"
    refused = client.get("/v1/stats/follow_up", params={"share": "7"})
    assert refused.status_code == 422
    assert [f["field"] for f in refused.json()["fields"]] == ["share"]
