"""``bentoml`` as `triage serve` runs it: BentoML's own command line, with the arbiter fix.

``python -m serving.bentoml_serve serve ...`` is ``python -m bentoml serve ...``
whose arbiter notices a dead worker within a quarter of a second instead of up to
ten (:func:`serving.patches.install_quick_respawn`) and starts another.  The
workers it starts import the service named on the command line (`triage serve`:
:mod:`serving.worker`) as before.
"""

from __future__ import annotations


def main() -> None:
    """Install the arbiter fix, then hand over to BentoML's command line."""
    from bentoml_cli.cli import cli

    from serving.patches import install_quick_respawn

    install_quick_respawn()
    cli()


if __name__ == "__main__":
    main()
