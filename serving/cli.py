"""Subcommands of the ``serving`` package: ``serve``, ``keys``, ``decisions`` and ``drift``.

Registered in the ``triage`` command through the ``triage.commands`` entry
point; ``python -m serving.cli …`` runs the same commands on their own.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli import CommandError

if TYPE_CHECKING:
    from app.settings import TriageSettings
    from serving.model_import import ModelSet

#: The service, as `bentoml serve` imports it.
SERVICE = "serving.worker:TriageService"
#: Where the project's packages live (the working directory of `bentoml serve`).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``serve``, ``keys``, ``decisions`` and ``drift`` to ``triage``."""
    serve = subparsers.add_parser(
        "serve",
        help="serve the champion models over HTTP (BentoML)",
        description="Import the registry's champions (and a differing challenger, scored in "
        "the shadow) into the BentoML model store, then run the triage service. It follows "
        "the registry: when champion or challenger moves (train, promote, rollback), the new "
        "versions are checked and every worker swaps to them without a restart, within "
        "TRIAGE_MODEL_POLL_SECONDS plus the time to load them.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=3000, help="port to listen on")
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes (each loads the models)"
    )
    serve.add_argument(
        "--import-only",
        action="store_true",
        help="import the models into the BentoML store and exit (before `bentoml build`)",
    )
    serve.set_defaults(handler=_serve)

    keys = subparsers.add_parser("keys", help="API keys of the service")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = key_commands.add_parser("create", help="make a key; it is printed once")
    create.add_argument("--name", required=True, help="who or what uses the key, e.g. desk-1")
    create.set_defaults(handler=_keys_create)
    listing = key_commands.add_parser("list", help="names and creation times (never keys)")
    listing.set_defaults(handler=_keys_list)
    revoke = key_commands.add_parser("revoke", help="forget a key")
    revoke.add_argument("--name", required=True)
    revoke.set_defaults(handler=_keys_revoke)

    decisions = subparsers.add_parser("decisions", help="the decision log")
    decision_commands = decisions.add_subparsers(
        dest="decisions_command", required=True, metavar="ACTION"
    )
    export = decision_commands.add_parser(
        "export", help="write the decisions of a period to CSV or Parquet"
    )
    export.add_argument("--since", required=True, help="first day (YYYY-MM-DD, UTC) or ISO time")
    export.add_argument("--until", help="last day, included (default: up to now)")
    export.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    export.set_defaults(handler=_decisions_export)

    # --------------------------------------------------------------------------
    # serve
    # --------------------------------------------------------------------------

    drift = subparsers.add_parser(
        "drift",
        help="compare recent decisions with what the champions learned (PSI per feature)",
    )
    drift.add_argument(
        "--since", required=True, help="first day (YYYY-MM-DD) or time (ISO-8601) of decisions"
    )
    drift.add_argument("--until", help="last day (included) or time (excluded); default: now")
    drift.add_argument("--out", help="write the HTML report here")
    drift.add_argument("--json", help="write the report as JSON here")
    drift.add_argument(
        "--model-alias", default="champion", help="compare with this alias of both models"
    )
    drift.add_argument("--warn", type=float, default=0.1, help="PSI from which to warn")
    drift.add_argument("--alert", type=float, default=0.25, help="PSI from which to alert")
    drift.set_defaults(handler=_drift)


def serve_command(host: str, port: int) -> list[str]:
    """The `bentoml serve` command line of the service (through :mod:`serving.bentoml_serve`,
    whose arbiter replaces a dead worker within a quarter of a second)."""
    return [
        sys.executable,
        "-m",
        "serving.bentoml_serve",
        "serve",
        SERVICE,
        "--host",
        host,
        "--port",
        str(port),
        "--working-dir",
        str(PROJECT_ROOT),
    ]


def serve_environment(
    tag: str, workers: int, pointer: Path | None = None, home: Path | None = None
) -> dict[str, str]:
    """The service's environment: the models to load first, the pointer file they follow
    (see :mod:`serving.follower`), the state directory and the number of workers."""
    from serving.served_models import MODELS_TAG_ENV
    from serving.served_pointer import POINTER_ENV

    env = dict(os.environ)
    env[MODELS_TAG_ENV] = tag
    if pointer is not None:
        env[POINTER_ENV] = str(pointer)
    if home is not None:  # absolute: the server runs in another working directory
        env["TRIAGE_HOME"] = str(home)
    # Two malloc arenas instead of glibc's 8 per core: the models are loaded in a
    # background thread, and memory a thread arena frees is not given back to the
    # system, so each model swap left the old models' size resident (the soak
    # benchmark: +6.5 % RSS at the first swap).  In the main arenas the worker's
    # trim after a swap returns it.  Read by glibc at process start, hence here.
    env.setdefault("MALLOC_ARENA_MAX", "2")
    options = env.get("BENTOML_CONFIG_OPTIONS", "")
    env["BENTOML_CONFIG_OPTIONS"] = f"{options} services.triage.workers={workers}".strip()
    return env


