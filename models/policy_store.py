"""Court policies in the MLflow registry: setting one, reading the book, the champion's summary.

Each change is one tag of the stream model's registered model (see
:mod:`models.policy_book` for why there), written in one call that adds
without rewriting: two people setting policies at once both keep their
entry.  A policy is checked whole (:func:`models.policy.parse_policy`)
before anything is written, so a bad one is refused naming its field and the
old one stays in force.

MLflow is imported inside the functions, as in :mod:`models.registry`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.settings import TriageSettings, get_settings
from models.metadata import ModelMetadata
from models.policy import PolicyError, parse_policy
from models.policy_book import POLICY_TAG_PREFIX, PolicyBook, PolicyChange, PolicyScope

__all__ = ["ChampionSummary", "champion_summary", "read_book", "set_policy", "withdraw_policy"]


def _stream_model(settings: TriageSettings | None) -> str:
    from models.registry import model_name

    return model_name("stream", settings)


def read_book(settings: TriageSettings | None = None) -> PolicyBook:
    """Every policy change recorded on the stream model (empty before it is registered)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        tags = mlflow.MlflowClient().get_registered_model(_stream_model(settings)).tags
    except MlflowException:
        return PolicyBook()
    return PolicyBook.from_tags(tags)


def set_policy(
    scope: PolicyScope,
    changes: Mapping[str, Any],
    reason: str,
    *,
    actor: str | None = None,
    command: str | None = None,
    settings: TriageSettings | None = None,
) -> PolicyChange:
    """Give ``scope`` a policy of its own: the one in force for it with ``changes`` applied.

    Fields not in ``changes`` keep the values of the policy in force for the
    scope now (a court's, else its province's, else the national one), so
    ``--max-review 0.10`` changes the capacity and nothing else.  Raises
    :class:`PolicyError` naming the field (nothing written) or ``LookupError``
    when no stream model is registered to hold the policies.
    """
    from models.registry import _now, current_actor

    client, name = _client_and_model(settings)
    book = PolicyBook.from_tags(client.get_registered_model(name).tags)
    in_force = book.resolve_scope(scope)
    policy = parse_policy(in_force.policy.model_dump() | dict(changes))
    change = PolicyChange(
        time=_now(),
        scope=scope,
        policy=policy,
        previous=in_force.policy,
        reason=reason,
        actor=actor or current_actor(settings),
        command=command,
        previous_source=in_force.label,
    )
    return _record(client, name, change, len(book.history(scope)) + 1)


def withdraw_policy(
    scope: PolicyScope,
    reason: str,
    *,
    actor: str | None = None,
    command: str | None = None,
    settings: TriageSettings | None = None,
) -> PolicyChange:
    """Withdraw ``scope``'s own policy: the province's (or national) one applies again."""
    from models.registry import _now, current_actor

    client, name = _client_and_model(settings)
    book = PolicyBook.from_tags(client.get_registered_model(name).tags)
    own = book.own(scope)
    if own is None:
        raise PolicyError(f"scope: {scope.policy_id} has no policy of its own to withdraw")
    change = PolicyChange(
        time=_now(),
        scope=scope,
        policy=None,
        previous=own.policy,
        reason=reason,
        actor=actor or current_actor(settings),
        command=command,
        previous_source=own.label,
    )
    return _record(client, name, change, len(book.history(scope)) + 1)


def _client_and_model(settings: TriageSettings | None) -> tuple[Any, str]:
    import mlflow
    from mlflow.exceptions import MlflowException

    client, name = mlflow.MlflowClient(), _stream_model(settings)
    try:
        client.get_registered_model(name)
    except MlflowException as error:
        raise LookupError(
            f"no model {name!r} in {mlflow.get_tracking_uri()} to hold court policies: "
            "train one with `triage train --data CASES.csv`"
        ) from error
    return client, name


def _record(client: Any, name: str, change: PolicyChange, version: int) -> PolicyChange:
    # No colons in the key: MLflow refuses them in tag names on Windows.
    stamp = change.time.replace("-", "").replace(":", "")
    key = f"{POLICY_TAG_PREFIX}{stamp}.{change.scope.tag_part}.{os.urandom(4).hex()}"
    client.set_registered_model_tag(name, key, change.to_json())
    return replace(change, version=version)


@dataclass(frozen=True)
class ChampionSummary:
    """The champion stream model's version and what it keeps of its validation scores."""

    name: str
    version: str
    metadata: ModelMetadata


def champion_summary(settings: TriageSettings | None = None) -> ChampionSummary:
    """The champion stream model's metadata, read from its ``model.json`` alone.

    ``LookupError`` when there is no champion.  Only the small JSON file is
    downloaded, not the booster.
    """
    import tempfile
    from pathlib import Path

    import mlflow
    from mlflow.exceptions import MlflowException

    from models.case_model import MODEL_FILE
    from models.registry import CHAMPION, MODEL_ARTIFACT, model_uri

    settings = settings or get_settings()
    name = _stream_model(settings)
    try:
        found = mlflow.MlflowClient().get_model_version_by_alias(name, CHAMPION)
    except MlflowException as error:
        raise LookupError(
            f"no champion of {name!r}: train one with `triage train --data CASES.csv`"
        ) from error
    version = str(found.version)
    uri = f"{model_uri(name, version=version)}/artifacts/{MODEL_ARTIFACT}/{MODEL_FILE}"
    with tempfile.TemporaryDirectory(prefix="triage-policy-") as scratch:
        path = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch))
        document = json.loads(path.read_text(encoding="utf-8"))
    return ChampionSummary(
        name=name,
        version=version,
        metadata=ModelMetadata.model_validate(document.get("metadata", {})),
    )
