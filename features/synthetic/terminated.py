"""Synthetic terminated cases (终本案件) with known truth.

How a terminated case is made
-----------------------------
1. *The case.*  A new case is drawn by the new-case generator (case mix,
   debtor, latent solvency, holdings at filing) and kept when it was not
   fully performed: 终本 cases are the debtors who could not pay, so the mix
   is poorer than at filing.  Its filing fields carry over unchanged.
2. *Dates.*  The export day (``as_of_date``) falls on a working day of the
   configured window; termination came 1-60 months before it (the five years
   of the SPC's follow-up duty), filing 3 months to 2 years before that.
   Later windows hold newer cases.
3. *Termination.*  The ground (property found but not disposable, or an auction
   that failed, mostly where property was found at filing), and what was paid
   before: mostly nothing, now and then part of a small claim.
4. *The debtor since.*  Over the months since termination the debtor may
   acquire assets — a firm that recovers, a new salary, an inheritance, a
   hidden transfer that comes to light — at rates set by the latent solvency,
   the debtor's type, age and the enterprise's status.  What a court sees of
   them is noisy: new registrations, cases the debtor brings as plaintiff, the
   applicant's leads (banks file them whatever happened), a property report,
   what the six-monthly inquiries found.
5. *Truth and labels.*  As in the new-case generator, the labels are drawn from
   probabilities that are exact functions of the observed record — never of
   the latent events — so the Bayes-optimal ranking is known:
   ``p_recover_true`` (a follow-up in the next six months recovers something),
   ``expected_amount_true`` (how much, given it does: full payment with a
   probability that falls with the debt, else a Beta share of the unpaid
   amount) and their product ``expected_yuan_true``.  Follow-ups are drawn at
   random (a pilot); a case not followed up recovers only through the routine
   inquiry, with ``routine_share`` × ``p_recover_true``.  The intercept of the
   recovery logit is solved once per configuration on a fixed pilot sample.

Deterministic for a seed, block by block as the new-case generator.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.files import file_format
from features.record import PII_FIELDS
from features.synthetic.blocks import CHUNK_SIZE, _arrow_column, _arrow_type, _CaseNumbers
from features.synthetic.calibration import _bisect, _calibration
from features.synthetic.draw import _draw_block
from features.synthetic.personal_data import _pii_columns
from features.synthetic.sample import _canonical
from features.synthetic.text import _text
from features.synthetic.world import (
    GeneratorConfig,
    _cents,
    _code,
    _filing_days,
    _logistic,
    _world,
)
from features.synthetic.write import _Sink
from features.terminated import TERMINATED_FIELD_BY_NAME, TERMINATED_FIELDS

#: Columns of the truth file, beside ``case_id``.
TRUTH_COLUMNS: tuple[str, ...] = (
    "p_recover_true",
    "expected_amount_true",
    "expected_yuan_true",
    "p_recover_unfollowed_true",
)

#: Mean share of the unpaid amount recovered when a recovery is partial: Beta(2, 4.5).
_PARTIAL_A, _PARTIAL_B = 2.0, 4.5
_PARTIAL_MEAN = _PARTIAL_A / (_PARTIAL_A + _PARTIAL_B)
_DAYS_PER_MONTH = 30.44
_PILOT_SEED, _PILOT_SIZE = 20_260_14, 20_000


def _rate(default: float, description: str) -> Any:
    return Field(default=default, gt=0.0, lt=1.0, description=description)


class TerminatedConfig(BaseModel):
    """What the synthetic 终本 inventory looks like; the rates without a source are estimates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: date = Field(default=date(2023, 1, 1), description="First as_of_date (export day).")
    end: date = Field(default=date(2024, 12, 31), description="Last as_of_date.")
    recover_rate: float = _rate(
        0.06,
        "Of cases followed up, share recovering something within six months (estimate: "
        "古田 resumed ~48 % of its 终本 cases over several years).",
    )
    follow_up_rate: float = _rate(0.5, "Share of cases followed up, at random (a pilot).")
    routine_share: float = _rate(
        0.25, "Recovery without follow-up (routine inquiry only), as a share of with."
    )
    cases: GeneratorConfig = Field(
        default_factory=GeneratorConfig, description="The new-case world the cases come from."
    )

    @model_validator(mode="after")
    def _consistent(self) -> TerminatedConfig:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self