def _serve(args: argparse.Namespace) -> int:
    from app.settings import get_settings
    from serving.decision_log import DecisionLog
    from serving.keys import KeyChecker
    from serving.model_import import ModelsRefused, prepare_models
    from serving.served_models import NoChampion

    if args.workers < 1:
        raise CommandError(f"--workers must be at least 1, got {args.workers}")
    if not 0 < args.port < 65536:
        raise CommandError(f"--port must be 1-65535, got {args.port}")
    settings = get_settings()
    try:
        tag, model_set = prepare_models(settings)
    except NoChampion as error:
        raise CommandError(f"nothing to serve: {error}") from error
    except ModelsRefused as error:
        raise CommandError(f"the registry's champions cannot be served: {error}") from error
    except Exception as error:  # registry unreachable, broken model version …
        raise CommandError(
            f"could not import the models: {type(error).__name__}: {error}"
        ) from error
    print(f"models: {tag} (BentoML store {settings.bentoml_home})", file=sys.stderr)
    if args.import_only:
        print(tag)
        return 0
    decision_log = DecisionLog(settings.resolved_decision_log_url())
    try:
        decision_log.create()
    except Exception as error:
        raise CommandError(
            f"the decision log {decision_log.describe()} cannot be written: {error}"
        ) from error
    finally:
        decision_log.close()
    if KeyChecker(settings.keys_file, settings.api_key_list()).count == 0:
        print(
            "warning: no API keys yet, every scoring request will get 401: "
            "create one with `triage keys create --name NAME`",
            file=sys.stderr,
        )
    print(
        f"serving on http://{args.host}:{args.port} — Swagger UI at /, OpenAPI at /docs.json, "
        f"decision log {decision_log.describe()}",
        file=sys.stderr,
        flush=True,
    )
    pointer = _publish_first(settings, tag, model_set)
    env = serve_environment(tag, args.workers, pointer, settings.home)
    # The follower watches the registry for the workers; it ends with this process.
    subprocess.Popen(
        [sys.executable, "-m", "serving.follower", "--parent", str(os.getpid())], env=env
    )
    # Replace this process: signals (Ctrl-C, SIGTERM from a supervisor) reach
    # BentoML's arbiter directly, and MLflow's memory goes away.
    command = serve_command(args.host, args.port)
    os.execve(sys.executable, command, env)
    return 0  # not reached


def _publish_first(settings: TriageSettings, tag: str, model_set: ModelSet) -> Path:
    """The pointer the workers start from: the set just checked, the registry's aliases and
    the court policies (a refused policy tag is named on stderr)."""
    import datetime as dt

    from serving.follower import published_policies, registry_look
    from serving.served_pointer import ServedPointer, publish

    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    look = registry_look(settings)
    policies, refused = published_policies(look.stream_tags)
    for entry in refused:
        print(f"refused court policy tag {entry['key']}: {entry['error']}", file=sys.stderr)
    pointer = ServedPointer(
        tag=tag,
        versions=model_set.versions(),
        registry=look.aliases,
        published_at=when,
        policies=policies,
        policies_refused=refused,
    )
    publish(settings.served_models_file, pointer)
    return settings.served_models_file


# --------------------------------------------------------------------------
# keys
# --------------------------------------------------------------------------


def _keys_create(args: argparse.Namespace) -> int:
    from app.settings import get_settings
    from serving.keys import create_key

    settings = get_settings()
    try:
        key = create_key(settings.keys_file, args.name)
    except ValueError as error:
        raise CommandError(str(error)) from error
    print(
        f"key {args.name!r} created; it is shown only now (only its hash is kept in "
        f"{settings.keys_file}):",
        file=sys.stderr,
    )
    print(key)
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from app.settings import get_settings
    from serving.keys import read_keys

    settings = get_settings()
    keys = read_keys(settings.keys_file)
    if not keys:
        print("no keys: create one with `triage keys create --name NAME`")
    for key in keys:
        print(f"{key.name:<24} created {key.created_at}")
    if settings.api_key_list():
        print(f"(and {len(settings.api_key_list())} key(s) from TRIAGE_API_KEYS)")
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    from app.settings import get_settings
    from serving.keys import revoke_key

    try:
        revoke_key(get_settings().keys_file, args.name)
    except ValueError as error:
        raise CommandError(str(error)) from error
    print(f"key {args.name!r} revoked")
    return 0


