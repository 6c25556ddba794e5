"""The ``triage`` command.

Each package contributes its own subcommands through the ``triage.commands``
entry-point group (see ``pyproject.toml``): ``features`` brings ``validate``
and ``generate``, ``training`` brings ``train``, ``score``, ``promote`` …,
``serving`` brings ``serve``, ``keys``, ``decisions`` and ``drift``.  Heavy
imports happen inside the command handlers, so ``triage --help`` stays fast.
``python -m app.cli …`` runs the same command in a checkout not yet installed.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points


class CommandError(Exception):
    """A refusal the user can act on: printed without a traceback, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    """``triage`` with every package's subcommands."""
    parser = argparse.ArgumentParser(
        prog="triage",
        description="Enforcement-case triage (繁简分流) and asset likelihood.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for entry in sorted(entry_points(group="triage.commands"), key=lambda e: e.name):
        entry.load()(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``triage`` console script."""
    from app.settings import apply_environment

    parser = build_parser()
    args = parser.parse_args(argv)
    apply_environment()
    try:
        return int(args.handler(args) or 0)
    except CommandError as error:
        print(f"triage {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # Through the package, not this ``__main__`` copy of the module: the commands raise
    # ``app.cli.CommandError``, which a second copy of the class would not catch.
    from app.cli import main as package_main

    sys.exit(package_main())
