"""The dashboard's answer cache: kept for its seconds, computed once per key at a time."""

from __future__ import annotations

import threading
import time

from serving.dashboard_cache import TTLCache


class Counter:
    """A computation that counts its calls and answers the call's number."""

    def __init__(self, pause: float = 0.0) -> None:
        self.calls = 0
        self.pause = pause
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self.calls += 1
            n = self.calls
        time.sleep(self.pause)
        return n


def test_an_answer_is_kept_for_its_seconds_per_key():
    cache = TTLCache(seconds=60)
    compute = Counter()
    assert cache.get("a", compute) == cache.get("a", compute) == 1
    assert cache.get("b", compute) == 2
    assert compute.calls == 2


def test_an_answer_expires():
    cache = TTLCache(seconds=0.05)
    compute = Counter()
    assert cache.get("a", compute) == 1
    time.sleep(0.1)
    assert cache.get("a", compute) == 2


def test_no_seconds_means_no_caching():
    cache = TTLCache(seconds=0)
    compute = Counter()
    assert [cache.get("a", compute) for _ in range(3)] == [1, 2, 3]


def test_a_full_cache_drops_the_answer_expiring_first():
    cache = TTLCache(seconds=60, max_entries=2)
    cache.get("first", Counter())
    cache.get("second", Counter())
    cache.get("third", Counter())  # makes room: "first" goes
    again = Counter()
    assert cache.get("second", again) == 1 and again.calls == 0
    assert cache.get("first", again) == 1 and again.calls == 1


def test_concurrent_requests_for_one_key_compute_it_once():
    cache = TTLCache(seconds=60)
    compute = Counter(pause=0.2)
    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda: answers.append(cache.get("a", compute))) for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [1] * 5 and compute.calls == 1
