"""The dashboard's answer cache: each answer kept a few seconds, computed once at a time.

Several open dashboards refresh every 30 s with the same selection; with
this cache they cost one query per selection and period, and a refresh that
arrives while the first one is still counting waits for its answer instead
of starting the same scan again.
"""

from __future__ import annotations

import threading
import time
import typing as t
from collections.abc import Callable, Hashable

T = t.TypeVar("T")


class TTLCache:
    """Answers by key for ``seconds``; one computation per key at a time.

    A key always stands for the same computation, so a hit has the type its
    computation returns.  At most ``max_entries`` answers are kept (the one
    expiring first makes room); ``seconds <= 0`` turns caching off.
    """

    def __init__(self, seconds: float, max_entries: int = 256) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, object]] = {}
        self._lock = threading.Lock()
        self._computing: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The answer cached under ``key``, or ``compute()``'s, cached."""
        if self.seconds <= 0:
            return compute()
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] > time.monotonic():
                return t.cast(T, hit[1])  # the key's computation made it
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:  # concurrent refreshes of one view wait for the first
            with self._lock:
                hit = self._entries.get(key)
                if hit is not None and hit[0] > time.monotonic():
                    return t.cast(T, hit[1])
            value = compute()
            with self._lock:
                if len(self._entries) >= self.max_entries:
                    oldest = min(self._entries, key=lambda k: self._entries[k][0])
                    del self._entries[oldest]
                self._entries[key] = (time.monotonic() + self.seconds, value)
                self._computing.pop(key, None)
            return value
