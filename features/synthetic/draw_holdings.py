"""Drawing what the debtor holds: property preserved in the lawsuit, and what the inquiry finds.

The holdings are latent until the first network inquiry answers; a share of
cases is scored at the filing desk before it does and shows none of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from features.synthetic.draw_debtor import _Debtor
from features.synthetic.world import GeneratorConfig, _cents, _effects, _logistic

if TYPE_CHECKING:
    # Only for annotations: the calibration draws a pilot block, which needs this module.
    from features.synthetic.calibration import _Calibration


def _draw_preservation(
    rng: np.random.Generator,
    n: int,
    config: GeneratorConfig,
    cal: _Calibration,
    debtor: _Debtor,
    c: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Whether property was preserved during the lawsuit, and how much."""
    claim = c["claim_amount"]
    # Preservation needs a lawsuit (not a notarised deed or payment order) and an
    # applicant who can post security: banks and firms more than individuals.
    basis_effect = _effects(
        "basis_type",
        mediation=0.1,
        arbitration=-0.3,
        notarial_deed=-1.5,
        payment_order=-1.5,
        criminal_property=-0.5,
        administrative=-2.0,
    )
    applicant_effect = _effects(
        "applicant_type", enterprise=0.3, financial_institution=0.5, government=-1.0
    )
    cause_effect = _effects(
        "cause",
        financial_loan=0.3,
        construction=0.4,
        private_lending=0.2,
        credit_card=-1.0,
        family_support=-1.0,
        traffic_accident=-0.3,
    )
    preserve_score = (
        0.4 * np.log(claim / 50e3)
        + 0.5 * debtor.solvency
        + basis_effect[c["basis_type"]]
        + applicant_effect[c["applicant_type"]]
        + cause_effect[c["cause"]]
    )
    preserve_base = cal.solve(
        "preservation_intercept",
        lambda a: float(np.mean(_logistic(a + preserve_score))),
        config.litigation_preserved_rate,
    )
    preserved = rng.random(n) < _logistic(preserve_base + preserve_score)
    ratio = np.minimum(np.exp(-0.35 + 0.25 * debtor.solvency + 0.6 * rng.standard_normal(n)), 1.3)
    return {
        "litigation_preserved": preserved,
        "preserved_amount": np.where(preserved, np.maximum(_cents(claim * ratio), 0.01), np.nan),
    }


