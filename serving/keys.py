"""API keys: made once, shown once, stored only as hashes.

``triage keys create --name desk-1`` prints a new key and stores its SHA-256
(with the name and creation time) in ``TRIAGE_HOME/api-keys.json``, written
atomically with mode 0600.  A deployment can also receive keys through
``TRIAGE_API_KEYS`` (comma-separated).  The service compares the hash of the
presented key with every known hash in constant time.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from app.files import write_atomically

KEY_PREFIX = "trg_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class StoredKey:
    """What is kept of a key: never the key itself."""

    name: str
    created_at: str
    sha256: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def read_keys(path: Path) -> list[StoredKey]:
    """The stored keys (an absent file is no keys); ValueError names a damaged file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except ValueError as error:  # not UTF-8, not JSON
        raise ValueError(f"{path}: not a keys file ({error})") from error
    entries = document.get("keys", []) if isinstance(document, dict) else None
    try:
        if not isinstance(entries, list):
            raise TypeError("no list of keys")
        return [StoredKey(**entry) for entry in entries]
    except TypeError as error:
        raise ValueError(
            f'{path}: expected {{"keys": [{{name, created_at, sha256}}, ...]}} ({error})'
        ) from error


def _write_keys(path: Path, keys: Iterable[StoredKey]) -> None:
    text = json.dumps({"keys": [asdict(k) for k in keys]}, indent=2) + "\n"
    write_atomically(path, text, mode=0o600, durable=True)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise read-modify-write of the keys file between processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def create_key(path: Path, name: str) -> str:
    """A new key named ``name``; only its hash is stored.  Returns the key (show it once)."""
    if not _NAME.match(name):
        raise ValueError(
            f"key name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with _locked(path):
        keys = read_keys(path)
        if any(k.name == name for k in keys):
            raise ValueError(f"a key named {name!r} exists already; choose another name")
        created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _write_keys(path, [*keys, StoredKey(name=name, created_at=created, sha256=hash_key(key))])
    return key


def revoke_key(path: Path, name: str) -> None:
    """Forget the key named ``name`` (running services notice within a second)."""
    with _locked(path):
        keys = read_keys(path)
        kept = [k for k in keys if k.name != name]
        if len(kept) == len(keys):
            raise ValueError(f"no key named {name!r}")
        _write_keys(path, kept)


class KeyChecker:
    """Checks presented keys against the stored hashes and the deployment's keys.

    The keys file is re-read when it changes (checked at most once a second),
    so keys made or revoked while the service runs take effect without a restart.
    """

    def __init__(self, path: Path | None, extra_keys: Iterable[str] = (), clock=None) -> None:
        import time

        self.path = path
        self._clock = clock or time.monotonic
        self._extra = tuple(bytes.fromhex(hash_key(k)) for k in extra_keys if k)
        #: Hashes of every accepted key: the stored ones, then the deployment's.
        self._known: tuple[bytes, ...] = self._extra
        self._stamp: tuple[int, int] | None = None
        self._checked_at = float("-inf")
        self._refresh()

    def _refresh(self) -> None:
        self._checked_at = self._clock()
        if self.path is None:
            return
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            try:
                stored = tuple(bytes.fromhex(k.sha256) for k in read_keys(self.path))
                self._known = stored + self._extra
            except (ValueError, TypeError, KeyError) as error:
                # A damaged keys file must not take the service down: keep the keys we had.
                import logging

                logging.getLogger("bentoml.triage").error(
                    "keys file %s unreadable (%s); keeping the previous keys", self.path, error
                )
            self._stamp = stamp

    @property
    def count(self) -> int:
        return len(self._known)

    def check(self, presented: str) -> bool:
        """True when ``presented`` is a known key (constant time in the key's content)."""
        if self._clock() - self._checked_at > 1.0:
            self._refresh()
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found = False
        for known in self._known:
            found |= hmac.compare_digest(digest, known)
        return found
