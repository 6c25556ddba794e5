"""Where the dashboard's numbers come from: a decision log, and the models drift compares with.

The service's own source is its BentoML instance's decision log and
champions (:func:`service_source`); tests hand ``create_app`` a source of
their own log instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    # Only named here: importing the service (in every BentoML process) need not load
    # LightGBM and pandas before a worker loads its models.
    from models.case_model import LoadedModel


@dataclass(frozen=True)
class StatsSource:
    """The decision log to read, and the models whose reference profiles drift compares with."""

    engine: sa.Engine
    models: Mapping[str, LoadedModel] | None = None  # kind -> the served champion

    def models_key(self) -> tuple[str, ...]:
        """Which model versions these are (``kind:name:version``): part of drift's cache key."""
        if not self.models:
            return ()
        return tuple(f"{kind}:{m.name}:{m.version}" for kind, m in sorted(self.models.items()))


class NotReady(Exception):
    """The service has no decision log yet (its models are still loading)."""


def service_source() -> StatsSource:
    """The running service's decision log and champions (BentoML's current service instance)."""
    # Imported here: the dashboard's modules stay importable (and cheap) without a service.
    import bentoml
    from bentoml.exceptions import BentoMLException

    try:
        service = bentoml.get_current_service()
    except BentoMLException as error:
        raise NotReady("the service is starting") from error
    decision_log = getattr(service, "decision_log", None)
    # The models serving now: a worker that follows the registry swaps them (LiveModels).
    live = getattr(service, "live", None)
    decider = None if live is None else live.decider
    if decision_log is None or decider is None:
        raise NotReady("the models are still loading")
    triage = decider.triage
    return StatsSource(decision_log.engine, {"stream": triage.stream, "assets": triage.assets})
