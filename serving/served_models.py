"""From the BentoML model store to a worker: the models one worker serves.

``triage serve`` copies the versions to serve into one BentoML model,
``triage-models:<version>`` (:mod:`serving.model_import`).  Each worker loads
that BentoML model with :func:`load_models`: plain files (LightGBM text
models and JSON), no MLflow, no registry access, the same versions in every
worker however the aliases move meanwhile; and ``bentoml build`` packs it
into the Bento.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.case_model import CaseModel, LoadedModel, ModelKind
from models.triage import Triage

__all__ = [
    "BENTO_MODEL",
    "FOLLOW_UP_HINT",
    "FOLLOW_UP_KINDS",
    "KINDS",
    "MODELS_TAG_ENV",
    "TRAIN_HINT",
    "NoChampion",
    "FollowUpModels",
    "ServedModels",
    "load_models",
]

#: Name of the BentoML model that holds the served versions.
BENTO_MODEL = "triage-models"
#: Set by `triage serve` for its workers: the BentoML model (tag) to load.
MODELS_TAG_ENV = "TRIAGE_MODELS_TAG"
KINDS: tuple[ModelKind, ...] = ("stream", "assets")
TRAIN_HINT = "train both models with `triage train --data CASES.csv`"
#: The terminated-case (终本) models: served when both have a champion, else the service
#: serves new cases alone (most courts) and ``POST /follow_up`` says how to train them.
FOLLOW_UP_KINDS: tuple[ModelKind, ...] = ("resume", "recovery")
FOLLOW_UP_HINT = (
    "train the terminated-case models triage-resume and triage-recovery with "
    "`triage train --kind terminated --data TERMINATED.csv`"
)


class NoChampion(LookupError):
    """A model has no champion: nothing can be served.  The message says what to do."""


@dataclass(frozen=True)
class FollowUpModels:
    """The champions that rank terminated cases for follow-up work."""

    resume: LoadedModel
    recovery: LoadedModel


@dataclass
class ServedModels:
    """The loaded models of one BentoML model: what a worker serves."""

    tag: str
    triage: Triage
    challengers: dict[str, LoadedModel]  # kind -> the shadow challenger
    metadata: dict[str, Any]
    #: The terminated-case champions, when the registry has both (None: new cases only).
    follow_up: FollowUpModels | None = None


def load_models(tag: str, *, threads: int = 1) -> ServedModels:
    """Load a ``triage-models`` BentoML model; :class:`NoChampion` with instructions if absent."""
    import bentoml
    from bentoml.exceptions import BentoMLException, NotFound

    try:
        stored = bentoml.models.get(tag)
    except (NotFound, BentoMLException) as error:
        raise NoChampion(
            f"no {tag} in the BentoML model store: {TRAIN_HINT}, then start the service "
            "with `triage serve` (it imports the champions from the registry)"
        ) from error
    root = Path(stored.path)
    metadata: dict[str, Any] = dict(stored.info.metadata)
    # Written by serving.model_import: entry key -> name, version, alias (and run, source).
    described: dict[str, dict[str, str]] = metadata.get("models", {})

    def loaded(key: str) -> LoadedModel:
        entry = described[key]
        return LoadedModel(
            name=entry["name"],
            version=str(entry["version"]),
            alias=entry.get("alias"),
            model=CaseModel.load(root / key, threads=threads),
        )

    triage = Triage(stream=loaded("stream"), assets=loaded("assets"))
    challengers: dict[str, LoadedModel] = {
        kind: loaded(f"challenger-{kind}") for kind in KINDS if f"challenger-{kind}" in described
    }
    follow_up = None
    if all(kind in described for kind in FOLLOW_UP_KINDS):
        follow_up = FollowUpModels(resume=loaded("resume"), recovery=loaded("recovery"))
    return ServedModels(
        tag=str(stored.tag),
        triage=triage,
        challengers=challengers,
        metadata=metadata,
        follow_up=follow_up,
    )
