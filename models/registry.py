"""The MLflow model registry, as training and serving both use it.

Training registers each model version (:func:`log_case_model`); serving and
the commands resolve aliases (:func:`version_by_alias`), download a
version's files (:func:`download_version`) and load versions
(:func:`load_case_model`).  Each model version is an MLflow model whose
``predict`` returns what serving needs (calibrated probability, raw score,
reasons, and for the stream model the stream).  The ``challenger`` alias
marks the newest version; ``champion`` the one that serves.  Every alias move
goes through :func:`move_alias`, which records it (when, who, from which
version to which, why) in the registry itself, so the history of who served
when survives and travels with the store.

MLflow is imported inside the functions: a service worker imports this
module's neighbours without paying for (or holding) MLflow.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from app.settings import TriageSettings, get_settings
from models.case_model import CaseModel, LoadedModel

log = logging.getLogger(__name__)

EXPERIMENT = "enforcement-triage"
CHAMPION = "champion"
CHALLENGER = "challenger"
MODEL_ARTIFACT = "model_dir"


def model_names(settings: TriageSettings | None = None) -> dict[str, str]:
    """The registered name of every model by its kind (the new-case models first)."""
    settings = settings or get_settings()
    return {
        "stream": settings.stream_model_name,
        "assets": settings.assets_model_name,
        "resume": settings.resume_model_name,
        "recovery": settings.recovery_model_name,
    }


def model_name(kind: str, settings: TriageSettings | None = None) -> str:
    """The registered name of the model of ``kind``."""
    names = model_names(settings)
    if kind not in names:
        raise ValueError(f"unknown model kind {kind!r}; the kinds are {', '.join(names)}")
    return names[kind]


def kind_of(name: str, settings: TriageSettings | None = None) -> str:
    """The kind of the model registered as ``name``; ValueError for a name no model has."""
    kinds = {registered: kind for kind, registered in model_names(settings).items()}
    if name not in kinds:
        raise ValueError(f"unknown model {name!r}; the models are {', '.join(kinds)}")
    return kinds[name]


#: Tracking URIs served by an MLflow tracking server, which has an artifact root of its own.
_SERVER_SCHEMES: Final = ("http", "https", "databricks")


def artifact_location(tracking_uri: str, settings: TriageSettings) -> str | None:
    """Where a new experiment keeps its model files, or None to let the server decide.

    Without one, MLflow puts a database store's artifacts in ``mlruns/`` under
    the current folder of whichever command first creates the experiment, so
    ``triage serve`` on another machine, or in another folder, cannot find
    them.  Every store but a tracking server therefore gets
    ``TRIAGE_ARTIFACT_ROOT`` (a shared folder or object-store URI), else
    ``mlartifacts/`` under ``TRIAGE_HOME``.
    """
    root = settings.artifact_root
    if root:
        if "://" not in root:  # a plain folder: absolute, as a file URI
            return (Path(root).expanduser().resolve() / EXPERIMENT).as_uri()
        return f"{root.rstrip('/')}/{EXPERIMENT}"
    scheme = tracking_uri.split("://", 1)[0].lower() if "://" in tracking_uri else ""
    if scheme in _SERVER_SCHEMES:
        return None
    return (settings.mlflow_artifacts / EXPERIMENT).as_uri()


def configure_mlflow(settings: TriageSettings | None = None) -> str:
    """Point MLflow at the store in force and make sure the experiment exists.

    The embedded default is SQLite under ``TRIAGE_HOME`` with artifacts beside
    it; ``MLFLOW_TRACKING_URI`` overrides both (a server decides where its
    artifacts go).  Returns the experiment id.
    """
    import mlflow

    settings = settings or get_settings()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow sets its own loggers to INFO on import; a court's terminal needs warnings only.
    for noisy in ("mlflow", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # uv-made environments have no pip: MLflow warns about it on every logged model.
    logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)
    uri = settings.resolved_tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        location = artifact_location(uri, settings)
        experiment_id = client.create_experiment(EXPERIMENT, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


# --------------------------------------------------------------------------
# Logging a model version
# --------------------------------------------------------------------------


def log_case_model(model: CaseModel, *, registered_name: str) -> str:
    """Log ``model`` into the active run as an MLflow model and register it; returns the version."""
    import mlflow

    from models.pyfunc import input_example, model_signature

    with tempfile.TemporaryDirectory(prefix="triage-model-") as scratch:
        directory = model.save(Path(scratch) / MODEL_ARTIFACT)
        info = mlflow.pyfunc.log_model(
            name=f"{model.kind}-model",
            python_model=str(Path(__file__).with_name("mlflow_model.py")),
            artifacts={MODEL_ARTIFACT: str(directory)},
            signature=model_signature(model.kind),
            input_example=input_example(model.kind),
            pip_requirements=_pip_requirements(),
            registered_model_name=registered_name,
        )
    return str(info.registered_model_version)


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [
        f"{package}=={version(package)}"
        for package in ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow")
    ]


# --------------------------------------------------------------------------
# Loading models by alias or version
# --------------------------------------------------------------------------


def model_uri(name: str, *, alias: str | None = None, version: str | None = None) -> str:
    return f"models:/{name}@{alias}" if alias else f"models:/{name}/{version}"


def load_case_model(
    name: str, *, alias: str | None = CHAMPION, version: str | None = None, threads: int = 1
) -> LoadedModel:
    """A registered model by alias (default ``champion``) or version, as a :class:`CaseModel`.

    Reads the stored model files directly (no pyfunc environment needed);
    raises ``LookupError`` with what to do when there is no such model.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    if alias is None and version is None:
        raise ValueError("load_case_model needs an alias or a version")
    client = mlflow.MlflowClient()
    try:
        if version is None:
            assert alias is not None  # checked above
            found = client.get_model_version_by_alias(name, alias)
            version = str(found.version)
        else:
            client.get_model_version(name, str(version))
    except MlflowException as error:
        wanted = f"alias {alias!r}" if version is None else f"version {version}"
        raise LookupError(
            f"no {wanted} of model {name!r} in {mlflow.get_tracking_uri()}: "
            "train one with `triage train --data CASES.csv`"
        ) from error
    path = mlflow.artifacts.download_artifacts(
        f"{model_uri(name, version=version)}/artifacts/{MODEL_ARTIFACT}"
    )
    model = CaseModel.load(path, threads=threads)
    aliases = set(client.get_model_version(name, version).aliases)
    return LoadedModel(
        name=name,
        version=str(version),
        alias=alias if alias in aliases else None,
        model=model,
    )


