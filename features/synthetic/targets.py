"""Calibration targets: the figures generated data must reproduce, and how they are measured."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.synthetic.sample import SyntheticSample


@dataclass(frozen=True)
class CalibrationTarget:
    """A figure the generated data must reproduce: target value, accepted range, definition."""

    name: str
    target: float
    low: float
    high: float
    definition: str


#: What a large sample (200k cases, default config) must show.  The first block comes
#: from the calibration table of the domain notes; the rest from its other figures.
CALIBRATION_TARGETS: tuple[CalibrationTarget, ...] = (
    CalibrationTarget(
        "recoverable_assets", 0.57, 0.50, 0.70, "share of cases with has_recoverable_assets = 1"
    ),
    CalibrationTarget(
        "fully_performed",
        0.42,
        0.35,
        0.50,
        "share of cases fully performed (latent event: recovered >= claim)",
    ),
    CalibrationTarget(
        "preservation_or_clue",
        0.35,
        0.30,
        0.40,
        "litigation_preserved, or the first inquiry answered and found real "
        "estate, vehicles, equity or securities (cash found is the inquiry's own "
        "answer, not a clue to pursue); over all cases",
    ),
    CalibrationTarget(
        "natural_person_debtor", 0.65, 0.50, 0.80, "share with respondent_type = natural_person"
    ),
    CalibrationTarget(
        "zombie_given_enterprise",
        0.20,
        0.10,
        0.35,
        "of respondent_type = enterprise: enterprise_status revoked or deregistered",
    ),
    CalibrationTarget(
        "whereabouts_unknown", 0.15, 0.05, 0.25, "share with whereabouts_known = false"
    ),
    CalibrationTarget("multi_respondent", 0.30, 0.20, 0.40, "share with n_respondents > 1"),
    CalibrationTarget(
        "funds_cover_claim",
        0.25,
        0.15,
        0.35,
        "inquiry_done and bank_balance + online_payment_balance >= claim_amount; over all cases",
    ),
    CalibrationTarget(
        "appraisal_or_auction",
        0.15,
        0.10,
        0.25,
        "share needing appraisal or auction (latent event)",
    ),
    CalibrationTarget(
        "objection",
        0.05,
        0.02,
        0.10,
        "share meeting an objection or third-party claim (latent event)",
    ),
    CalibrationTarget(
        "dishonest_or_prior_terminated",
        0.25,
        0.15,
        0.40,
        "dishonest_listed or respondent_prior_terminated > 0",
    ),
    CalibrationTarget("complex", 0.50, 0.30, 0.65, "share with is_complex = 1 (target 0.40-0.60)"),
    CalibrationTarget("claim_median", 50_000.0, 20_000.0, 80_000.0, "median claim_amount, CNY"),
    CalibrationTarget("claim_log_sd", 2.0, 1.7, 2.3, "standard deviation of log(claim_amount)"),
    CalibrationTarget(
        "simple_duration_median",
        30.0,
        20.0,
        45.0,
        "median duration_days of cases with is_complex = 0",
    ),
    CalibrationTarget(
        "complex_duration_median",
        120.0,
        90.0,
        170.0,
        "median duration_days of cases with is_complex = 1",
    ),
    CalibrationTarget(
        "complex_past_365",
        0.08,
        0.03,
        0.20,
        "of cases with is_complex = 1: share with duration_days > 365 (the tail)",
    ),
    # Other figures of the domain notes.
    CalibrationTarget(
        "mean_duration", 108.0, 85.0, 130.0, "mean duration_days (first-time cases: 95-122 days)"
    ),
    CalibrationTarget(
        "inquiry_pending", 0.25, 0.20, 0.30, "share with inquiry_done = false (scored at filing)"
    ),
    CalibrationTarget(
        "recovery_ratio",
        0.54,
        0.35,
        0.70,
        "sum of recovered_amount / sum of claim_amount (执行到位率 49-54 %)",
    ),
    CalibrationTarget(
        "dishonest_province_spread",
        10.0,
        5.0,
        20.0,
        "highest / lowest share of dishonest_listed among provinces with at "
        "least 1,000 cases in the sample",
    ),
)


def measure_calibration(sample: SyntheticSample) -> dict[str, float]:
    """Measure every :data:`CALIBRATION_TARGETS` quantity on a sample (pure function)."""
    cases, events = sample.cases, sample.events

    def number(name: str) -> np.ndarray:
        values: np.ndarray = cases[name].to_numpy(dtype=np.float64, na_value=np.nan)
        return values

    def flag(name: str) -> np.ndarray:
        is_set: np.ndarray = number(name) == 1.0  # missing counts as false
        return is_set

    claim = number("claim_amount")
    answered = flag("inquiry_done")
    found_property = answered & (
        (number("real_estate_count") > 0)
        | (number("vehicle_count") > 0)
        | (number("equity_stakes") > 0)
        | (number("securities_value") > 0)
    )
    funds = number("bank_balance") + number("online_payment_balance")
    enterprise = (cases["respondent_type"] == "enterprise").to_numpy()
    zombie = cases["enterprise_status"].isin(["revoked", "deregistered"]).to_numpy()
    complex_ = flag("is_complex")
    duration = number("duration_days")
    by_province = pd.DataFrame(
        {"province": cases["province"], "dishonest": flag("dishonest_listed")}
    )
    listing = by_province.groupby("province")["dishonest"].agg(["mean", "size"])
    listing = listing[listing["size"] >= 1000]["mean"]
    return {
        "recoverable_assets": float(np.mean(flag("has_recoverable_assets"))),
        "fully_performed": float(np.mean(events["fully_performed"])),
        "preservation_or_clue": float(np.mean(flag("litigation_preserved") | found_property)),
        "natural_person_debtor": float(np.mean(cases["respondent_type"] == "natural_person")),
        "zombie_given_enterprise": float(zombie[enterprise].mean())
        if enterprise.any()
        else math.nan,
        "whereabouts_unknown": float(np.mean(~flag("whereabouts_known"))),
        "multi_respondent": float(np.mean(number("n_respondents") > 1)),
        "funds_cover_claim": float(np.mean(answered & (funds >= claim))),
        "appraisal_or_auction": float(np.mean(events["needs_appraisal_or_auction"])),
        "objection": float(np.mean(events["objection"])),
        "dishonest_or_prior_terminated": float(
            np.mean(flag("dishonest_listed") | (number("respondent_prior_terminated") > 0))
        ),
        "complex": float(np.mean(complex_)),
        "claim_median": float(np.median(claim)),
        "claim_log_sd": float(np.std(np.log(claim))),
        "simple_duration_median": float(np.median(duration[~complex_])),
        "complex_duration_median": float(np.median(duration[complex_])),
        "complex_past_365": float(np.mean(duration[complex_] > 365)),
        "mean_duration": float(np.mean(duration)),
        "inquiry_pending": float(np.mean(~answered)),
        "recovery_ratio": float(np.sum(number("recovered_amount")) / np.sum(claim)),
        "dishonest_province_spread": float(listing.max() / listing.min())
        if len(listing) > 1
        else math.nan,
    }
