"""Routing: from a calibrated ``p_complex`` to the simple, complex or review stream.

A court states what it can tolerate (:class:`RoutingPolicy`) — e.g. *at most
10 % of truly complex cases may be routed to the simple stream* (they would
stall there) and *at most 25 % of truly simple cases may be routed to the
complex stream* (they would waste a specialist's time).  Training chooses two
thresholds that meet it on validation data (:mod:`training.thresholds`); the
stream model carries them (:class:`RoutingThresholds`) and routes every case
with them.  The cases in between go to a person.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["STREAMS", "CaseThresholds", "RoutingPolicy", "RoutingThresholds"]

#: The streams a case can be routed to.
STREAMS: Final = ("simple", "complex", "review")


class RoutingPolicy(BaseModel):
    """What the court tolerates; configuration, logged with every stream model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_complex_to_simple: float = Field(
        0.10,
        gt=0,
        lt=1,
        description="Share of truly complex cases that may go to the simple stream.",
    )
    max_simple_to_complex: float = Field(
        0.25,
        gt=0,
        lt=1,
        description="Share of truly simple cases that may go to the complex stream.",
    )


@dataclass(frozen=True)
class RoutingThresholds:
    """Thresholds on calibrated ``p_complex``: simple below, complex at or above."""

    simple_below: float
    complex_from: float

    def route(self, p_complex: npt.ArrayLike) -> npt.NDArray[np.str_]:
        """Stream name of each case (an array of ``simple``/``complex``/``review``)."""
        p = np.asarray(p_complex, dtype=float)
        return np.where(
            p < self.simple_below,
            "simple",
            np.where(p >= self.complex_from, "complex", "review"),
        )

    def to_dict(self) -> dict[str, float]:
        """The thresholds as the model file and responses carry them."""
        return asdict(self)


@dataclass(frozen=True)
class CaseThresholds:
    """Thresholds per case (one pair for each case of a batch: each court's policy)."""

    simple_below: npt.NDArray[np.float64]
    complex_from: npt.NDArray[np.float64]

    def route(self, p_complex: npt.ArrayLike) -> npt.NDArray[np.str_]:
        """Stream name of each case by its own thresholds."""
        p = np.asarray(p_complex, dtype=float)
        if p.shape != self.simple_below.shape:
            raise ValueError(f"{len(self.simple_below)} cases' thresholds for {p.size} scores")
        return np.where(
            p < self.simple_below,
            "simple",
            np.where(p >= self.complex_from, "complex", "review"),
        )