# --------------------------------------------------------------------------
# decisions
# --------------------------------------------------------------------------


def _window(args: argparse.Namespace) -> tuple[str, str | None]:
    """``--since``/``--until`` as decision-log moments (``--until`` a day is inclusive)."""
    from serving.decision_log import parse_moment

    try:
        since = parse_moment(args.since)
        until = parse_moment(args.until, end_of_day=True) if args.until else None
    except ValueError as error:
        raise CommandError(str(error)) from error
    if until is not None and until <= since:
        raise CommandError(f"--until {args.until} is before --since {args.since}")
    return since, until


def _decisions_export(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from app.settings import get_settings
    from serving.decision_log import DecisionLog, export, sqlite_path

    since, until = _window(args)
    url = get_settings().resolved_decision_log_url()
    path = sqlite_path(sa.make_url(url))
    # Exporting from a log no service wrote is the wrong TRIAGE_HOME or URL, not
    # "0 decisions": say where we looked instead of creating an empty log there.
    if path is not None and not path.exists():
        raise CommandError(
            f"no decision log at {path}: the service writes it under its TRIAGE_HOME; "
            "set TRIAGE_HOME or TRIAGE_DECISION_LOG_URL to the service's"
        )
    decision_log = DecisionLog(url)
    try:
        decision_log.create()  # brings a log written by an older release up to date
        written = export(decision_log, args.out, since=since, until=until)
    except ValueError as error:
        raise CommandError(str(error)) from error
    finally:
        decision_log.close()
    print(f"exported {written} decisions ({since} to {until or 'now'}) -> {args.out}")
    return 0


def _drift(args: argparse.Namespace) -> int:
    """Drift of the decisions of a window against the reference profiles of the champions.

    Drift is information, not a failure: exit 0 whatever the PSI; a refusal
    (no decisions, no models to compare with) exits 2.
    """
    import sqlalchemy as sa

    from app.files import write_atomically
    from app.settings import get_settings
    from models import registry
    from serving.decision_log import DecisionLog, sqlite_path
    from serving.drift import DriftThresholds, monitor_decisions

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if not 0 < args.warn < args.alert:
        raise CommandError(f"need 0 < --warn < --alert, got {args.warn} and {args.alert}")
    thresholds = DriftThresholds(warn=args.warn, alert=args.alert)
    since, until = _window(args)
    settings = get_settings()
    registry.configure_mlflow(settings)
    models = {}
    for kind in ("stream", "assets"):
        try:
            models[kind] = registry.load_case_model(
                registry.model_name(kind, settings), alias=args.model_alias
            )
        except LookupError as error:
            raise CommandError(f"nothing to compare with: {error}") from error

    decision_log = DecisionLog(settings.resolved_decision_log_url())
    where = decision_log.describe()
    path = sqlite_path(decision_log.url)
    try:
        # A log that does not exist yet is not created by a command that only reads.
        if path is not None and not path.exists():
            raise CommandError(f"no decision log at {where}: the service writes it")
        report = monitor_decisions(
            decision_log.rows(since=since, until=until),
            models,
            thresholds=thresholds,
            since=since,
            until=until,
        )
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as error:
        raise CommandError(f"cannot read the decision log {where}: {error.orig}") from error
    except ValueError as error:  # a model without a profile, or no decisions
        window = f"{since} to {until or 'now'}"
        raise CommandError(f"{error} ({window} in {where})") from error
    finally:
        decision_log.close()

    for line in report.summary_lines():
        print(line)
    if args.out:
        write_atomically(args.out, report.to_html())
        print(f"report -> {args.out}")
    if args.json:
        write_atomically(args.json, report.to_json())
        print(f"json -> {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m serving.cli``: the ``triage`` command (for a checkout not yet installed)."""
    from app.cli import main as triage

    return triage(argv)


if __name__ == "__main__":
    sys.exit(main())
