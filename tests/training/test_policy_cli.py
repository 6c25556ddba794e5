"""`triage policy` against a real MLflow store: set, show, history, clear; refusals change nothing.

One module-scoped TRIAGE_HOME with a small trained stream model (its champion
keeps the summary of its validation scores).  Run with ``--dist loadfile``.
"""

from __future__ import annotations

import json

import mlflow
import pytest

from app.cli import main
from models import registry
from models.policy import DEFAULT_POLICY, thresholds_for
from models.policy_book import POLICY_TAG_PREFIX, scope_of
from models.policy_store import champion_summary, read_book, set_policy
from tests.conftest import triage_home
from tests.serving.registry_fixture import pin_aliases, register_models

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with triage_home(tmp_path_factory.mktemp("policy-home")) as home:
        registry.configure_mlflow()
        yield home


def test_before_any_model_a_policy_cannot_be_set_and_show_says_what_to_do(home, capsys):
    assert main(["policy", "set", "--court", "440305", "--max-review", "0.1"]) == 2
    assert "train one" in capsys.readouterr().err
    assert main(["policy", "show", "--court", "440305"]) == 0
    out = capsys.readouterr().out
    assert "national (built-in default)" in out and "no champion stream model" in out


@pytest.fixture(scope="module")
def trained(home):
    versions = register_models(seed=5, n=2500)
    pin_aliases(versions, "champion")
    return versions


def _policy_tags() -> dict[str, str]:
    tags = mlflow.MlflowClient().get_registered_model("triage-stream").tags
    return {k: v for k, v in tags.items() if k.startswith(POLICY_TAG_PREFIX)}


def test_the_stream_model_keeps_its_validation_summary_and_its_thresholds_come_from_it(trained):
    champion = champion_summary()
    assert champion.version == trained["stream"]
    summary = champion.metadata.validation_scores
    assert summary is not None and summary.n > 100
    assert champion.metadata.routing_policy == DEFAULT_POLICY
    # The model's own thresholds are the default policy's, recomputed from what it keeps.
    model = registry.load_case_model("triage-stream").model
    assert thresholds_for(summary, DEFAULT_POLICY).thresholds == model.thresholds


def test_a_court_policy_is_set_shown_and_recorded(trained, capsys, monkeypatch):
    monkeypatch.setenv("TRIAGE_ACTOR", "clerk-wang")
    from app.settings import get_settings

    get_settings.cache_clear()
    code = main(
        [
            "policy",
            "set",
            "--court",
            "440305",
            "--max-review",
            "0.10",
            "--cost-review",
            "0.5",
            "--reason",
            "two judges on the desk",
        ]
    )
    get_settings.cache_clear()
    assert code == 0, capsys.readouterr().err
    assert "court:440305 v1 set" in capsys.readouterr().out

    assert main(["policy", "show", "--court", "440305", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["policy_id"], shown["version"]) == ("court:440305", 1)
    assert shown["policy"]["max_review"] == 0.10 and shown["policy"]["cost_review"] == 0.5
    # Fields not given keep the values of the policy in force above the court.
    assert shown["policy"]["cost_complex_to_simple"] == DEFAULT_POLICY.cost_complex_to_simple
    assert (
        shown["set"]["actor"] == "clerk-wang" and shown["set"]["reason"] == "two judges on the desk"
    )
    model = shown["model"]
    assert model["version"] == trained["stream"]
    assert model["predicted"]["share_review"] <= 0.10 + 1e-9 or any(
        "max_review" in line for line in model["gave_way"]
    )
    for key in ("complex_to_simple", "simple_to_complex", "share_simple", "expected_cost_days"):
        assert key in model["predicted"]

    # Another court of the same province still gets the national default.
    assert main(["policy", "show", "--court", "440306"]) == 0
    out = capsys.readouterr().out
    assert "national (built-in default)" in out
    assert "simple below" in out and "review" in out and "complex → simple" in out


def test_a_province_policy_applies_to_its_courts_without_their_own(trained, capsys):
    assert main(["policy", "set", "--province", "44", "--max-review", "0.3"]) == 0
    capsys.readouterr()
    book = read_book()
    assert book.resolve("440306").label == "province:44 v1"
    assert book.resolve("440306").policy.max_review == 0.3
    assert book.resolve("440305").policy.max_review == 0.10  # its own stays
    assert book.resolve("110101").version == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--max-review", "1.5"], "max_review: must be in (0, 1], got 1.5"),
        (["--cost-review", "-1"], "cost_review: must be a number of days, 0 or more, got -1"),
        (["--max-review", "abc"], "max_review: input should be a valid number"),
        (["--review-per-day", "0"], "review_per_day: must be a positive number of cases per day"),
        (["--review-per-day", "-5"], "review_per_day: must be a positive number of cases per day"),
        ([], "give at least one field"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field_and_the_old_one_stays(
    trained, capsys, arguments, message
):
    before = _policy_tags()
    assert main(["policy", "set", "--court", "440305", *arguments]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert _policy_tags() == before
    assert read_book().resolve("440305").policy.max_review == 0.10


def test_a_bad_court_code_is_refused(trained, capsys):
    assert main(["policy", "set", "--court", "44-305", "--max-review", "0.1"]) == 2
    assert "court: must be 6 ASCII letters or digits" in capsys.readouterr().err


def test_history_lists_who_changed_what_when_and_why_newest_first(trained, capsys):
    set_policy(scope_of(court="440305"), {"max_review": 0.12}, "more staff", actor="judge-li")
    assert main(["policy", "history", "--court", "440305"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert "court:440305 v2" in lines[0] and "judge-li" in lines[0]
    assert "max_review 10.0% → 12.0%" in lines[0] and "more staff" in lines[0]
    assert "court:440305 v1" in lines[1] and "two judges on the desk" in lines[1]
    # The first own policy shows what changed against the policy it inherited.
    assert "max_review 20.0% → 10.0%; cost_review 0.25 days → 0.5 days" in lines[1]
    assert "(was national (built-in default))" in lines[1]
    assert main(["policy", "history"]) == 0
    assert "province:44 v1" in capsys.readouterr().out


def test_a_withdrawn_court_policy_falls_back_to_its_province(trained, capsys):
    assert main(["policy", "clear", "--court", "440305", "--reason", "merged desks"]) == 0
    capsys.readouterr()
    resolved = read_book().resolve("440305")
    assert resolved.label == "province:44 v1"
    assert main(["policy", "clear", "--court", "440305"]) == 2
    assert "no policy of its own" in capsys.readouterr().err
    last = read_book().history(scope_of(court="440305"))[-1]
    assert last.previous.max_review == 0.12 and last.previous_source == "court:440305 v2"


def test_a_capacity_in_cases_per_day_is_set_shown_and_unset(trained, capsys):
    assert main(["policy", "set", "--court", "110101", "--review-per-day", "30"]) == 0
    capsys.readouterr()
    assert read_book().resolve("110101").policy.review_per_day == 30
    assert main(["policy", "show", "--court", "110101"]) == 0
    out = capsys.readouterr().out
    assert "review_per_day           30 cases a day" in out
    assert "the service reviews 30 cases a day of each court's intake" in out
    assert main(["policy", "history", "--court", "110101"]) == 0
    assert "review_per_day unset → 30 cases a day" in capsys.readouterr().out
    assert main(["policy", "set", "--court", "110101", "--review-per-day", "none"]) == 0
    assert read_book().resolve("110101").policy.review_per_day is None