@dataclass(frozen=True)
class RegisteredVersion:
    """A registered model version as an alias points at it."""

    name: str
    version: str
    alias: str
    run_id: str | None = None
    source: str | None = None


def version_by_alias(name: str, alias: str) -> RegisteredVersion | None:
    """The version ``alias`` points at now, or None when the alias (or the model) is unset."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        found = mlflow.MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    return RegisteredVersion(
        name=name,
        version=str(found.version),
        alias=alias,
        run_id=found.run_id,
        source=found.source,
    )


def download_version(name: str, version: str, into: Path) -> Path:
    """A version's model files (``booster.txt``, ``model.json``) copied into the folder ``into``.

    The files are read once as a :class:`CaseModel` first, so that a broken
    version is refused here rather than by every process that loads it.
    """
    import shutil

    import mlflow

    uri = f"{model_uri(name, version=version)}/artifacts/{MODEL_ARTIFACT}"
    with tempfile.TemporaryDirectory(prefix="triage-download-") as scratch:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch))
        model = CaseModel.load(local)
        if model.kind == "stream" and model.thresholds is None:
            raise ValueError(f"{name} v{version} carries no routing thresholds")
        shutil.copytree(local, into)
    return into


# --------------------------------------------------------------------------
# Aliases, with their history
# --------------------------------------------------------------------------
#
# MLflow keeps only where an alias points now.  Each move is recorded as one
# tag of the registered model (``alias_move.<time>.<alias>.<nonce>``, a JSON
# object), so the history travels with the registry (a copied mlflow.db, a
# tracking server) and is written in one call that adds without rewriting:
# two commands moving aliases at once both keep their entry, which a single
# JSON list rewritten on each move would not.  Each value is bounded to
# HISTORY_VALUE_LIMIT characters: MLflow's SQL schema stores tag values as
# VARCHAR(5000) (PostgreSQL and MySQL enforce it; SQLite does not), although
# its validation allows more.

HISTORY_TAG_PREFIX = "alias_move."
HISTORY_VALUE_LIMIT = 5000
#: Longest reason, actor and command kept in an entry (together well under the limit).
_FIELD_LIMITS = {"reason": 2000, "actor": 200, "command": 300}


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias: when, who, which alias, from which version to which, and why."""

    time: str
    alias: str
    previous: str | None
    version: str
    reason: str
    actor: str | None = None
    command: str | None = None

    def to_json(self) -> str:
        """The tag value: bounded fields, within MLflow's tag value limit."""
        document = {
            "time": self.time,
            "alias": self.alias,
            "from": self.previous,
            "to": self.version,
            "actor": _bounded(self.actor, _FIELD_LIMITS["actor"]),
            "command": _bounded(self.command, _FIELD_LIMITS["command"]),
            "reason": "",
        }
        # JSON escapes (control characters) lengthen a text up to six times: the
        # reason gets what the other fields leave, counted as written.
        room = HISTORY_VALUE_LIMIT - len(json.dumps(document, ensure_ascii=False))
        document["reason"] = _within(_bounded(self.reason, _FIELD_LIMITS["reason"]) or "", room)
        return json.dumps(document, ensure_ascii=False)

    @classmethod
    def from_json(cls, value: str) -> AliasMove:
        """An entry as :meth:`to_json` wrote it (entries before actor/command lack them)."""
        document = json.loads(value)
        previous = document.get("from")
        return cls(
            time=str(document["time"]),
            alias=str(document["alias"]),
            previous=None if previous is None else str(previous),
            version=str(document["to"]),
            reason=str(document.get("reason") or ""),
            actor=document.get("actor"),
            command=document.get("command"),
        )


