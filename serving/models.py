"""From the MLflow registry to the BentoML model store, and from the store to a worker.

The registry stays the source of truth.  :func:`prepare_models` resolves the
aliases — ``champion`` of both models, and ``challenger`` where it exists and
differs from the champion — and copies exactly those versions into one
BentoML model, ``triage-models:<version>``, whose version names its contents
(``s3-a3-cs4-…``).  The service's workers then load that BentoML model with
:func:`load_models`: plain files (LightGBM text models and JSON), no MLflow
import, no registry access, the same versions in every worker however the
aliases move meanwhile; and ``bentoml build`` packs it into the Bento.

:func:`prepare_models` needs MLflow (the CLI and the arbiter process run it);
:func:`load_models` must not import it (the workers run it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app.settings import TriageSettings, get_settings

log = logging.getLogger("bentoml.triage")

#: Name of the BentoML model that holds the served versions.
BENTO_MODEL = "triage-models"
#: Set by `triage serve` for its workers: the BentoML model (tag) to load.
MODELS_TAG_ENV = "TRIAGE_MODELS_TAG"
KINDS = ("stream", "assets")
TRAIN_HINT = "train both models with `triage train --data CASES.csv`"


class NoChampion(LookupError):
    """A model has no champion: nothing can be served.  The message says what to do."""


@dataclass(frozen=True)
class ServedVersion:
    """One registered model version chosen for serving."""

    kind: str
    name: str
    version: str
    alias: str
    run_id: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class ModelSet:
    """What to serve: both champions, and the challengers that differ from them."""

    champions: dict[str, ServedVersion]
    challengers: dict[str, ServedVersion] = field(default_factory=dict)

    def bento_version(self) -> str:
        """The BentoML model version naming these contents, e.g. ``s3-a3-cs4-0f1e2d3c``."""
        parts = [f"s{self.champions['stream'].version}", f"a{self.champions['assets'].version}"]
        for kind, letter in (("stream", "cs"), ("assets", "ca")):
            if kind in self.challengers:
                parts.append(f"{letter}{self.challengers[kind].version}")
        identity = json.dumps(self.to_metadata()["models"], sort_keys=True).encode()
        parts.append(hashlib.sha256(identity).hexdigest()[:8])
        return "-".join(parts).lower()

    def to_metadata(self) -> dict[str, object]:
        """BentoML model metadata (which refuses None values: absent fields are left out)."""

        def entry(served: ServedVersion) -> dict[str, str]:
            return {k: v for k, v in asdict(served).items() if v is not None}

        models = {k: entry(v) for k, v in self.champions.items()}
        models |= {f"challenger-{k}": entry(v) for k, v in self.challengers.items()}
        return {"models": models}


# --------------------------------------------------------------------------
# Registry side (MLflow)
# --------------------------------------------------------------------------


def resolve_aliases(settings: TriageSettings | None = None) -> ModelSet:
    """The versions the aliases point at now; :class:`NoChampion` when one is missing."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from training import registry

    settings = settings or get_settings()
    registry.configure_mlflow(settings)
    client = mlflow.MlflowClient()
    champions: dict[str, ServedVersion] = {}
    challengers: dict[str, ServedVersion] = {}
    missing = []
    for kind in KINDS:
        name = registry.model_name(kind, settings)
        found = {}
        for alias in (registry.CHAMPION, registry.CHALLENGER):
            try:
                version = client.get_model_version_by_alias(name, alias)
            except MlflowException:
                continue
            found[alias] = ServedVersion(
                kind=kind,
                name=name,
                version=str(version.version),
                alias=alias,
                run_id=version.run_id,
                source=version.source,
            )
        if registry.CHAMPION not in found:
            missing.append(name)
            continue
        champions[kind] = found[registry.CHAMPION]
        challenger = found.get(registry.CHALLENGER)
        if challenger is not None and challenger.version != champions[kind].version:
            challengers[kind] = challenger
    if missing:
        raise NoChampion(
            f"no champion of {' and '.join(missing)} in the registry at "
            f"{_safe_uri(settings.resolved_tracking_uri())}: {TRAIN_HINT}"
        )
    return ModelSet(champions=champions, challengers=challengers)


