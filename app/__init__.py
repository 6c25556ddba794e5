"""The application shell: the ``triage`` console root, the settings, shared file writers.

Every package may import it; it imports none of them (``features``,
``models``, ``training``, ``serving`` each add their own subcommands through
the ``triage.commands`` entry points).

* :mod:`app.cli` — ``triage`` itself and :class:`~app.cli.CommandError`;
* :mod:`app.settings` — the one settings object, read from ``TRIAGE_*``;
* :mod:`app.files` — files that appear whole or not at all, and JSON of numpy values.
"""
