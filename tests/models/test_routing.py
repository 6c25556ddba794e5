"""A stream model routes each case by its thresholds; the policy refuses what cannot hold."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from models.routing import STREAMS, RoutingPolicy, RoutingThresholds


def test_route_puts_each_threshold_on_its_upper_side():
    thresholds = RoutingThresholds(simple_below=0.3, complex_from=0.7)
    p = np.array([0.0, 0.29999, 0.3, 0.5, 0.69999, 0.7, 1.0])
    assert thresholds.route(p).tolist() == [
        "simple",
        "simple",
        "review",
        "review",
        "review",
        "complex",
        "complex",
    ]


def test_every_stream_is_a_known_one():
    thresholds = RoutingThresholds(simple_below=0.2, complex_from=0.6)
    streams = set(thresholds.route(np.linspace(0, 1, 101)).tolist())
    assert streams == set(STREAMS)


@pytest.mark.parametrize("share", [0.0, 1.0, -0.1, 1.5])
def test_a_policy_limit_must_be_a_share_strictly_between_0_and_1(share):
    with pytest.raises(ValidationError, match="max_complex_to_simple"):
        RoutingPolicy(max_complex_to_simple=share)
