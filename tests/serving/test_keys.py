"""API keys: shown once, stored as hashes (0600, atomic), checked in constant time."""

from __future__ import annotations

import json
import stat

import pytest

from serving.keys import KEY_PREFIX, KeyChecker, create_key, hash_key, read_keys, revoke_key


def test_a_new_key_is_returned_once_and_only_its_hash_is_stored(tmp_path):
    path = tmp_path / "home" / "api-keys.json"
    key = create_key(path, "desk-1")
    assert key.startswith(KEY_PREFIX) and len(key) > 40
    text = path.read_text()
    assert key not in text
    (stored,) = read_keys(path)
    assert stored.name == "desk-1" and stored.sha256 == hash_key(key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(text)["keys"][0]["created_at"].endswith("Z")
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_names_are_unique_and_well_formed(tmp_path):
    path = tmp_path / "api-keys.json"
    create_key(path, "desk-1")
    with pytest.raises(ValueError, match="exists already"):
        create_key(path, "desk-1")
    with pytest.raises(ValueError, match="key name"):
        create_key(path, "bad name with spaces")
    assert create_key(path, "desk-2") != create_key(path, "desk-3")
    assert [k.name for k in read_keys(path)] == ["desk-1", "desk-2", "desk-3"]


def test_the_checker_accepts_known_keys_only(tmp_path):
    path = tmp_path / "api-keys.json"
    made = create_key(path, "desk")
    checker = KeyChecker(path, extra_keys=["deploy-key", ""])
    assert checker.count == 2
    assert checker.check(made) and checker.check("deploy-key")
    assert not checker.check("") and not checker.check(made + "x") and not checker.check("nope")
    assert not KeyChecker(tmp_path / "absent.json").check("anything")


def test_keys_made_or_revoked_while_serving_take_effect(tmp_path):
    path = tmp_path / "api-keys.json"
    now = [0.0]
    checker = KeyChecker(path, clock=lambda: now[0])
    key = create_key(path, "late")
    assert not checker.check(key)  # re-read at most once a second
    now[0] = 2.0
    assert checker.check(key)
    revoke_key(path, "late")
    now[0] = 4.0
    assert not checker.check(key)
    with pytest.raises(ValueError, match="no key named"):
        revoke_key(path, "late")


@pytest.mark.parametrize(
    "damage", ["{not json", "[]", '{"keys": {}}', '{"keys": ["x"]}', '{"keys": [{"a": 1}]}']
)
def test_a_damaged_keys_file_keeps_the_keys_already_read(tmp_path, damage):
    path = tmp_path / "api-keys.json"
    key = create_key(path, "desk")
    now = [0.0]
    checker = KeyChecker(path, clock=lambda: now[0])
    path.write_text(damage)
    now[0] = 2.0
    assert checker.check(key)
    assert not KeyChecker(path).check(key)  # a fresh start with a damaged file: no keys
    with pytest.raises(ValueError, match="api-keys.json"):
        read_keys(path)
