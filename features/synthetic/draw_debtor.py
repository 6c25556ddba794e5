"""Drawing the debtor: its latent solvency, and the record it has made.

A latent solvency (standard normal, shifted by region, cause and debtor type)
drives the enterprise status, prior cases and prior 终本, listing as dishonest
and whereabouts here, and what the debtor holds in :mod:`.draw_holdings`.  It
is never a column: the true probabilities read only the observed fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from features.synthetic.world import (
    GeneratorConfig,
    _code,
    _logistic,
    _negative_binomial,
    _World,
)

if TYPE_CHECKING:
    # Only for annotations: the calibration draws a pilot block, which needs this module.
    from features.synthetic.calibration import _Calibration


@dataclass(frozen=True)
class _Debtor:
    """The first respondent of each case as drawn, latent solvency included."""

    # Masks of respondent_type.
    natural_person: np.ndarray
    enterprise: np.ndarray
    individual_business: np.ndarray
    government: np.ndarray
    age: np.ndarray  # years; drawn for every case, recorded for natural persons only
    richness: np.ndarray  # of the province the case is filed in
    solvency: np.ndarray


def _draw_debtor(
    rng: np.random.Generator, n: int, world: _World, c: Mapping[str, np.ndarray]
) -> tuple[_Debtor, np.ndarray]:
    """The debtor's type, age and latent solvency; and the age as recorded (NaN if unknown)."""
    respondent = c["respondent_type"]
    is_np = respondent == _code("respondent_type", "natural_person")
    is_ent = respondent == _code("respondent_type", "enterprise")
    is_ib = respondent == _code("respondent_type", "individual_business")
    is_gov = respondent == _code("respondent_type", "government_organ")
    richness = world.richness[c["province"]]
    age = np.clip(np.rint(42 + 11 * rng.standard_normal(n)), 18, 85)
    age_known = is_np & (rng.random(n) >= 0.03)
    solvency = (
        0.30 * richness
        + world.cause_solvency[c["cause"]]
        + np.select([is_gov, is_ent], [1.8, 0.1], 0.0)
        - np.where(is_np, 0.2 * ((age - 47) / 15) ** 2, 0.0)
        + 0.9 * rng.standard_normal(n)
    )
    debtor = _Debtor(is_np, is_ent, is_ib, is_gov, age, richness, solvency)
    return debtor, np.where(age_known, age, np.nan)


def _draw_enterprise(
    rng: np.random.Generator,
    n: int,
    config: GeneratorConfig,
    cal: _Calibration,
    debtor: _Debtor,
    claim: np.ndarray,
) -> dict[str, np.ndarray]:
    """Enterprise status (active, zombie: revoked or deregistered, in liquidation) and capital."""
    is_ent, solvency = debtor.enterprise, debtor.solvency
    lc = np.log(claim / 50e3)
    liquidation = is_ent & (rng.random(n) < _logistic(-3.4 - 0.5 * solvency))
    zombie_score = -1.2 * solvency
    live = is_ent & ~liquidation
    zombie_base = cal.solve(
        "zombie_intercept",
        lambda a: float(np.sum(live * _logistic(a + zombie_score)) / max(is_ent.sum(), 1)),
        config.zombie_enterprise_rate,
    )
    zombie = live & (rng.random(n) < _logistic(zombie_base + zombie_score))
    revoked = zombie & (rng.random(n) < 0.6)
    status = np.full(n, -1, dtype=np.int8)
    status[is_ent] = _code("enterprise_status", "active")
    status[revoked] = _code("enterprise_status", "revoked")
    status[zombie & ~revoked] = _code("enterprise_status", "deregistered")
    status[liquidation] = _code("enterprise_status", "in_liquidation")
    capital = np.exp(np.log(1e6) + 0.4 * solvency + 0.25 * lc + 1.5 * rng.standard_normal(n))
    capital = np.maximum(np.rint(capital / 1e4) * 1e4, 1e4)
    return {
        "enterprise_status": status,
        "registered_capital": np.where(is_ent & (rng.random(n) >= 0.04), capital, np.nan),
    }


def _draw_history(
    rng: np.random.Generator, debtor: _Debtor, cause: np.ndarray
) -> dict[str, np.ndarray]:
    """The debtor's prior cases, the prior ones that ended 终本, and its concurrent cases."""
    solvency = debtor.solvency
    prior_mean = np.exp(
        -1.0
        - 0.75 * solvency
        + 0.7 * debtor.enterprise
        + 0.35 * debtor.individual_business
        - 1.0 * debtor.government
        + 0.4 * np.isin(cause, [_code("cause", "credit_card"), _code("cause", "financial_loan")])
    )
    prior = np.minimum(_negative_binomial(rng, prior_mean, 0.8), 200)
    prior_terminated = rng.binomial(
        prior.astype(np.int64), _logistic(-0.8 - 1.3 * solvency)
    ).astype(float)
    concurrent = np.minimum(
        _negative_binomial(
            rng,
            np.exp(-1.2 - 0.6 * solvency + 0.6 * debtor.enterprise + 0.35 * np.log1p(prior)),
            1.0,
        ),
        200,
    )
    return {
        "respondent_prior_cases": prior,
        "respondent_prior_terminated": prior_terminated,
        "respondent_concurrent_cases": concurrent,
    }


def _draw_listing(
    rng: np.random.Generator,
    n: int,
    config: GeneratorConfig,
    cal: _Calibration,
    world: _World,
    debtor: _Debtor,
    c: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Listing as dishonest and the consumption restriction."""
    solvency = debtor.solvency
    prior_terminated = c["respondent_prior_terminated"]
    had_terminated = prior_terminated > 0
    dishonest_score = (
        world.dishonest_log_odds[c["province"]]
        + 1.3 * had_terminated
        - 0.9 * solvency
        + 0.25 * np.log1p(c["respondent_concurrent_cases"])
        - 2.5 * debtor.government
    )
    dishonest_base = cal.solve(
        "dishonest_intercept",
        lambda a: float(np.mean(had_terminated + ~had_terminated * _logistic(a + dishonest_score))),
        config.dishonest_or_prior_terminated_rate,
    )
    dishonest = rng.random(n) < _logistic(dishonest_base + dishonest_score)
    # Listing brings the restriction with it; some debtors are only restricted.
    restricted = dishonest | (
        rng.random(n) < _logistic(-2.0 + 0.8 * (c["respondent_prior_cases"] > 0) - 0.5 * solvency)
    )
    return {"dishonest_listed": dishonest, "consumption_restricted": restricted}


def _draw_whereabouts(
    rng: np.random.Generator,
    n: int,
    config: GeneratorConfig,
    cal: _Calibration,
    debtor: _Debtor,
    c: Mapping[str, np.ndarray],
) -> np.ndarray:
    """Whether the debtor's whereabouts are known."""
    status = c["enterprise_status"]
    zombie = (status == _code("enterprise_status", "revoked")) | (
        status == _code("enterprise_status", "deregistered")
    )
    unknown_score = (
        -0.9 * debtor.solvency
        + 0.7 * debtor.natural_person
        + 1.0 * zombie
        + 0.3 * np.log1p(c["respondent_prior_terminated"])
        - 3.0 * debtor.government
    )
    unknown_base = cal.solve(
        "whereabouts_intercept",
        lambda a: float(np.mean(_logistic(a + unknown_score))),
        config.whereabouts_unknown_rate,
    )
    return rng.random(n) >= _logistic(unknown_base + unknown_score)
