"""A worker's models, following the pointer file: load beside, swap between requests.

A worker serves one decider at a time, :attr:`LiveModels.decider`.  A
watcher thread stats the pointer file (:mod:`serving.served_pointer`) about
once a second; when `triage serve` has published another tag, the new models
are loaded and warmed up in that thread while the old ones keep serving,
then swapped in by one reference assignment.  A request reads the reference
once and finishes on the decider it read, so in-flight requests are never
split between versions.  A load or warm-up that fails leaves the old decider
serving; the failure is logged, counted and kept for ``/model_info``.

Nothing here imports MLflow: the worker never does.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from serving.served_pointer import FileSignature, ServedPointer, file_signature, read

__all__ = ["LiveModels", "ReloadState"]

log = logging.getLogger("bentoml.triage")

D = TypeVar("D")


@dataclass
class ReloadState:
    """What ``/model_info`` says of the worker's reloads."""

    #: The tag served and since when this worker serves it.
    tag: str | None = None
    served_since: str | None = None
    #: The last time a new tag was tried, the tag and why it failed (None: it did not).
    last_attempt: str | None = None
    last_attempt_tag: str | None = None
    last_error: str | None = None
    swaps: int = 0
    failures: int = 0

    def to_dict(self) -> dict[str, object]:
        return dict(vars(self))


class LiveModels(Generic[D]):
    """The decider a worker serves now, and its replacement when the pointer moves.

    ``load(tag, current)`` builds a ready decider (load and warm up) for a
    tag, or raises; ``current`` is the decider being replaced (None at
    start).  ``on_swap(new, old)`` is told of each swap, ``on_failure(tag,
    error)`` of each tag that failed here, ``on_pointer(pointer)`` of each
    pointer read (it may carry the supervisor's refusal), and ``after_retire()`` runs once the
    replaced decider is no longer used by any request (the service collects
    garbage there).
    """

    def __init__(
        self,
        load: Callable[[str, D | None], D],
        pointer_path: Path | None,
        *,
        on_swap: Callable[[D, D | None], None] | None = None,
        on_failure: Callable[[str, str], None] | None = None,
        on_pointer: Callable[[ServedPointer], None] | None = None,
        after_retire: Callable[[], None] | None = None,
        retire_timeout: float = 120.0,
    ) -> None:
        self._load = load
        self.pointer_path = pointer_path
        self._on_swap = on_swap or (lambda new, old: None)
        self._on_failure = on_failure or (lambda tag, error: None)
        self._on_pointer = on_pointer or (lambda pointer: None)
        self._after_retire = after_retire or (lambda: None)
        self._retire_timeout = retire_timeout
        #: What requests use: read it once per request.
        self.decider: D | None = None
        #: The last pointer read (the registry's view and the supervisor's last refusal).
        self.pointer: ServedPointer | None = None
        self.state = ReloadState()
        self._signature: FileSignature = None
        #: Replaced deciders, with when, until no request holds them any more.
        self._retiring: list[tuple[float, D]] = []

    # --- start ----------------------------------------------------------------------------------

    def initial_tag(self, fallback: str) -> str:
        """The tag to load at start: the published one when there is a pointer, else ``fallback``.

        A restarted worker thus loads what serves now, not what served when
        `triage serve` started.
        """
        if self.pointer_path is not None:
            self._signature = file_signature(self.pointer_path)
            try:
                self.pointer = read(self.pointer_path)
            except ValueError as error:
                log.error("ignoring the pointer file: %s", error)
            if self.pointer is not None:
                self._on_pointer(self.pointer)
                return self.pointer.tag
        return fallback

    def start(self, tag: str) -> D:
        """Load the first decider (errors propagate: the worker is then not ready)."""
        decider = self._load(tag, None)
        self._swap(tag, decider)
        return decider

    # --- following ------------------------------------------------------------------------------

    def poll(self) -> bool:
        """Look at the pointer once; load and swap if it names another tag.  True if swapped."""
        self._let_go()
        if self.pointer_path is None:
            return False
        signature = file_signature(self.pointer_path)
        if signature == self._signature:
            return False  # the usual case: one stat, nothing else
        self._signature = signature
        try:
            pointer = read(self.pointer_path)
        except ValueError as error:
            log.error("ignoring the pointer file: %s", error)
            return False
        if pointer is None:
            return False
        self.pointer = pointer
        self._on_pointer(pointer)
        if pointer.tag == self.state.tag:
            return False  # republished with a new registry view or a refusal only
        return self._replace(pointer.tag)

    def _replace(self, tag: str) -> bool:
        old = self.decider
        self.state.last_attempt, self.state.last_attempt_tag = _now(), tag
        started = time.monotonic()
        try:
            new = self._load(tag, old)
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            self.state.last_error = message
            self.state.failures += 1
            log.exception("keeping %s: loading %s failed", self.state.tag, tag)
            self._on_failure(tag, message)
            return False
        self.state.last_error = None
        self._swap(tag, new)
        log.info(
            "now serving %s (loaded and warmed up beside %s in %.1f s)",
            tag,
            self.state.tag if old is None else "the old models",
            time.monotonic() - started,
        )
        if old is not None:
            self._retiring.append((time.monotonic(), old))
        return True

    def _swap(self, tag: str, new: D) -> None:
        old = self.decider
        self.decider = new  # the swap: requests that start from now on use `new`
        if old is not None:
            self.state.swaps += 1
        self.state.tag, self.state.served_since = tag, _now()
        self._on_swap(new, old)

    def _let_go(self) -> None:
        """Free the replaced deciders that no request uses any more (looked at on every poll).

        A request holds its decider only while it runs (bounded by the
        traffic timeout; ``retire_timeout`` in case something else keeps
        one).  Then ``after_retire`` collects garbage: the service's
        ``gc.freeze()`` must not keep the old models for the worker's life.
        """
        if not self._retiring:
            return
        now = time.monotonic()
        kept = [
            entry
            for entry in self._retiring
            if not _unused(entry) and now - entry[0] < self._retire_timeout
        ]
        if len(kept) < len(self._retiring):
            self._retiring = kept
            self._after_retire()

    def reload_info(self) -> dict[str, object]:
        """``/model_info``'s ``reload``: this worker's swaps and failures, the supervisor's refusal."""
        pointer = self.pointer
        return self.state.to_dict() | {
            "follows_registry": self.pointer_path is not None,
            "published_at": None if pointer is None else pointer.published_at,
            "refused": None if pointer is None else pointer.last_failure,
        }

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Poll until ``stop`` is set (the watcher thread's body); never raises."""
        while not stop.wait(interval):
            try:
                self.poll()
            except Exception:  # a bug here must not end the following
                log.exception("following the pointer file failed")


def _unused(entry: tuple[float, object]) -> bool:
    """Whether only the retiring list holds this decider (its tuple, and this call's argument)."""
    return sys.getrefcount(entry[1]) <= 2


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
