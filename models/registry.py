"""The MLflow model registry, as training and serving both use it.

Training registers each model version (:func:`log_case_model`); serving and
the commands resolve aliases (:func:`version_by_alias`), download a
version's files (:func:`download_version`) and load versions
(:func:`load_case_model`).  Each model version is an MLflow model whose
``predict`` returns what serving needs (calibrated probability, raw score,
reasons, and for the stream model the stream).  The ``challenger`` alias
marks the newest version; ``champion`` the one that serves.  Every alias move
is recorded as a tag on the registered model with its time and reason, so
the history of who served when survives.

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

from app.settings import TriageSettings, get_settings
from models.case_model import CaseModel, LoadedModel

log = logging.getLogger(__name__)

EXPERIMENT = "enforcement-triage"
CHAMPION = "champion"
CHALLENGER = "challenger"
MODEL_ARTIFACT = "model_dir"


def model_name(kind: str, settings: TriageSettings | None = None) -> str:
    settings = settings or get_settings()
    return settings.stream_model_name if kind == "stream" else settings.assets_model_name


def kind_of(name: str, settings: TriageSettings | None = None) -> str:
    settings = settings or get_settings()
    kinds = {settings.stream_model_name: "stream", settings.assets_model_name: "assets"}
    if name not in kinds:
        raise ValueError(f"unknown model {name!r}; the models are {', '.join(kinds)}")
    return kinds[name]


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
        location = None
        if uri.startswith("sqlite:") or uri.startswith("file:") or "://" not in uri:
            location = (settings.mlflow_artifacts / EXPERIMENT).as_uri()
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
            input_example=input_example(),
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


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def move_alias(name: str, alias: str, version: str, reason: str) -> dict[str, str | None]:
    """Point ``alias`` at ``version`` and record the move (time, from, to, reason)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        client.get_model_version(name, str(version))
    except MlflowException as error:
        raise LookupError(f"model {name!r} has no version {version}") from error
    try:
        previous = str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        previous = None
    client.set_registered_model_alias(name, alias, str(version))
    when = _now()
    move: dict[str, str | None] = {
        "time": when,
        "alias": alias,
        "from": previous,
        "to": str(version),
        "reason": reason,
    }
    client.set_registered_model_tag(
        name, f"alias_move.{when}", json.dumps(move, ensure_ascii=False)
    )
    client.set_model_version_tag(name, str(version), f"{alias}_since", when)
    client.set_model_version_tag(name, str(version), f"{alias}_reason", reason[:4000])
    log.info("%s@%s: %s -> %s (%s)", name, alias, previous, version, reason)
    return move


def alias_history(name: str) -> list[dict[str, str | None]]:
    """Every recorded alias move of a registered model, oldest first."""
    import mlflow

    tags = mlflow.MlflowClient().get_registered_model(name).tags
    moves: list[dict[str, str | None]] = [
        json.loads(v) for k, v in tags.items() if k.startswith("alias_move.")
    ]
    return sorted(moves, key=lambda m: str(m["time"]))


def rollback(name: str, reason: str = "manual rollback") -> dict[str, str | None]:
    """Give ``champion`` back to the version that held it before the current one."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        current = str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException as error:
        raise LookupError(f"model {name!r} has no champion to roll back") from error
    for move in reversed(alias_history(name)):
        earlier = move["from"]
        if move["alias"] == CHAMPION and move["to"] == current and earlier not in (None, current):
            assert earlier is not None  # excluded just above
            return move_alias(name, CHAMPION, earlier, f"{reason} (from version {current})")
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
