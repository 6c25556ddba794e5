"""``python -m serving.model_check TAG``: load and warm up a stored model set, as a worker would.

Run in a subprocess by :func:`serving.model_import.check_models` before a
set is published: LightGBM aborts the process on some broken model files, so
the process that finds out must be a disposable one.  Exit 0 when the set
loads and decides the golden case; 1 with the reason on stderr when it does
not; killed by a signal when LightGBM aborts.
"""

from __future__ import annotations

import sys


def check(tag: str) -> str:
    """Load ``tag`` and decide the golden case; a one-line description, or an exception."""
    from serving.decider import Decider
    from serving.served_models import load_models

    served = load_models(tag, threads=1)
    Decider(served).warm_up()
    versions = [
        f"{m.name} v{m.version}"
        for m in (served.triage.stream, served.triage.assets, *served.challengers.values())
    ]
    return f"{served.tag}: {', '.join(versions)} load and decide the golden case"


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