def _bounded(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


def _within(text: str, room: int) -> str:
    """The longest start of ``text`` (marked "…" when cut) whose JSON takes at most ``room``."""
    sizes = [len(json.dumps(char, ensure_ascii=False)) - 2 for char in text]
    if sum(sizes) <= room:
        return text
    used, kept = 1, 0  # 1: the "…"
    while used + sizes[kept] <= room:
        used += sizes[kept]
        kept += 1
    return text[:kept] + "…"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def current_actor(settings: TriageSettings | None = None) -> str:
    """Who is moving an alias: ``TRIAGE_ACTOR``, else the OS user (and the machine)."""
    import getpass
    import socket

    settings = settings or get_settings()
    if settings.actor:
        return settings.actor
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # a container user without a passwd entry
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _program() -> str:
    """The command line's program and subcommand, for moves made outside the triage commands."""
    import sys

    program = Path(sys.argv[0]).name if sys.argv else ""
    if program in ("", "-c", "-m"):
        return f"python {program}".strip()
    return " ".join([program, *sys.argv[1:2]])


def move_alias(
    name: str,
    alias: str,
    version: str,
    reason: str,
    *,
    command: str | None = None,
    actor: str | None = None,
) -> AliasMove:
    """Point ``alias`` at ``version`` and record the move in the alias history.

    The one way the project moves an alias, so that no move goes unrecorded.
    ``command`` says what moved it (``triage promote`` …; default the running
    program), ``actor`` who (default :func:`current_actor`).  The entry is
    written before the alias moves and taken back if the move fails: a crash
    in between leaves an entry whose move did not happen, never a move
    without an entry.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        client.get_model_version(name, str(version))
    except MlflowException as error:
        raise LookupError(f"model {name!r} has no version {version}") from error
    try:
        previous: str | None = str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        previous = None
    move = AliasMove(
        time=_now(),
        alias=alias,
        previous=previous,
        version=str(version),
        reason=reason,
        actor=actor or current_actor(),
        command=command or _program(),
    )
    # No colons in the key: MLflow refuses them in tag names on Windows.
    stamp = move.time.replace("-", "").replace(":", "")
    key = f"{HISTORY_TAG_PREFIX}{stamp}.{alias}.{os.urandom(4).hex()}"
    client.set_registered_model_tag(name, key, move.to_json())
    try:
        client.set_registered_model_alias(name, alias, str(version))
    except BaseException:
        with contextlib.suppress(Exception):
            client.delete_registered_model_tag(name, key)
        raise
    log.info("%s@%s: %s -> %s by %s (%s)", name, alias, previous, version, move.actor, reason)
    return move


def alias_history(name: str) -> list[AliasMove]:
    """Every recorded alias move of a registered model, oldest first."""
    import mlflow

    tags = mlflow.MlflowClient().get_registered_model(name).tags
    moves = [AliasMove.from_json(v) for k, v in tags.items() if k.startswith(HISTORY_TAG_PREFIX)]
    return sorted(moves, key=lambda move: move.time)


@dataclass(frozen=True)
class VersionAliases:
    """A registered version and the aliases pointing at it now."""

    version: str
    aliases: tuple[str, ...]
    run_id: str | None


def versions_with_aliases(name: str) -> list[VersionAliases]:
    """Every version of ``name``, oldest first, with its aliases as the registry holds them.

    ``search_model_versions`` returns versions without their aliases, so they
    come from the registered model's alias table; an unknown model has none.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        aliases = client.get_registered_model(name).aliases
        versions = list(client.search_model_versions(f"name='{name}'"))
    except MlflowException:
        return []
    return [
        VersionAliases(
            version=str(found.version),
            aliases=tuple(sorted(a for a, v in aliases.items() if str(v) == str(found.version))),
            run_id=found.run_id,
        )
        for found in sorted(versions, key=lambda found: int(found.version))
    ]


def check_loadable(name: str, version: str, *, timeout: float = 300.0) -> None:
    """Raise ``ValueError`` naming the version and file unless ``version`` loads and scores.

    The files are checked here first (a booster file cut short is named
    precisely), then loaded and used on the contract's example case in a
    separate Python process: LightGBM kills the process that reads a
    corrupt booster (SIGABRT, SIGSEGV) rather than raising, and that must not
    be the command that asked.
    """
    import signal
    import subprocess
    import sys

    import mlflow
    from mlflow.exceptions import MlflowException

    from models.case_model import (
        AMOUNT_BOOSTER_FILE,
        BOOSTER_FILE,
        MODEL_FILE,
        booster_file_problem,
    )

    uri = f"{model_uri(name, version=version)}/artifacts/{MODEL_ARTIFACT}"
    with tempfile.TemporaryDirectory(prefix="triage-check-") as scratch:
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch))
        except MlflowException as error:
            raise LookupError(f"model {name!r} has no version {version}") from error
        for required in (BOOSTER_FILE, MODEL_FILE):
            if not (local / required).is_file():
                raise ValueError(f"{name} v{version}: its {required} is missing from the store")
        # The assets model's amount part, when it has one, is a second LightGBM file.
        for booster in (BOOSTER_FILE, AMOUNT_BOOSTER_FILE):
            if booster == AMOUNT_BOOSTER_FILE and not (local / booster).is_file():
                continue  # a version without one (older, or trained without amounts)
            problem = booster_file_problem((local / booster).read_bytes())
            if problem is not None:
                raise ValueError(f"{name} v{version}: its {booster} is unreadable, {problem}")
        try:
            done = subprocess.run(
                [sys.executable, "-c", _PROBE, str(local)],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise ValueError(
                f"{name} v{version}: its model files did not load within {timeout:.0f} s"
            ) from error
    if done.returncode < 0:
        died = signal.Signals(-done.returncode).name
        raise ValueError(
            f"{name} v{version}: reading its {BOOSTER_FILE} crashed the loading process ({died})"
        )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no error message"]
        raise ValueError(f"{name} v{version}: its model files do not load: {lines[-1][:500]}")


#: Run in a child process by :func:`check_loadable`: load the files, score the example case.
_PROBE = """
import sys
import pandas as pd
from features.load import validate_frame
from features.record import example_case
from models.case_model import CaseModel
model = CaseModel.load(sys.argv[1])
frame, report = validate_frame(pd.DataFrame([example_case()]), source="example case")
assert report.ok, "the contract's example case is valid"
model.predict(frame)
if model.kind == "stream":
    assert model.thresholds is not None, "a stream model carries its routing thresholds"
"""


def promote(name: str, version: str, reason: str, *, command: str | None = None) -> AliasMove:
    """Make ``version`` the champion by hand, once it is shown to load and score."""
    check_loadable(name, version)
    return move_alias(name, CHAMPION, version, reason, command=command)


def rollback(
    name: str, reason: str = "manual rollback", *, command: str | None = None
) -> AliasMove:
    """Give ``champion`` back to the version that held it before the current one."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        current = str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException as error:
        raise LookupError(f"model {name!r} has no champion to roll back") from error
    for move in reversed(alias_history(name)):
        earlier = move.previous
        if move.alias == CHAMPION and move.version == current and earlier not in (None, current):
            assert earlier is not None  # excluded just above
            check_loadable(name, earlier)
            return move_alias(
                name, CHAMPION, earlier, f"{reason} (from version {current})", command=command
            )
    raise LookupError(f"model {name!r}: no earlier champion than version {current} is recorded")


@contextlib.contextmanager
def cleanup_on_failure(names_versions: list[tuple[str, str]]) -> Iterator[None]:
    """Delete the model versions registered so far if the block fails: nothing half-registered."""
    try:
        yield
    except BaseException:
        import mlflow

        client = mlflow.MlflowClient()
        for name, version in names_versions:
            with contextlib.suppress(Exception):
                client.delete_model_version(name, version)
        raise
