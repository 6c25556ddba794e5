"""Load and warm up a stored model set as a worker would, in a process that may die.

Run by :func:`serving.model_import.check_models` before a set is published:
LightGBM aborts the process on some broken model files, so the process that
finds out must be a disposable one.  :func:`check_in_child` runs in a child
forked from a server that has the serving stack imported already (a check
then costs the load, not the imports); ``python -m serving.model_check TAG``
does the same from the command line.
"""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection

#: What the fork server imports once, so that each check's child starts warm.
PRELOAD = ["bentoml", "lightgbm", "serving.decider", "serving.served_models", "serving.schemas"]


def check(tag: str) -> str:
    """Load ``tag`` and decide the golden case; a one-line description, or an exception."""
    from serving.decider import Decider
    from serving.served_models import load_models

    served = load_models(tag, threads=1)
    Decider(served).warm_up()
    pair = () if served.follow_up is None else (served.follow_up.resume, served.follow_up.recovery)
    versions = [
        f"{m.name} v{m.version}"
        for m in (served.triage.stream, served.triage.assets, *served.challengers.values(), *pair)
    ]
    return f"{served.tag}: {', '.join(versions)} load and decide the golden case"


def check_in_child(tag: str, answer: Connection) -> None:
    """A check in a forked child: sends None when the set is fine, else the reason."""
    try:
        check(tag)
    except Exception as error:  # the reason is the parent's message
        answer.send(f"{type(error).__name__}: {error}")
    else:
        answer.send(None)
    finally:
        answer.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m serving.model_check TAG", file=sys.stderr)
        return 2
    try:
        print(check(args[0]))
    except Exception as error:  # the reason is the caller's message
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
