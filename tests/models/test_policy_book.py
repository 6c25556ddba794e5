"""Which policy applies to a court, read from the registry's tags without I/O."""

from __future__ import annotations

import json

import pytest

from models.policy import DEFAULT_POLICY, CourtPolicy, PolicyError
from models.policy_book import (
    POLICY_TAG_PREFIX,
    POLICY_VALUE_LIMIT,
    PolicyBook,
    PolicyChange,
    PolicyScope,
    scope_of,
)


def _change(scope: PolicyScope, time: str, policy: CourtPolicy | None, **more) -> PolicyChange:
    return PolicyChange(time=time, scope=scope, policy=policy, previous=None, reason="test", **more)


def _tags(*changes: PolicyChange) -> dict[str, str]:
    tags = {"alias_move.x": '{"not": "a policy"}', "owner": "bureau"}
    for n, change in enumerate(changes):
        tags[f"{POLICY_TAG_PREFIX}{change.time}.{change.scope.tag_part}.{n:08x}"] = change.to_json()
    return tags


COURT, PROVINCE, NATIONAL = (
    scope_of(court="440305"),
    scope_of(province="44"),
    scope_of(),
)


def test_a_court_gets_its_own_policy_else_its_provinces_else_the_national_else_the_default():
    empty = PolicyBook.from_tags({})
    assert empty.resolve("440305").policy == DEFAULT_POLICY
    assert empty.resolve("440305").label == "national (built-in default)"

    national = CourtPolicy(max_review=0.3)
    province = CourtPolicy(max_review=0.2)
    court = CourtPolicy(max_review=0.1)
    book = PolicyBook.from_tags(
        _tags(
            _change(NATIONAL, "2026-01-01T00:00:00Z", national),
            _change(PROVINCE, "2026-01-02T00:00:00Z", province),
            _change(COURT, "2026-01-03T00:00:00Z", court),
        )
    )
    assert book.resolve("440305").policy == court
    assert book.resolve("440305").policy_id == "court:440305"
    assert book.resolve("440306").policy == province  # same province, no policy of its own
    assert book.resolve("440306").label == "province:44 v1"
    assert book.resolve("110101").policy == national
    assert book.resolve().policy == national
    assert book.resolve_scope(PROVINCE).policy == province


def test_versions_count_each_scopes_changes_and_a_withdrawn_policy_falls_back():
    book = PolicyBook.from_tags(
        _tags(
            _change(COURT, "2026-01-03T00:00:00Z", CourtPolicy(max_review=0.12)),
            _change(COURT, "2026-01-01T00:00:00Z", CourtPolicy(max_review=0.10)),
            _change(NATIONAL, "2026-01-02T00:00:00Z", CourtPolicy(max_review=0.3)),
            _change(COURT, "2026-01-04T00:00:00Z", None),
        )
    )
    assert [c.version for c in book.history(COURT)] == [1, 2, 3]
    assert [c.policy.max_review if c.policy else None for c in book.history(COURT)] == [
        0.10,
        0.12,
        None,
    ]
    resolved = book.resolve("440305")
    assert resolved.policy_id == "national" and resolved.version == 1
    assert book.scopes() == [NATIONAL]


def test_a_tag_edited_by_hand_is_skipped_not_fatal():
    tags = _tags(_change(COURT, "2026-01-01T00:00:00Z", CourtPolicy(max_review=0.1)))
    tags[f"{POLICY_TAG_PREFIX}broken"] = "{not json"
    tags[f"{POLICY_TAG_PREFIX}bad-policy"] = json.dumps(
        {"time": "2026-01-05T00:00:00Z", "scope": "court:440305", "policy": {"max_review": 7}}
    )
    assert PolicyBook.from_tags(tags).resolve("440305").policy.max_review == 0.1


def test_an_entry_reads_back_as_written_and_stays_within_the_tag_value_limit():
    change = _change(
        COURT,
        "2026-01-01T00:00:00.000001Z",
        CourtPolicy(max_review=0.1),
        actor="clerk-wang",
        command="triage policy set",
    )
    assert PolicyChange.from_json(change.to_json()) == change
    for reason in ("x" * 20_000, "\x01" * 20_000, "执" * 20_000):
        long = PolicyChange(
            time=change.time,
            scope=COURT,
            policy=DEFAULT_POLICY,
            previous=DEFAULT_POLICY,
            reason=reason,
            actor="a" * 1000,
            command="c" * 1000,
        )
        value = long.to_json()
        assert len(value) <= POLICY_VALUE_LIMIT
        kept = PolicyChange.from_json(value)
        assert kept.reason.startswith(reason[:50]) and kept.reason.endswith("…")
        assert kept.policy == DEFAULT_POLICY


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({"court": "44030"}, "court: must be 6 ASCII letters or digits, got '44030'"),
        ({"court": "４40305"}, "court: must be 6 ASCII letters or digits"),
        ({"court": "990305"}, "court: its first two characters must be a province code"),
        ({"province": "99"}, "province: must be a two-digit province code"),
        ({"court": "440305", "province": "44"}, "court, province: give one of them"),
    ],
)
def test_a_bad_scope_is_refused_naming_the_field(where, message):
    with pytest.raises(PolicyError) as refused:
        scope_of(**where)
    assert message in str(refused.value)


def test_scopes_are_named_as_responses_and_tags_need():
    assert (COURT.policy_id, COURT.tag_part) == ("court:440305", "court-440305")
    assert (PROVINCE.policy_id, NATIONAL.policy_id) == ("province:44", "national")
    assert PolicyScope.from_id("court:440305") == COURT
