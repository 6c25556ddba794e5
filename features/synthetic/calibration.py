"""Solving the constants that make the configured rates come out.

The constants (intercepts, thresholds, the filing-only fits) are solved once per
configuration on a fixed pilot sample, so the true functions depend on the
configuration only, never on the seed or the number of cases.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from features.synthetic.draw import _draw_block
from features.synthetic.world import GeneratorConfig, _logistic, _world

_PILOT_SIZE = 60_000
_PILOT_SEED = 20_250_417


def _bisect(mean_at: Callable[[float], float], target: float, name: str) -> float:
    """The ``a`` at which the increasing function ``mean_at`` reaches ``target``."""
    low, high = -30.0, 30.0
    if not mean_at(low) <= target <= mean_at(high):
        raise ValueError(
            f"the generator cannot reach {name} = {target:.4g} with the other rates as "
            f"configured (reachable: {mean_at(low):.4g} .. {mean_at(high):.4g})"
        )
    for _ in range(48):
        middle = 0.5 * (low + high)
        if mean_at(middle) < target:
            low = middle
        else:
            high = middle
    # Rounded so that the last bits of a sum never reach the output.
    return round(0.5 * (low + high), 9)


def _soft_logistic_fit(design: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Logistic regression on probabilities (soft labels), lightly ridged, by Newton steps.

    Its intercept makes the fitted mean equal the target mean, so rates survive.
    """
    n_columns = design.shape[1]
    penalty = np.full(n_columns, 1.0)
    penalty[0] = 0.0  # never shrink the intercept
    mean = float(np.average(target, weights=weight))
    beta = np.zeros(n_columns)
    beta[0] = math.log(mean / (1 - mean))
    # Gram matrices are the costly part (and multi-threaded BLAS crawls on a busy
    # machine), so: Newton on every 8th row first, then steps with the exact gradient
    # of all rows and that Hessian, which converge to the exact optimum.
    rows = slice(None, None, 8)
    sub_design, sub_target, sub_weight = design[rows], target[rows], weight[rows] * 8.0

    def gradient(x: np.ndarray, p: np.ndarray, w: np.ndarray, beta: np.ndarray) -> np.ndarray:
        g: np.ndarray = x.T @ (w * (_logistic(x @ beta) - p)) + penalty * beta
        return g

    for _ in range(30):
        q = _logistic(sub_design @ beta)
        hessian = np.einsum(
            "ij,ik->jk", sub_design * (sub_weight * q * (1 - q))[:, None], sub_design
        )
        hessian += np.diag(penalty)
        step = np.linalg.solve(hessian, gradient(sub_design, sub_target, sub_weight, beta))
        beta -= step
        if np.max(np.abs(step)) < 1e-6:
            break
    for _ in range(50):
        step = np.linalg.solve(hessian, gradient(design, target, weight, beta))
        beta -= step
        if np.max(np.abs(step)) < 1e-9:
            break
    # Rounded so that the last bits of BLAS never reach the output.
    rounded: np.ndarray = np.round(beta, 8)
    return rounded


@dataclass
class _Calibration:
    """Constants that make the configured rates come out.

    On the pilot sample (``solving``) each constant is solved where it is
    first needed, from the sample as drawn so far; afterwards the frozen
    values are simply read back.  Same code path both times.
    """

    solving: bool
    # Solved by bisection: intercepts, tilts, levels, shifts.
    constants: dict[str, float] = field(default_factory=dict)
    # Fitted: the coefficients of the filing-only logits.
    coefficients: dict[str, np.ndarray] = field(default_factory=dict)

    def solve(self, name: str, mean_at: Callable[[float], float], target: float) -> float:
        """The constant at which the increasing ``mean_at`` reaches ``target``."""
        if self.solving:
            self.constants[name] = _bisect(mean_at, target, name)
        return self.constants[name]

    def fit(
        self, name: str, design: np.ndarray, target: np.ndarray, weight: np.ndarray
    ) -> np.ndarray:
        """Coefficients of a logistic regression of soft labels ``target`` on ``design``."""
        if self.solving:
            self.coefficients[name] = _soft_logistic_fit(design, target, weight)
        return self.coefficients[name]


@functools.lru_cache(maxsize=16)
def _calibration(config: GeneratorConfig) -> _Calibration:
    """Solve the constants of a configuration on the fixed pilot sample."""
    calibration = _Calibration(solving=True)
    rng = np.random.default_rng(np.random.SeedSequence(_PILOT_SEED))
    _draw_block(rng, _PILOT_SIZE, config, calibration, _world())
    calibration.solving = False
    return calibration
