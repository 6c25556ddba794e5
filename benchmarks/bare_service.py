"""The least a BentoML service is: one endpoint that answers what it was sent.

The start benchmark's baseline (:mod:`benchmarks.start`): its worker's start is
BentoML's own — the interpreter, BentoML, uvicorn and the app BentoML builds —
with no model, no decision log and no dashboard.  It is served the way
`triage serve` serves the service (``python -m serving.bentoml_serve``, one
worker, the same arbiter checking for dead workers every second).
"""

from __future__ import annotations

import typing as t

import bentoml


@bentoml.service(name="bare", workers=1)
class BareService:
    """Echoes the case it is sent."""

    @bentoml.api(route="/triage")
    def triage(self, case: dict[str, t.Any]) -> dict[str, t.Any]:
        """The case, as it came."""
        return case