def _safe_uri(uri: str) -> str:
    """A tracking URI without credentials, for messages."""
    if "@" in uri and "://" in uri:
        scheme, rest = uri.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return uri


def _download(served: ServedVersion, into: Path) -> Path:
    """The stored model files of one version (``booster.txt``, ``model.json``) into a folder."""
    import mlflow

    from training import registry
    from training.model import CaseModel

    uri = f"{registry.model_uri(served.name, version=served.version)}/artifacts/{registry.MODEL_ARTIFACT}"
    with tempfile.TemporaryDirectory(prefix="triage-download-") as scratch:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch))
        model = CaseModel.load(local)  # refuse a broken version here, not in every worker
        if served.kind == "stream" and model.thresholds is None:
            raise ValueError(f"{served.name} v{served.version} carries no routing thresholds")
        shutil.copytree(local, into)
    return into


def import_models(
    model_set: ModelSet, fetch: Callable[[ServedVersion, Path], Path] | None = None
) -> str:
    """Copy a model set into the BentoML store (once) and make it ``latest``; returns the tag.

    Idempotent: a set already in the store is reused.  It is re-created only
    when it is not the store's ``latest``, so that ``bentoml build`` (which
    packs ``triage-models:latest``) packs what was served last.  ``fetch``
    writes one version's files into a folder (default: download from MLflow).
    """
    fetch = fetch or _download
    import bentoml
    from bentoml.exceptions import NotFound

    tag = f"{BENTO_MODEL}:{model_set.bento_version()}"
    try:
        existing = bentoml.models.get(tag)
    except NotFound:
        existing = None
    if existing is not None:
        latest = bentoml.models.get(f"{BENTO_MODEL}:latest")
        if latest.tag == existing.tag:
            return str(existing.tag)
        bentoml.models.delete(tag)
    metadata = model_set.to_metadata() | {"imported_at": _now()}
    labels = {f"{kind}_version": served.version for kind, served in model_set.champions.items()} | {
        "owner": "enforcement-triage"
    }
    with bentoml.models.create(tag, labels=labels, metadata=metadata) as stored:
        root = Path(stored.path)
        for kind, served in model_set.champions.items():
            fetch(served, root / kind)
        for kind, served in model_set.challengers.items():
            fetch(served, root / f"challenger-{kind}")
    log.info("imported %s into the BentoML store", tag)
    return tag


def prepare_models(settings: TriageSettings | None = None) -> str:
    """Resolve the aliases and import those versions; the BentoML tag to serve."""
    return import_models(resolve_aliases(settings))


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --------------------------------------------------------------------------
# Worker side (no MLflow)
# --------------------------------------------------------------------------


@dataclass
class ServedModels:
    """The loaded models of one BentoML model: what a worker serves."""

    tag: str
    triage: object  # training.triage.Triage (imported lazily: LightGBM is heavy)
    challengers: dict[str, object]  # kind -> training.registry.LoadedModel
    metadata: dict[str, object]


def load_models(tag: str, *, threads: int = 1) -> ServedModels:
    """Load a ``triage-models`` BentoML model; :class:`NoChampion` with instructions if absent."""
    import bentoml
    from bentoml.exceptions import BentoMLException, NotFound

    from training.model import CaseModel
    from training.registry import LoadedModel
    from training.triage import Triage

    try:
        stored = bentoml.models.get(tag)
    except (NotFound, BentoMLException) as error:
        raise NoChampion(
            f"no {tag} in the BentoML model store: {TRAIN_HINT}, then start the service "
            "with `triage serve` (it imports the champions from the registry)"
        ) from error
    root = Path(stored.path)
    metadata = dict(stored.info.metadata)
    described = metadata.get("models", {})

    def loaded(key: str) -> LoadedModel:
        entry = described[key]
        return LoadedModel(
            name=entry["name"],
            version=str(entry["version"]),
            alias=entry.get("alias"),
            model=CaseModel.load(root / key, threads=threads),
        )

    triage = Triage(stream=loaded("stream"), assets=loaded("assets"))
    challengers = {
        kind: loaded(f"challenger-{kind}") for kind in KINDS if f"challenger-{kind}" in described
    }
    return ServedModels(
        tag=str(stored.tag), triage=triage, challengers=challengers, metadata=metadata
    )
