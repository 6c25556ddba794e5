"""Drawing the outcomes: labels from their true probabilities, then amounts and durations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from features.synthetic.draw_debtor import _Debtor
from features.synthetic.truth import _full_terms, _probabilities, _solve_outcome_constants
from features.synthetic.world import GeneratorConfig, _cents, _logistic

if TYPE_CHECKING:
    # Only for annotations: the calibration draws a pilot block, which needs this module.
    from features.synthetic.calibration import _Calibration

# The 6-month time limit of a first-time enforcement case, in days.
_TIME_LIMIT_DAYS = 183


def _draw_outcomes(
    rng: np.random.Generator,
    n: int,
    config: GeneratorConfig,
    cal: _Calibration,
    debtor: _Debtor,
    c: dict[str, np.ndarray],
    holdings: dict[str, np.ndarray],
) -> dict[str, dict[str, np.ndarray]]:
    """The block's cases with their outcomes, its truth and its latent events.

    ``c`` holds the observed columns, ``holdings`` what the first inquiry would
    find for every case (also where it had not answered at scoring time).
    """
    if cal.solving:
        _solve_outcome_constants(c | holdings, config, cal)
    prob = _probabilities(c, cal)
    u = rng.random((6, n))
    assets = u[0] < prob["assets"]
    auction = u[1] < prob["auction"]
    objection = u[2] < prob["objection"]
    bankruptcy = u[3] < prob["bankruptcy"]
    overdue = u[4] < prob["overdue"]
    complex_ = auction | objection | bankruptcy | overdue
    full_terms = _full_terms(c | holdings)
    p_fully = _p_fully_performed(config, cal, debtor, c, holdings, full_terms, prob["assets"])
    fully = assets & (u[5] < p_fully)
    claim = c["claim_amount"]
    recovered = _draw_recovered(
        rng, n, claim, holdings, full_terms, assets=assets, auction=auction, fully=fully
    )
    duration = _draw_duration(
        rng, n, assets=assets, fully=fully, auction=auction, complex_=complex_, overdue=overdue
    )
    outcomes = {
        "is_complex": complex_.astype(float),
        "has_recoverable_assets": assets.astype(float),
        "recovered_amount": recovered,
        "duration_days": duration,
    }
    truth = {
        "p_complex_true": prob["complex"],
        "p_assets_true": prob["assets"],
        "expected_recovery_true": prob["assets"]
        * _expected_recovered_given_assets(
            claim, holdings, full_terms, p_fully, p_auction=prob["auction"]
        ),
    }
    events = {
        "solvency": debtor.solvency,
        "funds_cover_claim": (
            holdings["bank_balance"] + holdings["online_payment_balance"] >= claim
        ),
        "needs_appraisal_or_auction": auction,
        "objection": objection,
        "bankruptcy_transfer": bankruptcy,
        "overdue": overdue,
        "fully_performed": fully,
        "p_appraisal_or_auction": prob["auction"],
        "p_objection": prob["objection"],
        "p_bankruptcy_transfer": prob["bankruptcy"],
        "p_overdue": prob["overdue"],
    }
    return {"cases": c | outcomes, "truth": truth, "events": events}


def _p_fully_performed(
    config: GeneratorConfig,
    cal: _Calibration,
    debtor: _Debtor,
    c: Mapping[str, np.ndarray],
    holdings: dict[str, np.ndarray],
    full_terms: dict[str, np.ndarray],
    p_assets: np.ndarray,
) -> np.ndarray:
    """Probability that a case with assets recovered is fully performed (执行完毕).

    Fully performed is an internal event of the recovered cases (it may read the
    holdings even when the inquiry had not answered at scoring time: the court
    learns them later).
    """
    perform_score = (
        2.2 * full_terms["cover"]
        - 0.15 * np.log(c["claim_amount"] / 50e3)
        + 0.6 * full_terms["preserved"]
        + 0.3 * holdings["has_salary_income"]
        + 0.3 * (holdings["real_estate_count"] > 0)
        - 0.3 * c["dishonest_listed"]
        - 0.3 * ~c["whereabouts_known"]
        + 0.2 * debtor.richness
    )
    perform_base = cal.solve(
        "fully_performed_intercept",
        lambda a: float(np.mean(p_assets * _logistic(a + perform_score))),
        config.fully_performed_rate,
    )
    return _logistic(perform_base + perform_score)


#: Gauss-Hermite nodes and weights for E[f(Z)], Z ~ N(0, 1) (probabilists' form, normalised).
_HERMITE_NODES, _HERMITE_WEIGHTS = np.polynomial.hermite_e.hermegauss(48)
_HERMITE_WEIGHTS = _HERMITE_WEIGHTS / _HERMITE_WEIGHTS.sum()


def _expected_recovered_given_assets(
    claim: np.ndarray,
    holdings: dict[str, np.ndarray],
    full_terms: dict[str, np.ndarray],
    p_fully: np.ndarray,
    *,
    p_auction: np.ndarray,
) -> np.ndarray:
    """E[recovered amount | assets recovered] of each case, exactly as :func:`_draw_recovered` draws.

    Given what the generator knows of the case (its holdings, found or not at
    scoring time), so its mean over any group of cases chosen on what the
    record shows is the group's expected realised mean.  Fully performed: the
    claim plus, three times in ten, interest uniform on 0–4 % (mean 2 %, and
    half a fen of rounding up); otherwise the claim's share ``logistic(m + Z)``
    capped at 97 %, its normal noise integrated by Gauss-Hermite quadrature.
    The sale (auction) term is itself random given the record, so it is
    averaged over its probability.  Rounding to the fen and the clip to
    [0.01, claim − 0.01] are left out: they move the mean by under a fen.
    """
    full = claim + 0.3 * (0.02 * claim + 0.005)
    base = (
        -0.6
        + 0.8 * np.clip(full_terms["funds_to_claim"], -5, 1)
        + 0.8 * (holdings["real_estate_count"] > 0)
        + 0.3 * (holdings["vehicle_count"] > 0)
        + 0.6 * full_terms["preserved"]
    )

    def mean_share(m: np.ndarray) -> np.ndarray:
        share = _logistic(m[:, None] + _HERMITE_NODES[None, :])
        return np.asarray(np.minimum(share, 0.97) @ _HERMITE_WEIGHTS, dtype=np.float64)

    partial = p_auction * mean_share(base + 2.0) + (1 - p_auction) * mean_share(base)
    return np.asarray(full * p_fully + claim * (1 - p_fully) * partial, dtype=np.float64)


def _draw_recovered(
    rng: np.random.Generator,
    n: int,
    claim: np.ndarray,
    holdings: dict[str, np.ndarray],
    full_terms: dict[str, np.ndarray],
    *,
    assets: np.ndarray,
    auction: np.ndarray,
    fully: np.ndarray,
) -> np.ndarray:
    """The amount recovered, CNY.

    The claim (plus delay interest now and then) when fully performed; a share that
    grows with funds and property otherwise; nothing when 终本.
    """
    interest = np.where(rng.random(n) < 0.3, 0.04 * rng.random(n), 0.0)
    full_amount = np.where(interest > 0, np.ceil(claim * (1 + interest) * 100) / 100, claim)
    share = _logistic(
        -0.6
        + 0.8 * np.clip(full_terms["funds_to_claim"], -5, 1)
        + 0.8 * (holdings["real_estate_count"] > 0)
        + 0.3 * (holdings["vehicle_count"] > 0)
        + 0.6 * full_terms["preserved"]
        + 2.0 * auction  # the proceeds of a sale
        + 1.0 * rng.standard_normal(n)
    )
    partial = np.clip(_cents(claim * np.minimum(share, 0.97)), 0.01, np.maximum(claim - 0.01, 0.01))
    return np.where(fully, full_amount, np.where(assets, partial, 0.0))


def _draw_duration(
    rng: np.random.Generator,
    n: int,
    *,
    assets: np.ndarray,
    fully: np.ndarray,
    auction: np.ndarray,
    complex_: np.ndarray,
    overdue: np.ndarray,
) -> np.ndarray:
    """Days from filing to closing.

    Simple cases close within the limit (paid ~3 weeks, 终本 ~6 weeks); complex
    ones take months, those past the limit run on with a long tail.
    """
    simple_median = np.where(fully, 20.0, np.where(assets, 55.0, 40.0))
    simple_days = simple_median * np.exp(0.65 * rng.standard_normal(n))
    simple_days = np.where(
        simple_days > _TIME_LIMIT_DAYS, _TIME_LIMIT_DAYS - 90 * rng.random(n), simple_days
    )
    # Time spent on appraisal, auction or objection does not count against the limit.
    within_limit = 55.0 * np.exp(0.4 * rng.standard_normal(n) + 0.2 * auction)
    past_limit = _TIME_LIMIT_DAYS + 1 + 75.0 * np.exp(0.9 * rng.standard_normal(n))
    duration = np.where(overdue, past_limit, np.where(complex_, within_limit, simple_days))
    return np.maximum(np.rint(duration), 1)