# ==========================================================================
# Drawing
# ==========================================================================


def _nan0(x: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x), 0.0, x)


def _draw_terminated(
    rng: np.random.Generator, n: int, config: TerminatedConfig
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``n`` terminated cases (internal codes, NaN missing) and their latent debtor state."""
    cal = _calibration(config.cases)
    world = _world()
    kept: list[dict[str, np.ndarray]] = []
    have = 0
    while have < n:  # about 58 % of new cases are not fully performed
        drawn = _draw_block(rng, 2 * (n - have) + 64, config.cases, cal, world)
        keep = ~drawn["events"]["fully_performed"]
        block = {k: v[keep] for k, v in drawn["cases"].items()}
        block["solvency"] = drawn["events"]["solvency"][keep]
        kept.append(block)
        have += int(keep.sum())
    c = {k: np.concatenate([b[k] for b in kept])[:n] for k in kept[0]}
    latent = {"solvency": c.pop("solvency")}
    for name in ("is_complex", "has_recoverable_assets", "recovered_amount", "duration_days"):
        c.pop(name)
    u = rng.random((12, n))
    z = rng.standard_normal((4, n))

    # --- dates ---------------------------------------------------------------
    days, cdf = _filing_days(config.start, config.end)
    as_of = days[np.minimum(np.searchsorted(cdf, u[0]), len(days) - 1)]
    months = 1.0 + 59.0 * rng.beta(1.0, 1.4, n)
    terminated = as_of - np.rint(months * _DAYS_PER_MONTH).astype("timedelta64[D]")
    to_termination = np.rint(92 + 600 * rng.beta(1.2, 3.0, n)).astype("timedelta64[D]")
    c["filing_date"] = terminated - to_termination
    c["terminated_date"] = terminated
    c["as_of_date"] = as_of
    months = (as_of - terminated).astype(np.int64) / _DAYS_PER_MONTH

    # --- termination ---------------------------------------------------------
    property_found = (_nan0(c["real_estate_count"]) + _nan0(c["vehicle_count"])) > 0
    reason_probs = np.where(property_found[:, None], [0.45, 0.35, 0.20], [0.93, 0.04, 0.03])
    cum = np.cumsum(reason_probs, axis=1)
    c["termination_reason"] = np.minimum((u[1][:, None] >= cum).sum(axis=1), 2).astype(np.int8)
    claim = c["claim_amount"]
    solvency = latent["solvency"]
    # Part payments are of small claims: the amount-weighted share paid stays tiny.
    p_part = _logistic(-1.8 - 0.9 * np.log(claim / 20e3) + 0.3 * solvency)
    ratio = np.where(
        u[2] < p_part,
        0.97 * rng.beta(1.3, 1.2, n),
        np.where(u[3] < 0.2, rng.beta(0.7, 22.0, n), 0.0),
    )
    paid = np.minimum(_cents(claim * ratio), np.maximum(claim - 0.01, 0.0))
    c["paid_before_termination"] = np.maximum(paid, 0.0)
    c["unpaid_amount"] = _cents(claim - c["paid_before_termination"])
    c["unpaid_amount"] = np.where(c["unpaid_amount"] <= 0, claim, c["unpaid_amount"])

    # --- the debtor since termination: latent acquisitions -------------------
    person = c["respondent_type"] == _code("respondent_type", "natural_person")
    firm = np.isin(
        c["respondent_type"],
        [_code("respondent_type", "enterprise"), _code("respondent_type", "individual_business")],
    )
    status = c["enterprise_status"]
    zombie = np.isin(
        status, [_code("enterprise_status", "revoked"), _code("enterprise_status", "deregistered")]
    )
    age = _nan0(c["respondent_age"]) + months / 12
    base = np.exp(0.55 * solvency - 0.3 * (c["whereabouts_known"] == 0))
    rate = {  # events per year
        "firm_recovery": 0.10 * base * (firm & ~zombie),
        "salary": 0.12 * base * (person & (age < 60)),
        "inheritance": 0.02 * person * (age > 40),
        "hidden_transfer": 0.03 * np.exp(0.3 * solvency) * (1 + 0.3 * c["dishonest_listed"]),
    }
    years = months / 12
    event = {k: rng.random(n) < 1 - np.exp(-r * years) for k, r in rate.items()}
    latent |= {k: v.astype(float) for k, v in event.items()}
    acquired = event["firm_recovery"] | event["salary"] | event["inheritance"]

    # --- what a court sees of them -------------------------------------------
    fr, sal, inh, hid = (event[k].astype(float) for k in rate)
    bank_applicant = c["applicant_type"] == _code("applicant_type", "financial_institution")
    c["new_registrations"] = rng.poisson(0.06 + 0.9 * fr + 0.7 * inh + 0.15 * sal).astype(float)
    c["new_cases_as_applicant"] = rng.poisson(0.05 + 0.8 * fr + 0.15 * sal + 0.1 * firm).astype(
        float
    )
    c["applicant_leads"] = rng.poisson(
        0.10 + 0.45 * bank_applicant + 0.8 * hid + 0.25 * acquired
    ).astype(float)
    c["debtor_reported_property"] = (u[4] < 0.05 + 0.25 * sal + 0.15 * inh + 0.1 * fr).astype(float)
    inquiries = np.floor(months / 6) - (u[5] < 0.1)
    inquiries = np.maximum(inquiries, 0) + ((inquiries <= 0) & (months > 2) & (u[6] < 0.3))
    c["inquiries_since"] = inquiries.astype(float)
    ran = inquiries > 0
    span = (as_of - terminated).astype(np.int64)
    since_last = np.minimum(np.rint(u[7] * np.minimum(182, span - 1)), span - 1)
    last = as_of - since_last.astype("timedelta64[D]")
    c["last_inquiry_date"] = np.where(ran, last, np.datetime64("NaT")).astype("datetime64[D]")
    funds = np.exp(4.5 + 1.6 * z[0] + 2.0 * sal + 1.5 * fr + 0.3 * solvency)
    funds = np.where(u[8] < 0.35 + 0.4 * (sal + fr > 0), _cents(funds), 0.0)
    c["last_bank_balance"] = np.where(ran, funds, np.nan)
    c["last_real_estate_count"] = np.where(ran, rng.poisson(0.03 + 0.5 * inh), np.nan)
    c["last_vehicle_count"] = np.where(ran, rng.poisson(0.04 + 0.4 * fr + 0.2 * sal), np.nan)
    c["last_equity_stakes"] = np.where(
        ran, rng.poisson(0.02 + 0.05 * firm + 0.4 * fr + 0.3 * hid), np.nan
    )
    # The 2016 rules list and restrict at termination where due; a payer is removed.
    c["dishonest_listed"] = (u[9] < np.where(acquired, 0.6, 0.85)).astype(float)
    c["consumption_restricted"] = (u[10] < 0.95).astype(float)
    return c, latent


# ==========================================================================
# Truth: exact functions of the observed record
# ==========================================================================


def _recovery_score(c: Mapping[str, np.ndarray]) -> np.ndarray:
    """The recovery logit without its intercept, over the observed fields only."""
    months = (c["as_of_date"] - c["terminated_date"]).astype("timedelta64[D]").astype(
        np.int64
    ) / _DAYS_PER_MONTH
    reason = c["termination_reason"].astype(np.int64)
    status = c["enterprise_status"]
    zombie = np.isin(
        status, [_code("enterprise_status", "revoked"), _code("enterprise_status", "deregistered")]
    )
    active_firm = status == _code("enterprise_status", "active")
    registrations = c["new_registrations"]
    score = (
        1.4 * np.log1p(registrations)
        + 0.7 * (registrations > 0) * active_firm
        + 1.1 * np.log1p(c["new_cases_as_applicant"])
        + 0.5 * np.log1p(c["applicant_leads"])
        + 1.1 * c["debtor_reported_property"]
        + 0.35 * np.log1p(_nan0(c["last_bank_balance"]) / 1000)
        + 1.0 * (_nan0(c["last_real_estate_count"]) > 0)
        + 0.6 * (_nan0(c["last_vehicle_count"]) > 0)
        + 0.5 * (_nan0(c["last_equity_stakes"]) > 0)
        + np.array([0.0, 0.8, 0.5])[reason]
        - 0.65 * np.log(c["unpaid_amount"] / 50e3)
        + 0.5 * (c["paid_before_termination"] > 0)
        - 2.0 * zombie
        - 0.7 * (c["whereabouts_known"] == 0)
        - 0.15 * np.log1p(c["respondent_concurrent_cases"])
        - 0.3 * c["dishonest_listed"]
        - 0.012 * months
    )
    result: np.ndarray = score
    return result


def _p_full(c: Mapping[str, np.ndarray]) -> np.ndarray:
    """Given a recovery: the probability it pays the whole unpaid amount."""
    return _logistic(
        -0.8
        - 0.6 * np.log(c["unpaid_amount"] / 50e3)
        + 0.3 * c["debtor_reported_property"]
        + 0.3 * (c["new_registrations"] > 0)
    )


@functools.lru_cache(maxsize=8)
def _intercept(config: TerminatedConfig) -> float:
    """The recovery intercept that gives ``recover_rate`` on the fixed pilot sample."""
    rng = np.random.default_rng(np.random.SeedSequence(_PILOT_SEED))
    c, _ = _draw_terminated(rng, _PILOT_SIZE, config)
    score = _recovery_score(c)
    return _bisect(
        lambda a: float(np.mean(_logistic(a + score))), config.recover_rate, "recover_intercept"
    )


def _truth(c: Mapping[str, np.ndarray], config: TerminatedConfig) -> dict[str, np.ndarray]:
    p = _logistic(_intercept(config) + _recovery_score(c))
    full = _p_full(c)
    amount = c["unpaid_amount"] * (full + (1 - full) * _PARTIAL_MEAN)
    return {
        "p_recover_true": p,
        "expected_amount_true": amount,
        "expected_yuan_true": p * amount,
        "p_recover_unfollowed_true": config.routine_share * p,
    }


def _draw_outcomes(
    rng: np.random.Generator,
    c: Mapping[str, np.ndarray],
    truth: Mapping[str, np.ndarray],
    config: TerminatedConfig,
) -> dict[str, np.ndarray]:
    n = len(c["unpaid_amount"])
    u = rng.random((3, n))
    followed = u[0] < config.follow_up_rate
    p = np.where(followed, truth["p_recover_true"], truth["p_recover_unfollowed_true"])
    recovered = u[1] < p
    unpaid = c["unpaid_amount"]
    share = np.clip(rng.beta(_PARTIAL_A, _PARTIAL_B, n), 0.01, 0.97)
    amount = np.where(u[2] < _p_full(c), unpaid, np.maximum(_cents(unpaid * share), 0.01))
    return {
        "followed_up": followed.astype(float),
        "recovered_after": recovered.astype(float),
        "recovered_after_amount": np.where(recovered, amount, 0.0),
    }


# ==========================================================================
# Blocks, samples, files
# ==========================================================================


@dataclass
class _TerminatedBlock:
    cases: pa.Table
    truth: pa.Table
    latent: dict[str, np.ndarray]


def _schema(with_pii: bool) -> pa.Schema:
    fields = [pa.field(f.name, _arrow_type(f.kind)) for f in TERMINATED_FIELDS]
    fields += [pa.field(name, pa.string()) for name in PII_FIELDS] if with_pii else []
    return pa.schema(fields)


def _blocks(
    n: int, seed: int, config: TerminatedConfig, with_pii: bool
) -> Iterator[_TerminatedBlock]:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    world = _world()
    # Filings reach back up to seven years before the first export day.
    numbering = GeneratorConfig(start=date(config.start.year - 8, 1, 1), end=config.end)
    numbers = _CaseNumbers(numbering, world)
    schema = _schema(with_pii)
    for i, child in enumerate(np.random.SeedSequence(int(seed)).spawn(-(-n // CHUNK_SIZE))):
        size = min(CHUNK_SIZE, n - i * CHUNK_SIZE)
        main, personal, outcome = (np.random.default_rng(s) for s in child.spawn(3))
        c, latent = _draw_terminated(main, size, config)
        truth = _truth(c, config)
        c |= _draw_outcomes(outcome, c, truth, config)
        case_id = numbers.next(c, main)
        columns: dict[str, pa.Array] = {
            "case_id": case_id,
            "court_id": _text(world.court_ids).take(pa.array(c["court"].astype(np.int64))),
        }
        for spec in TERMINATED_FIELDS:
            if spec.name not in columns:
                columns[spec.name] = _arrow_column(
                    spec.kind, spec.name, c[spec.name], spec.code_values
                )
        if with_pii:
            columns |= _pii_columns(personal, c, world)
        table = pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema)
        truth_table = pa.table({"case_id": case_id} | {k: truth[k] for k in TRUTH_COLUMNS})
        yield _TerminatedBlock(table, truth_table, latent)


@dataclass(frozen=True)
class TerminatedSample:
    """Generated terminated cases in the canonical frame, their truth, their latent events."""

    cases: pd.DataFrame
    truth: pd.DataFrame
    latent: pd.DataFrame


def generate_terminated(
    n: int, seed: int = 0, config: TerminatedConfig | None = None, with_pii: bool = False
) -> TerminatedSample:
    """Draw ``n`` terminated cases with their truth; the rows :func:`write_terminated` writes."""
    config = config or TerminatedConfig()
    blocks = list(_blocks(n, seed, config, with_pii))
    cases = pa.concat_tables([b.cases for b in blocks])
    truth = pa.concat_tables([b.truth for b in blocks]).to_pandas()
    truth["case_id"] = truth["case_id"].astype("str")
    latent = pd.DataFrame(
        {k: np.concatenate([b.latent[k] for b in blocks]) for k in blocks[0].latent}
    )
    return TerminatedSample(
        cases=_canonical(cases, TERMINATED_FIELD_BY_NAME), truth=truth, latent=latent
    )


def write_terminated(
    n: int,
    out: str | os.PathLike[str],
    truth: str | os.PathLike[str] | None = None,
    seed: int = 0,
    with_pii: bool = False,
    config: TerminatedConfig | None = None,
) -> None:
    """Write ``n`` terminated cases to ``out`` (CSV or Parquet) and their truth to ``truth``.

    Written as :func:`features.synthetic.write_synthetic` writes new cases: atomically,
    amounts as plain decimals, nothing left behind on failure.
    """
    config = config or TerminatedConfig()
    targets = [Path(out)] + ([Path(truth)] if truth is not None else [])
    formats = [file_format(path) for path in targets]
    if truth is not None and Path(out).resolve() == Path(truth).resolve():
        raise ValueError(f"the output and the truth file are the same path: {out}")
    sinks: list[_Sink] = []
    try:
        for path, fmt in zip(targets, formats, strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            sinks.append(_Sink(path, fmt, TERMINATED_FIELD_BY_NAME))
        for block in _blocks(n, seed, config, with_pii):
            sinks[0].write(block.cases)
            if truth is not None:
                sinks[1].write(block.truth)
        for sink in sinks:
            sink.close()
        for sink in sinks:
            sink.commit()
    except BaseException:
        for sink in sinks:
            sink.discard()
        raise
