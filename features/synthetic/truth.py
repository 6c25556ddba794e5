"""The true label probabilities: exact functions of the observed fields.

``has_recoverable_assets`` has one logit; ``is_complex`` is the union of four
independent events (appraisal or auction, objection, transfer to bankruptcy,
running past the 6-month limit), each with its own logit.  Cases whose inquiry
has not answered get logits over the filing fields only, fitted once on the
pilot sample to the full model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from features.synthetic.world import GeneratorConfig, _code, _codes_of, _logistic, _world

if TYPE_CHECKING:
    # Only for annotations: the calibration draws a pilot block, which needs this module.
    from features.synthetic.calibration import _Calibration


def _full_terms(c: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Domain quantities of a case whose first inquiry answered (NaN where it did not)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        claim = c["claim_amount"]
        funds = c["bank_balance"] + c["online_payment_balance"]
        funds_to_claim = np.log(funds / claim + 0.002)
        preserved_amount = np.where(c["litigation_preserved"], c["preserved_amount"], 0.0)
        preserved_to_claim = np.clip(np.log(preserved_amount / claim + 1e-3), -4.0, 1.0)
        return {
            "funds_to_claim": funds_to_claim,
            # A smooth "funds found cover the claim" (half-way at ~80 % of the claim).
            "cover": _logistic(2.0 * (funds_to_claim + 0.2)),
            "funds": np.log1p(funds / 1000.0),
            "real_estate": np.log1p(c["real_estate_count"]),
            "vehicles": np.log1p(c["vehicle_count"]),
            "equity": np.log1p(c["equity_stakes"]),
            "securities": np.log1p(c["securities_value"] / 10_000.0),
            "salary": c["has_salary_income"],
            # Preservation helps more the larger its share of the claim.
            "preserved": c["litigation_preserved"]
            * (0.6 + 0.8 * _logistic(2.0 * (preserved_to_claim + 0.7))),
        }


def _filing_terms(c: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Domain quantities known at filing."""
    world = _world()
    respondent, status = c["respondent_type"], c["enterprise_status"]
    cause, basis = c["cause"], c["basis_type"]
    is_np = respondent == _code("respondent_type", "natural_person")
    is_ent = respondent == _code("respondent_type", "enterprise")
    prior = c["respondent_prior_cases"]
    age = np.where(is_np & ~np.isnan(c["respondent_age"]), c["respondent_age"], 45.0)
    capital = np.where(is_ent & ~np.isnan(c["registered_capital"]), c["registered_capital"], 1e6)
    return {
        "log_claim": np.log(c["claim_amount"] / 50e3),
        "revoked": (status == _code("enterprise_status", "revoked")).astype(float),
        "deregistered": (status == _code("enterprise_status", "deregistered")).astype(float),
        "in_liquidation": (status == _code("enterprise_status", "in_liquidation")).astype(float),
        "enterprise": is_ent.astype(float),
        "individual_business": (
            respondent == _code("respondent_type", "individual_business")
        ).astype(float),
        "government": (respondent == _code("respondent_type", "government_organ")).astype(float),
        "capital": is_ent * np.log(np.maximum(capital, 1e4) / 1e6),
        "age": is_np * ((age - 45.0) / 15.0) ** 2,
        "prior_share": np.divide(c["respondent_prior_terminated"], np.maximum(prior, 1.0)),
        "prior": np.log1p(prior),
        "concurrent": np.log1p(c["respondent_concurrent_cases"]),
        "dishonest": c["dishonest_listed"].astype(float),
        "restricted": c["consumption_restricted"].astype(float),
        "whereabouts_unknown": 1.0 - c["whereabouts_known"],
        # Individual debtors of traffic or crime-linked cases: quick 终本, little recovered.
        "quick_end": (
            is_np & (cause == _code("cause", "traffic_accident"))
            | (basis == _code("basis_type", "criminal_property"))
        ).astype(float),
        "respondents": np.log(c["n_respondents"]),
        "applicants": np.log(c["n_applicants"]),
        "gap": np.log1p(c["days_since_judgment"] / 180.0),
        "richness": world.richness[c["province"]],
        "financial_loan": (cause == _code("cause", "financial_loan")).astype(float),
        "guarantee": (cause == _code("cause", "guarantee")).astype(float),
        "bank_applicant": (
            c["applicant_type"] == _code("applicant_type", "financial_institution")
        ).astype(float),
        "higher_court": (c["court_level"] != _code("court_level", "basic")).astype(float),
    }