def _draw_holdings(
    rng: np.random.Generator,
    n: int,
    config: GeneratorConfig,
    cal: _Calibration,
    debtor: _Debtor,
    c: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """What the first inquiry would find, for every case (latent until it answers)."""
    bank, online = _draw_funds(rng, n, config, cal, debtor, c["claim_amount"])
    real_estate, vehicles, equity, securities = _draw_property(rng, n, config, cal, debtor, c)
    salary = _draw_salary(rng, n, debtor)
    return {
        "bank_balance": bank,
        "online_payment_balance": online,
        "real_estate_count": real_estate.astype(float),
        "vehicle_count": vehicles.astype(float),
        "equity_stakes": equity.astype(float),
        "securities_value": securities,
        "has_salary_income": salary.astype(float),
    }


def _draw_inquiry(
    rng: np.random.Generator, n: int, config: GeneratorConfig, holdings: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Whether the first inquiry had answered at scoring time, and the holdings it shows."""
    inquiry_done = rng.random(n) >= config.inquiry_pending_rate
    columns = {"inquiry_done": inquiry_done}
    for name, values in holdings.items():
        columns[name] = np.where(inquiry_done, values, np.nan)
    return columns


def _draw_funds(
    rng: np.random.Generator,
    n: int,
    config: GeneratorConfig,
    cal: _Calibration,
    debtor: _Debtor,
    claim: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Bank deposits and online payment balances, CNY."""
    solvency, richness = debtor.solvency, debtor.richness
    is_ent = debtor.enterprise
    p_funds = _logistic(
        0.4
        + 1.4 * solvency
        + 0.3 * richness
        + np.select([debtor.government, is_ent], [3.0, -0.2], 0.0)
    )
    has_funds = rng.random(n) < p_funds
    # Deposits grow with the claim (bigger debts, bigger debtors), though less than it.
    bank_rest = 0.8 * np.log(claim) + 1.3 * solvency + 1.0 * rng.standard_normal(n)
    dust = np.where(rng.random(n) < 0.4, 0.0, _cents(200 * rng.random(n)))
    personal = debtor.natural_person | debtor.individual_business
    online = np.where(
        personal & (rng.random(n) < _logistic(0.8 + 0.6 * solvency)),
        np.exp(math.log(200) + 0.7 * solvency + 0.4 * richness + 1.3 * rng.standard_normal(n)),
        np.where(is_ent & (rng.random(n) < 0.1), 50 * rng.random(n), 0.0),
    )
    online = _cents(np.minimum(online, 5e7))
    # The deposit level is set so that the configured share of answered inquiries finds
    # deposits + online funds covering the claim.
    shortfall = np.log(np.maximum(claim - online, 0.005)) - bank_rest
    covered_by_online = online >= claim
    funds_level = cal.solve(
        "funds_level",
        lambda m: float(np.mean(covered_by_online | (has_funds & (shortfall <= m)))),
        config.funds_cover_rate / (1.0 - config.inquiry_pending_rate),
    )
    bank = np.where(has_funds, _cents(np.minimum(np.exp(funds_level + bank_rest), 1e10)), dust)
    return bank, online


def _draw_property(
    rng: np.random.Generator,
    n: int,
    config: GeneratorConfig,
    cal: _Calibration,
    debtor: _Debtor,
    c: Mapping[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Counts of real estate, vehicles and equity stakes, and the value of securities."""
    solvency, richness = debtor.solvency, debtor.richness
    is_ent = debtor.enterprise
    preserved = c["litigation_preserved"]

    def kind_score(np_: float, ent: float, ib: float, slope: float) -> np.ndarray:
        return (
            np.select(
                [debtor.natural_person, is_ent, debtor.individual_business], [np_, ent, ib], -8.0
            )
            + slope * solvency
        )

    property_scores = (
        kind_score(-1.9, -2.1, -1.8, 1.25) + 0.1 * np.log(c["claim_amount"] / 50e3),  # real estate
        kind_score(-2.0, -1.8, -1.5, 1.0),  # vehicles
        kind_score(-3.2, -1.6, -3.5, 0.9),  # equity stakes
        kind_score(-3.3, -3.8, -4.0, 1.0) + 0.3 * richness,  # securities
    )
    answered_share = 1.0 - config.inquiry_pending_rate

    # Property: one shift for all kinds, solved so that preservation or property found
    # reaches the configured share.
    def clue_share(shift: float) -> float:
        nothing = np.prod([1 - _logistic(shift + s) for s in property_scores], axis=0)
        return float(np.mean(preserved + ~preserved * answered_share * (1 - nothing)))

    shift = cal.solve("property_shift", clue_share, config.preservation_or_clue_rate)
    holds = [rng.random(n) < _logistic(shift + s) for s in property_scores]
    real_estate = holds[0] * (1 + rng.poisson(0.6 * np.exp(0.3 * np.clip(solvency, -3, 3))))
    vehicles = holds[1] * (1 + rng.poisson(0.4 + 1.5 * is_ent))
    equity = holds[2] * (1 + rng.poisson(0.3 + 1.0 * is_ent))
    securities = np.where(
        holds[3],
        _cents(np.exp(math.log(40e3) + 0.7 * solvency + 1.4 * rng.standard_normal(n))),
        0.0,
    )
    return real_estate, vehicles, equity, securities


def _draw_salary(rng: np.random.Generator, n: int, debtor: _Debtor) -> np.ndarray:
    """Whether the debtor has a salary (persons, and some individual businesses)."""
    solvency = debtor.solvency
    p_salary = np.select(
        [debtor.natural_person, debtor.individual_business],
        [
            _logistic(0.2 + 0.8 * solvency - 1.8 * (debtor.age > 60) + 0.3 * debtor.richness),
            _logistic(-1.2 + 0.5 * solvency),
        ],
        0.0,
    )
    return rng.random(n) < p_salary
