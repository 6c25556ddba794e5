"""A worker ends with its supervisor.

BentoML starts each worker in a session of its own, so `kill -9` of the
``triage serve`` process group (what a process manager does when a graceful
stop times out) kills the arbiter and leaves the workers answering on the
port nobody supervises any more: a service no one can stop or restart but by
hunting its pids.  Each worker therefore watches its parent, and when the
parent is gone (the worker was re-parented) it stops itself with SIGTERM —
BentoML's graceful stop, so decisions already acknowledged are flushed to the
log as on any stop.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

log = logging.getLogger("triage.serving")


def orphaned(supervisor: int) -> bool:
    """Whether this process has lost ``supervisor`` as its parent."""
    return os.getppid() != supervisor


def end_with_supervisor(interval: float = 1.0) -> threading.Thread:
    """Watch this process's parent from a daemon thread; SIGTERM ourselves once it is gone."""
    supervisor = os.getppid()

    def watch() -> None:
        while not orphaned(supervisor):
            time.sleep(interval)
        log.warning(
            "the supervisor (pid %d) is gone: stopping this worker (pid %d)",
            supervisor,
            os.getpid(),
        )
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="triage-supervisor", daemon=True)
    thread.start()
    return thread
