"""An alias history entry as the registry stores it: bounded, and read back as written."""

from __future__ import annotations

import getpass
import json

from app.settings import TriageSettings
from models.registry import HISTORY_VALUE_LIMIT, AliasMove, current_actor


def _move(**changes: object) -> AliasMove:
    fields: dict[str, object] = {
        "time": "2026-12-05T12:07:07.123456Z",
        "alias": "champion",
        "previous": "1",
        "version": "2",
        "reason": "审计复核",
        "actor": "clerk-wang",
        "command": "triage promote",
    }
    return AliasMove(**(fields | changes))  # type: ignore[arg-type]


def test_an_entry_reads_back_as_written():
    move = _move()
    assert AliasMove.from_json(move.to_json()) == move
    assert json.loads(move.to_json())["reason"] == "审计复核"  # readable in the MLflow UI


def test_an_entry_stays_within_the_tag_value_limit_whatever_its_reason():
    for reason in ("x" * 20_000, "\x01" * 20_000, "执" * 20_000):
        value = _move(reason=reason, actor="a" * 1000, command="c" * 1000).to_json()
        assert len(value) <= HISTORY_VALUE_LIMIT
        kept = AliasMove.from_json(value)
        assert kept.reason.startswith(reason[:100]) and kept.reason.endswith("…")
        assert (kept.alias, kept.previous, kept.version) == ("champion", "1", "2")


def test_entries_written_before_actor_and_command_were_recorded_still_read():
    old = '{"time": "2026-11-01T08:00:00.000001Z", "alias": "champion", "from": null, "to": "1", "reason": "first"}'
    move = AliasMove.from_json(old)
    assert (move.previous, move.version, move.actor, move.command) == (None, "1", None, None)


def test_the_actor_is_triage_actor_else_the_os_user(tmp_path):
    assert current_actor(TriageSettings(home=tmp_path, actor="clerk-wang")) == "clerk-wang"
    assert current_actor(TriageSettings(home=tmp_path)).startswith(f"{getpass.getuser()}@")