def _full_logits(c: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Logits (without intercepts) of the events, for cases whose inquiry answered.

    Mostly additive on the logit scale, with a few moderate interactions; the
    directions follow "what predicts the outcome" in the domain notes.  Each event's
    logit reads the filing terms ``f`` and the inquiry's terms ``q``.
    """
    f = _filing_terms(c)
    q = _full_terms(c)
    has_real_estate = (c["real_estate_count"] > 0).astype(float)
    return {
        "assets": _assets_logit(f, q, has_real_estate),
        "auction": _auction_logit(f, q),
        "objection": _objection_logit(f, q),
        "bankruptcy": _bankruptcy_logit(f, q),
        "overdue": _overdue_logit(f, q),
    }


def _zombie(f: Mapping[str, np.ndarray]) -> np.ndarray:
    """Enterprises whose licence is revoked or that are deregistered."""
    zombie: np.ndarray = f["revoked"] + f["deregistered"]
    return zombie


def _assets_logit(
    f: Mapping[str, np.ndarray], q: Mapping[str, np.ndarray], has_real_estate: np.ndarray
) -> np.ndarray:
    """Money or property recovered."""
    zombie = _zombie(f)
    logit: np.ndarray = (
        1.5 * q["cover"]
        + 0.25 * q["funds"]
        + 0.6 * q["real_estate"]
        + 0.35 * q["vehicles"]
        + 0.3 * q["equity"]
        + 0.35 * q["securities"]
        + 0.55 * q["salary"]
        + q["preserved"]
        - 1.3 * f["revoked"]
        - 1.7 * f["deregistered"]
        - 0.9 * f["in_liquidation"]
        - 0.9 * f["prior_share"]
        - 0.4 * f["dishonest"]
        - 0.2 * f["restricted"]
        - 0.8 * f["whereabouts_unknown"]
        - 0.6 * f["quick_end"]
        + 0.3 * f["respondents"]
        - 0.1 * f["log_claim"]
        - 0.25 * f["gap"]
        + 0.2 * f["richness"]
        + 0.3 * f["financial_loan"]
        + 0.2 * f["government"]
        + 0.1 * f["capital"]
        - 0.15 * f["age"]
        + 0.15 * f["bank_applicant"]
        # A zombie with a house still pays; funds found make whereabouts matter less;
        # a salary can be garnished, which settles a small claim more often than a big one.
        + 0.6 * zombie * has_real_estate
        + 0.4 * f["whereabouts_unknown"] * q["cover"]
        - 0.2 * q["salary"] * f["log_claim"]
    )
    return logit


def _auction_logit(f: Mapping[str, np.ndarray], q: Mapping[str, np.ndarray]) -> np.ndarray:
    """Needs appraisal or auction."""
    zombie = _zombie(f)
    logit: np.ndarray = (
        3.1 * q["real_estate"]
        + 1.25 * q["vehicles"]
        + 1.25 * q["equity"]
        - 2.75 * q["cover"]
        # A house behind a big claim is sold more surely than one behind a small claim.
        + 0.25 * q["real_estate"] * f["log_claim"]
        + 0.3 * f["log_claim"]
        + 0.9 * f["financial_loan"]  # secured loans: the collateral is auctioned
        + 0.4 * f["guarantee"]
        - 1.25 * f["quick_end"]
        - 0.4 * zombie
        + 0.25 * f["respondents"]
        - 0.1 * q["preserved"]
    )
    return logit


def _objection_logit(f: Mapping[str, np.ndarray], q: Mapping[str, np.ndarray]) -> np.ndarray:
    """Meets an objection or a third party's claim."""
    logit: np.ndarray = (
        0.75 * q["real_estate"]
        + 0.5 * q["equity"]
        + 0.45 * f["respondents"]
        + 0.2 * f["log_claim"]
        + 0.45 * f["enterprise"]
        + 0.25 * q["preserved"]
        + 0.3 * f["guarantee"]
        - 0.6 * q["cover"]
        + 0.25 * f["concurrent"]
    )
    return logit


def _bankruptcy_logit(f: Mapping[str, np.ndarray], q: Mapping[str, np.ndarray]) -> np.ndarray:
    """Transferred to bankruptcy (read for enterprises only)."""
    logit: np.ndarray = (
        2.0 * f["in_liquidation"]
        + 0.8 * f["revoked"]
        - 0.8 * f["deregistered"]
        + 0.3 * f["prior"]
        + 0.35 * f["concurrent"]
        + 0.3 * f["log_claim"]
        + 0.2 * f["capital"]
        - 1.0 * q["cover"]
        + 0.3 * f["prior_share"]
    )
    return logit


def _overdue_logit(f: Mapping[str, np.ndarray], q: Mapping[str, np.ndarray]) -> np.ndarray:
    """Runs past the 6-month limit."""
    # Past the limit: hard debtors (unknown whereabouts, a 终本 history, many parties,
    # public bodies).  Property cases run on the auction clock instead: time spent on
    # appraisal and auction does not count against the limit.
    zombie = _zombie(f)
    logit: np.ndarray = (
        -1.5 * q["cover"]
        - 1.5 * q["real_estate"]
        - 0.6 * q["vehicles"]
        - 0.75 * q["preserved"]
        + 2.25 * f["whereabouts_unknown"]
        + 1.0 * f["dishonest"]
        + 1.5 * f["prior_share"]
        + 0.9 * f["respondents"]
        + 0.4 * f["log_claim"]
        + 0.6 * f["gap"]
        + 2.0 * f["government"]
        + 0.4 * f["concurrent"]
        - 1.25 * f["quick_end"]
        - 0.5 * q["salary"]
        + 0.4 * zombie
        + 0.2 * f["higher_court"]
        + 0.1 * f["capital"]
    )
    return logit


_EVENTS = ("assets", "auction", "objection", "bankruptcy", "overdue")


def _filing_design(c: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Columns of the filing-only logits (cases scored before the inquiry answered)."""
    f = _filing_terms(c)
    columns = [f[name] for name in sorted(f)]
    preserved = c["litigation_preserved"].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(
            preserved > 0, np.log(c["preserved_amount"] / c["claim_amount"] + 1e-3), 0.0
        )
    columns += [preserved, np.clip(ratio, -4.0, 1.0), f["log_claim"] ** 2]
    for name in ("cause", "basis_type", "applicant_type"):
        codes = _codes_of(name)
        columns += [(c[name] == k).astype(float) for k in range(1, len(codes))]
    return columns


def _solve_outcome_constants(
    c: Mapping[str, np.ndarray], config: GeneratorConfig, cal: _Calibration
) -> None:
    """On the pilot: intercepts of the full logits, then the filing-only fits.

    ``c`` holds the latent holdings for every case, as if every inquiry had answered.
    """
    logits = _full_logits(c)
    enterprise = c["respondent_type"] == _code("respondent_type", "enterprise")

    def rate(name: str, mask: np.ndarray | float = 1.0) -> Callable[[float], float]:
        return lambda a: float(np.mean(mask * _logistic(a + logits[name])))

    cal.solve("assets_intercept", rate("assets"), config.recoverable_assets_rate)
    cal.solve("auction_intercept", rate("auction"), config.appraisal_auction_rate)
    cal.solve("objection_intercept", rate("objection"), config.objection_rate)
    cal.solve(
        "bankruptcy_intercept", rate("bankruptcy", enterprise), config.bankruptcy_transfer_rate
    )
    others = (
        (1 - _logistic(cal.constants["auction_intercept"] + logits["auction"]))
        * (1 - _logistic(cal.constants["objection_intercept"] + logits["objection"]))
        * (1 - enterprise * _logistic(cal.constants["bankruptcy_intercept"] + logits["bankruptcy"]))
    )
    cal.solve(
        "overdue_intercept",
        lambda a: float(np.mean(1 - others * (1 - _logistic(a + logits["overdue"])))),
        config.complex_rate,
    )
    design = np.column_stack([np.ones(len(enterprise))] + _filing_design(c))
    everyone = np.ones(len(enterprise))
    for name in _EVENTS:
        p_full = _logistic(cal.constants[f"{name}_intercept"] + logits[name])
        weight = enterprise.astype(float) if name == "bankruptcy" else everyone
        cal.fit(f"{name}_filing", design, p_full, weight)


def _probabilities(c: Mapping[str, np.ndarray], cal: _Calibration) -> dict[str, np.ndarray]:
    """True probabilities of every event, from the observed fields only."""
    answered = c["inquiry_done"].astype(bool)
    logits = _full_logits(c)
    design = _filing_design(c)
    enterprise = c["respondent_type"] == _code("respondent_type", "enterprise")
    out: dict[str, np.ndarray] = {}
    for name in _EVENTS:
        beta = cal.coefficients[f"{name}_filing"]
        # Summed column by column (not a matrix product) so that the result does not
        # depend on how many rows are scored at once.
        filing = np.full(len(answered), beta[0])
        for coefficient, column in zip(beta[1:], design, strict=True):
            filing = filing + coefficient * column
        full = cal.constants[f"{name}_intercept"] + logits[name]
        out[name] = _logistic(np.where(answered, full, filing))
    out["bankruptcy"] = np.where(enterprise, out["bankruptcy"], 0.0)
    out["complex"] = 1 - (
        (1 - out["auction"])
        * (1 - out["objection"])
        * (1 - out["bankruptcy"])
        * (1 - out["overdue"])
    )
    return out
