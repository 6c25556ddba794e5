"""Drawing the case mix: when and where a case is filed, for what, by whom, against whom.

Each function draws from ``rng`` in turn; :func:`features.synthetic.draw._draw_block`
calls them in a fixed order, which is part of what a seed produces.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from features.synthetic.world import (
    GeneratorConfig,
    _cents,
    _code,
    _filing_days,
    _logistic,
    _logit,
    _pick,
    _World,
)

if TYPE_CHECKING:
    # Only for annotations: the calibration draws a pilot block, which needs this module.
    from features.synthetic.calibration import _Calibration


def _draw_filing(
    rng: np.random.Generator, n: int, config: GeneratorConfig, world: _World
) -> dict[str, np.ndarray]:
    """Filing date, province and cause of action."""
    days, day_cdf = _filing_days(config.start, config.end)
    filing_date = days[np.minimum(np.searchsorted(day_cdf, rng.random(n), "right"), len(days) - 1)]
    province = np.minimum(
        np.searchsorted(world.province_cdf, rng.random(n), "right"), len(world.province_cdf) - 1
    ).astype(np.int8)
    cause = np.minimum(
        np.searchsorted(world.cause_cdf, rng.random(n), "right"), len(world.cause_cdf) - 1
    ).astype(np.int8)
    return {"filing_date": filing_date, "province": province, "cause": cause}


def _draw_claim(
    rng: np.random.Generator, n: int, config: GeneratorConfig, world: _World, cause: np.ndarray
) -> np.ndarray:
    """Claims in CNY: log-normal by cause, at the configured median and spread."""
    log_claim = math.log(config.claim_median) + config.claim_sigma * (
        world.claim_offset[cause] + world.claim_scale[cause] * rng.standard_normal(n)
    )
    claim = np.clip(np.exp(log_claim), 50.0, 5e9)
    # Half the claims are whole yuan (principal only), the rest carry interest to the fen.
    return np.where(rng.random(n) < 0.5, np.rint(claim), _cents(claim))


def _draw_instrument_and_parties(
    rng: np.random.Generator,
    n: int,
    config: GeneratorConfig,
    cal: _Calibration,
    world: _World,
    cause: np.ndarray,
) -> dict[str, np.ndarray]:
    """The instrument enforced, the applicant's type and the first respondent's type."""
    basis = _pick(rng, world.basis_probs[cause])
    applicant = _pick(rng, world.applicant_probs[cause])
    # Administrative decisions are enforced on an agency's application.
    applicant[basis == _code("basis_type", "administrative")] = _code(
        "applicant_type", "government"
    )
    respondent = _draw_respondent_type(rng, n, config, cal, world, cause)
    return {"basis_type": basis, "applicant_type": applicant, "respondent_type": respondent}


def _draw_respondent_type(
    rng: np.random.Generator,
    n: int,
    config: GeneratorConfig,
    cal: _Calibration,
    world: _World,
    cause: np.ndarray,
) -> np.ndarray:
    """The first respondent's type: each cause's mix, tilted to the configured share of persons."""
    natural_person = _code("respondent_type", "natural_person")
    base = world.respondent_probs[cause]
    base_np = base[:, natural_person]
    tilt = cal.solve(
        "natural_person_tilt",
        lambda a: float(np.mean(_logistic(a + _logit(base_np)))),
        config.natural_person_rate,
    )
    p_np = _logistic(tilt + _logit(base_np))
    # The other types share what is left in the proportions of the cause's mix.
    others = np.divide(1 - p_np, 1 - base_np, out=np.zeros(n), where=base_np < 1)
    probs = base * others[:, None]
    probs[:, natural_person] = p_np
    return _pick(rng, probs)


def _draw_party_counts(
    rng: np.random.Generator,
    n: int,
    config: GeneratorConfig,
    cal: _Calibration,
    world: _World,
    cause: np.ndarray,
    enterprise: np.ndarray,
) -> dict[str, np.ndarray]:
    """How many respondents (guarantors, spouses, joint debtors) and applicants a case has."""
    multi_base = _logit(world.multi_respondent[cause]) + 0.3 * enterprise
    multi_tilt = cal.solve(
        "multi_respondent_tilt",
        lambda a: float(np.mean(_logistic(a + multi_base))),
        config.multi_respondent_rate,
    )
    several = rng.random(n) < _logistic(multi_tilt + multi_base)
    n_respondents = np.where(several, 1 + np.minimum(rng.geometric(0.55, n), 29), 1).astype(float)
    several_app = rng.random(n) < world.multi_applicant[cause]
    n_applicants = np.where(several_app, 1 + np.minimum(rng.geometric(0.5, n), 49), 1).astype(float)
    return {"n_respondents": n_respondents, "n_applicants": n_applicants}


def _draw_court(
    rng: np.random.Generator, n: int, world: _World, province: np.ndarray, claim: np.ndarray
) -> dict[str, np.ndarray]:
    """The court's level (larger claims go up the hierarchy) and the court of that level."""
    p_high = 0.002 + 0.25 * _logistic(1.5 * (np.log(claim) - math.log(2e8)))
    p_intermediate = 0.04 + 0.5 * _logistic(1.2 * (np.log(claim) - math.log(1.5e7)))
    u = rng.random(n)
    level = np.where(
        u < p_high,
        _code("court_level", "high"),
        np.where(
            u < p_high + p_intermediate,
            _code("court_level", "intermediate"),
            _code("court_level", "basic"),
        ),
    ).astype(np.int8)
    group = province.astype(np.int64) * 3 + level
    court = np.minimum(
        np.searchsorted(world.court_group_cum, group + rng.random(n), "right"), world.n_courts - 1
    )
    return {"court_level": level, "court": court}


def _draw_days_since_judgment(rng: np.random.Generator, n: int, solvency: np.ndarray) -> np.ndarray:
    """Days from the judgment to the filing: log-normal, shorter for solvent debtors."""
    gap = np.exp(math.log(70) + 0.85 * rng.standard_normal(n) - 0.15 * solvency)
    return np.clip(np.rint(gap), 0, 5000)
