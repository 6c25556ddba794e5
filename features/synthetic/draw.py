"""Drawing a block of cases: the case mix, the debtor, the first inquiry, the outcomes."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from features.synthetic.truth import _full_terms, _probabilities, _solve_outcome_constants
from features.synthetic.world import (
    GeneratorConfig,
    _cents,
    _code,
    _effects,
    _filing_days,
    _logistic,
    _logit,
    _negative_binomial,
    _pick,
    _World,
)

if TYPE_CHECKING:
    # Only for annotations: the calibration draws a pilot block with this module.
    from features.synthetic.calibration import _Calibration

# The 6-month time limit of a first-time enforcement case, in days.
_TIME_LIMIT_DAYS = 183


def _draw_block(
    rng: np.random.Generator,
    n: int,
    config: GeneratorConfig,
    cal: _Calibration,
    world: _World,
) -> dict[str, dict[str, np.ndarray]]:
    """Draw ``n`` cases: observed columns (internal codes), truth and latent events.

    Codes are int8 indices in the contract's order, missing numbers NaN.
    """
    resp_np, resp_ent, resp_ib, resp_gov = (
        _code("respondent_type", c)
        for c in ("natural_person", "enterprise", "individual_business", "government_organ")
    )
    c: dict[str, np.ndarray] = {}

    # --- filing date, province, cause ----------------------------------------
    days, day_cdf = _filing_days(config.start, config.end)
    c["filing_date"] = days[
        np.minimum(np.searchsorted(day_cdf, rng.random(n), "right"), len(days) - 1)
    ]
    province = np.minimum(
        np.searchsorted(world.province_cdf, rng.random(n), "right"), len(world.province_cdf) - 1
    ).astype(np.int8)
    cause = np.minimum(
        np.searchsorted(world.cause_cdf, rng.random(n), "right"), len(world.cause_cdf) - 1
    ).astype(np.int8)
    c["province"], c["cause"] = province, cause
    richness = world.richness[province]

    # --- claim: log-normal by cause --------------------------------------------
    log_claim = math.log(config.claim_median) + config.claim_sigma * (
        world.claim_offset[cause] + world.claim_scale[cause] * rng.standard_normal(n)
    )
    claim = np.clip(np.exp(log_claim), 50.0, 5e9)
    # Half the claims are whole yuan (principal only), the rest carry interest to the fen.
    claim = np.where(rng.random(n) < 0.5, np.rint(claim), _cents(claim))
    c["claim_amount"] = claim
    lc = np.log(claim / 50e3)

    # --- instrument, applicant, respondent -------------------------------------
    c["basis_type"] = basis = _pick(rng, world.basis_probs[cause])
    applicant = _pick(rng, world.applicant_probs[cause])
    # Administrative decisions are enforced on an agency's application.
    applicant[basis == _code("basis_type", "administrative")] = _code(
        "applicant_type", "government"
    )
    c["applicant_type"] = applicant

    base = world.respondent_probs[cause]
    base_np = base[:, resp_np]
    tilt = cal.solve(
        "natural_person_tilt",
        lambda a: float(np.mean(_logistic(a + _logit(base_np)))),
        config.natural_person_rate,
    )
    p_np = _logistic(tilt + _logit(base_np))
    others = np.divide(1 - p_np, 1 - base_np, out=np.zeros(n), where=base_np < 1)
    probs = base * others[:, None]
    probs[:, resp_np] = p_np
    c["respondent_type"] = respondent = _pick(rng, probs)
    is_np, is_ent = respondent == resp_np, respondent == resp_ent
    is_ib, is_gov = respondent == resp_ib, respondent == resp_gov

    # --- the latent solvency ---------------------------------------------------
    age = np.clip(np.rint(42 + 11 * rng.standard_normal(n)), 18, 85)
    age_known = is_np & (rng.random(n) >= 0.03)
    c["respondent_age"] = np.where(age_known, age, np.nan)
    solvency = (
        0.30 * richness
        + world.cause_solvency[cause]
        + np.select([is_gov, is_ent], [1.8, 0.1], 0.0)
        - np.where(is_np, 0.2 * ((age - 47) / 15) ** 2, 0.0)
        + 0.9 * rng.standard_normal(n)
    )

    # --- enterprise status and registered capital --------------------------------
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
    c["enterprise_status"] = status
    capital = np.exp(np.log(1e6) + 0.4 * solvency + 0.25 * lc + 1.5 * rng.standard_normal(n))
    capital = np.maximum(np.rint(capital / 1e4) * 1e4, 1e4)
    c["registered_capital"] = np.where(is_ent & (rng.random(n) >= 0.04), capital, np.nan)

    # --- parties ------------------------------------------------------------
    multi_base = _logit(world.multi_respondent[cause]) + 0.3 * is_ent
    multi_tilt = cal.solve(
        "multi_respondent_tilt",
        lambda a: float(np.mean(_logistic(a + multi_base))),
        config.multi_respondent_rate,
    )
    several = rng.random(n) < _logistic(multi_tilt + multi_base)
    c["n_respondents"] = np.where(several, 1 + np.minimum(rng.geometric(0.55, n), 29), 1).astype(
        float
    )
    several_app = rng.random(n) < world.multi_applicant[cause]
    c["n_applicants"] = np.where(several_app, 1 + np.minimum(rng.geometric(0.5, n), 49), 1).astype(
        float
    )

    # --- court: larger claims go up the hierarchy ---------------------------------
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
    c["court_level"] = level
    group = province.astype(np.int64) * 3 + level
    c["court"] = np.minimum(
        np.searchsorted(world.court_group_cum, group + rng.random(n), "right"), world.n_courts - 1
    )

    # --- time since judgment --------------------------------------------------
    gap = np.exp(math.log(70) + 0.85 * rng.standard_normal(n) - 0.15 * solvency)
    c["days_since_judgment"] = np.clip(np.rint(gap), 0, 5000)

    # --- history: prior cases, prior 终本, concurrent cases -------------------------
    prior_mean = np.exp(
        -1.0
        - 0.75 * solvency
        + 0.7 * is_ent
        + 0.35 * is_ib
        - 1.0 * is_gov
        + 0.4 * np.isin(cause, [_code("cause", "credit_card"), _code("cause", "financial_loan")])
    )
    prior = np.minimum(_negative_binomial(rng, prior_mean, 0.8), 200)
    prior_terminated = rng.binomial(
        prior.astype(np.int64), _logistic(-0.8 - 1.3 * solvency)
    ).astype(float)
    concurrent = np.minimum(
        _negative_binomial(
            rng, np.exp(-1.2 - 0.6 * solvency + 0.6 * is_ent + 0.35 * np.log1p(prior)), 1.0
        ),
        200,
    )
    c["respondent_prior_cases"], c["respondent_prior_terminated"] = prior, prior_terminated
    c["respondent_concurrent_cases"] = concurrent

    # --- dishonest list and consumption restriction ---------------------------------
    had_terminated = prior_terminated > 0
    dishonest_score = (
        world.dishonest_log_odds[province]
        + 1.3 * had_terminated
        - 0.9 * solvency
        + 0.25 * np.log1p(concurrent)
        - 2.5 * is_gov
    )
    dishonest_base = cal.solve(
        "dishonest_intercept",
        lambda a: float(np.mean(had_terminated + ~had_terminated * _logistic(a + dishonest_score))),
        config.dishonest_or_prior_terminated_rate,
    )
    dishonest = rng.random(n) < _logistic(dishonest_base + dishonest_score)
    # Listing brings the restriction with it; some debtors are only restricted.
    restricted = dishonest | (rng.random(n) < _logistic(-2.0 + 0.8 * (prior > 0) - 0.5 * solvency))
    c["dishonest_listed"], c["consumption_restricted"] = dishonest, restricted

    # --- whereabouts ------------------------------------------------------------
    unknown_score = (
        -0.9 * solvency
        + 0.7 * is_np
        + 1.0 * zombie
        + 0.3 * np.log1p(prior_terminated)
        - 3.0 * is_gov
    )
    unknown_base = cal.solve(
        "whereabouts_intercept",
        lambda a: float(np.mean(_logistic(a + unknown_score))),
        config.whereabouts_unknown_rate,
    )
    c["whereabouts_known"] = rng.random(n) >= _logistic(unknown_base + unknown_score)

    # --- preservation during the lawsuit ------------------------------------------
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
        0.4 * lc
        + 0.5 * solvency
        + basis_effect[basis]
        + applicant_effect[applicant]
        + cause_effect[cause]
    )
    preserve_base = cal.solve(
        "preservation_intercept",
        lambda a: float(np.mean(_logistic(a + preserve_score))),
        config.litigation_preserved_rate,
    )
    preserved = rng.random(n) < _logistic(preserve_base + preserve_score)
    ratio = np.minimum(np.exp(-0.35 + 0.25 * solvency + 0.6 * rng.standard_normal(n)), 1.3)
    c["litigation_preserved"] = preserved
    c["preserved_amount"] = np.where(preserved, np.maximum(_cents(claim * ratio), 0.01), np.nan)

    # --- what the first inquiry would find (latent until it answers) ------------------
    p_funds = _logistic(
        0.4 + 1.4 * solvency + 0.3 * richness + np.select([is_gov, is_ent], [3.0, -0.2], 0.0)
    )
    has_funds = rng.random(n) < p_funds
    # Deposits grow with the claim (bigger debts, bigger debtors), though less than it.
    bank_rest = 0.8 * np.log(claim) + 1.3 * solvency + 1.0 * rng.standard_normal(n)
    dust = np.where(rng.random(n) < 0.4, 0.0, _cents(200 * rng.random(n)))
    personal = is_np | is_ib
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

    # Property: one shift for all kinds, solved so that preservation or property found
    # reaches the configured share.
    def kind_score(np_, ent, ib, slope):
        return np.select([is_np, is_ent, is_ib], [np_, ent, ib], -8.0) + slope * solvency

    property_scores = (
        kind_score(-1.9, -2.1, -1.8, 1.25) + 0.1 * lc,  # real estate
        kind_score(-2.0, -1.8, -1.5, 1.0),  # vehicles
        kind_score(-3.2, -1.6, -3.5, 0.9),  # equity stakes
        kind_score(-3.3, -3.8, -4.0, 1.0) + 0.3 * richness,  # securities
    )
    answered_share = 1.0 - config.inquiry_pending_rate

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
    p_salary = np.select(
        [is_np, is_ib],
        [
            _logistic(0.2 + 0.8 * solvency - 1.8 * (age > 60) + 0.3 * richness),
            _logistic(-1.2 + 0.5 * solvency),
        ],
        0.0,
    )
    salary = rng.random(n) < p_salary
    latent = {
        "bank_balance": bank,
        "online_payment_balance": online,
        "real_estate_count": real_estate.astype(float),
        "vehicle_count": vehicles.astype(float),
        "equity_stakes": equity.astype(float),
        "securities_value": securities,
        "has_salary_income": salary.astype(float),
    }
    inquiry_done = rng.random(n) >= config.inquiry_pending_rate
    c["inquiry_done"] = inquiry_done
    for name, values in latent.items():
        c[name] = np.where(inquiry_done, values, np.nan)

    # --- outcomes ----------------------------------------------------------------
    if cal.solving:
        _solve_outcome_constants(c | latent, config, cal)
    prob = _probabilities(c, cal)
    u = rng.random((6, n))
    assets = u[0] < prob["assets"]
    auction = u[1] < prob["auction"]
    objection = u[2] < prob["objection"]
    bankruptcy = u[3] < prob["bankruptcy"]
    overdue = u[4] < prob["overdue"]
    complex_ = auction | objection | bankruptcy | overdue

    # Fully performed: an internal event of the recovered cases (it may read the holdings
    # even when the inquiry had not answered at scoring time: the court learns them later).
    full_terms = _full_terms(c | latent)
    perform_score = (
        2.2 * full_terms["cover"]
        - 0.15 * lc
        + 0.6 * full_terms["preserved"]
        + 0.3 * salary
        + 0.3 * (real_estate > 0)
        - 0.3 * dishonest
        - 0.3 * ~c["whereabouts_known"]
        + 0.2 * richness
    )
    perform_base = cal.solve(
        "fully_performed_intercept",
        lambda a: float(np.mean(prob["assets"] * _logistic(a + perform_score))),
        config.fully_performed_rate,
    )
    fully = assets & (u[5] < _logistic(perform_base + perform_score))

    # Recovered: the claim (plus delay interest now and then) when fully performed; a
    # share that grows with funds and property otherwise; nothing when 终本.
    interest = np.where(rng.random(n) < 0.3, 0.04 * rng.random(n), 0.0)
    full_amount = np.where(interest > 0, np.ceil(claim * (1 + interest) * 100) / 100, claim)
    share = _logistic(
        -0.6
        + 0.8 * np.clip(full_terms["funds_to_claim"], -5, 1)
        + 0.8 * (real_estate > 0)
        + 0.3 * (vehicles > 0)
        + 0.6 * full_terms["preserved"]
        + 2.0 * auction  # the proceeds of a sale
        + 1.0 * rng.standard_normal(n)
    )
    partial = np.clip(_cents(claim * np.minimum(share, 0.97)), 0.01, np.maximum(claim - 0.01, 0.01))
    recovered = np.where(fully, full_amount, np.where(assets, partial, 0.0))

    # Duration: simple cases close within the limit (paid ~3 weeks, 终本 ~6 weeks);
    # complex ones take months, those past the limit run on with a long tail.
    simple_median = np.where(fully, 20.0, np.where(assets, 55.0, 40.0))
    simple_days = simple_median * np.exp(0.65 * rng.standard_normal(n))
    simple_days = np.where(
        simple_days > _TIME_LIMIT_DAYS, _TIME_LIMIT_DAYS - 90 * rng.random(n), simple_days
    )
    # Time spent on appraisal, auction or objection does not count against the limit.
    within_limit = 55.0 * np.exp(0.4 * rng.standard_normal(n) + 0.2 * auction)
    past_limit = _TIME_LIMIT_DAYS + 1 + 75.0 * np.exp(0.9 * rng.standard_normal(n))
    duration = np.where(overdue, past_limit, np.where(complex_, within_limit, simple_days))
    duration = np.maximum(np.rint(duration), 1)

    outcomes = {
        "is_complex": complex_.astype(float),
        "has_recoverable_assets": assets.astype(float),
        "recovered_amount": recovered,
        "duration_days": duration,
    }
    truth = {"p_complex_true": prob["complex"], "p_assets_true": prob["assets"]}
    events = {
        "solvency": solvency,
        "funds_cover_claim": (bank + online >= claim),
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
