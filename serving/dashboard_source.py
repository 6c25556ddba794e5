"""Where the dashboard's numbers come from: a decision log, the models, the court policies.

The service's own source is its BentoML instance's decision log, champions
and the court policies its worker follows (:func:`service_source`); tests
hand ``create_app`` a source of their own log instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa

from models.policy_book import PolicyBook

if TYPE_CHECKING:
    # Only named here: importing the service (in every BentoML process) need not load
    # LightGBM and pandas before a worker loads its models.
    from models.case_model import LoadedModel
    from serving.policies import LivePolicies


@dataclass(frozen=True)
class StatsSource:
    """The decision log to read, the served champions, and the court policies in force."""

    engine: sa.Engine
    models: Mapping[str, LoadedModel] | None = None  # kind -> the served champion
    #: The court policies (an empty book: the built-in default for every court).
    policies: PolicyBook = field(default_factory=PolicyBook)

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
    return StatsSource(
        decision_log.engine,
        {"stream": triage.stream, "assets": triage.assets},
        policies=live_policy_book(getattr(service, "policies", None)),
    )


def live_policy_book(policies: LivePolicies | None) -> PolicyBook:
    """The court policies a worker routes by now; an empty book (built-in defaults) when none.

    The same book requests use (:class:`serving.policies.LivePolicies`), so
    the dashboard shows the policies the decisions were made under.
    """
    return PolicyBook() if policies is None else policies.current.book
