"""Synthetic enforcement cases (执行案件) with known truth.

``triage generate`` writes cases that follow the case record
(:mod:`features.record`), labels included, and — for the Bayes limit — each
case's true label probabilities.

How a case is made
------------------
1. *Case mix.*  Filing date (working days, a dip at the Spring Festival),
   province (richer, more populous provinces file more), cause of action.
   The cause sets the claim size (log-normal), the instrument, the applicant
   (credit cards and bank loans: a financial institution) and the debtor
   (traffic accidents and family support: a natural person; labour pay: often
   an enterprise).  Larger claims go to intermediate or high courts.
2. *The debtor.*  A latent solvency (standard normal, shifted by region,
   cause and debtor type) drives what the debtor holds and how it behaved:
   deposits, online balances, property, vehicles, securities, salary, prior
   cases and prior 终本, listing as dishonest, whereabouts, a zombie
   enterprise status.
3. *The first network inquiry* reports the holdings; a share of cases is
   scored at the filing desk before it answers and shows none of them.
4. *Labels* are Bernoulli draws from probabilities that are exact functions
   of the observed contract fields — never of the latent solvency — so the
   Bayes limit of a sample is known.  ``has_recoverable_assets`` has one
   logit, smooth and mostly additive over domain quantities (funds ÷ claim,
   preserved ÷ claim, property counts, prior 终本 share, log claim, enterprise
   status, whereabouts …) with a few moderate interactions.  ``is_complex`` is
   the union of four independent events — appraisal or auction, objection,
   transfer to bankruptcy, running past the 6-month limit — each with such a
   logit, so ``p_complex_true = 1 − Π(1 − p_k)``.  Cases whose inquiry has not
   answered get logits over the filing fields only, fitted once to the full
   model (a logistic regression on soft targets), so they too are exact.
5. *Rates* marked as estimates in the domain notes are fields of
   :class:`GeneratorConfig`.  The constants that make them come out
   (intercepts, thresholds) are solved once per configuration on a fixed
   pilot sample, so the true functions depend on the configuration only,
   never on the seed or the number of cases.

Output is deterministic for a seed: cases are drawn in blocks of
:data:`CHUNK_SIZE` from ``SeedSequence(seed).spawn``, so the first block of a
large file equals a small file of the same seed.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.load import file_format
from features.record import FIELD_BY_NAME, FIELDS, PII_FIELDS, PROVINCES, Kind

__all__ = [
    "CALIBRATION_TARGETS",
    "CHUNK_SIZE",
    "CalibrationTarget",
    "GeneratorConfig",
    "SyntheticSample",
    "generate_cases",
    "measure_calibration",
    "true_probabilities",
    "write_synthetic",
]

#: Cases drawn per block.  Fixed: the output of a seed depends on nothing but ``n``.
CHUNK_SIZE = 250_000
#: Cases from ``n`` on which ``write_synthetic`` shows a progress bar (on a terminal).
PROGRESS_FROM = 200_000
_PILOT_SIZE = 60_000
_PILOT_SEED = 20_250_417
# Logits are clipped so that every probability stays strictly inside (0, 1).
_LOGIT_CLIP = 16.0
# The 6-month time limit of a first-time enforcement case, in days.
_TIME_LIMIT_DAYS = 183


# ==========================================================================
# Configuration
# ==========================================================================


def _rate(default: float, description: str) -> object:
    return Field(default, gt=0.0, lt=1.0, description=description)


class GeneratorConfig(BaseModel):
    """What the synthetic world looks like: the filing window and every estimated rate.

    Rates are shares of all cases unless said otherwise.  Defaults follow the
    calibration targets of the domain notes; the sourced ones (assets found,
    fully performed) are here too, so a court can match its own figures.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: date = Field(date(2021, 1, 1), description="First filing date.")
    end: date = Field(date(2024, 12, 31), description="Last filing date.")

    # --- outcomes -----------------------------------------------------------
    recoverable_assets_rate: float = _rate(
        0.57, "Money or property recovered (SPC 2024: about 57 % not 终本)."
    )
    fully_performed_rate: float = _rate(0.42, "Fully performed, 执行完毕 (SPC 2024-25: 40-44 %).")
    complex_rate: float = _rate(
        0.40, "Complex stream: appraisal/auction, objection, bankruptcy or past 6 months."
    )
    # Above the notes' point estimates (0.15, 0.05), inside their ranges: the rest of
    # the complex stream runs past the 6-month limit, and if those cases were half of
    # it the median complex case would take over 180 days instead of about 120.
    appraisal_auction_rate: float = _rate(0.22, "Needs appraisal or auction (评估/拍卖/变卖).")
    objection_rate: float = _rate(0.07, "Meets an objection or third-party claim (执行异议).")
    bankruptcy_transfer_rate: float = _rate(0.01, "Transferred to bankruptcy (执转破).")

    # --- case mix -----------------------------------------------------------
    natural_person_rate: float = _rate(0.65, "First respondent is a natural person.")
    zombie_enterprise_rate: float = _rate(
        0.20, "Of enterprise respondents: licence revoked or deregistered."
    )
    whereabouts_unknown_rate: float = _rate(0.15, "Respondent's whereabouts unknown.")
    multi_respondent_rate: float = _rate(0.30, "More than one respondent.")
    litigation_preserved_rate: float = _rate(0.15, "Property preserved during the lawsuit.")
    preservation_or_clue_rate: float = _rate(
        0.35,
        "Preserved, or the first inquiry found property to seize (real estate, vehicles, "
        "equity, securities); 60-70 % of cases have neither (刘贵祥 2018).",
    )
    funds_cover_rate: float = _rate(
        0.25, "First inquiry answered and found deposits + online funds >= the claim."
    )
    dishonest_or_prior_terminated_rate: float = _rate(
        0.25, "Already listed as dishonest, or a prior case ended 终本."
    )
    inquiry_pending_rate: float = _rate(
        0.25, "Scored at the filing desk before the first network inquiry answered."
    )
    claim_median: float = Field(50_000.0, gt=0, description="Median claim, CNY.")
    claim_sigma: float = Field(2.0, gt=0.2, lt=4.0, description="Spread of log claim.")

    @model_validator(mode="after")
    def _consistent(self) -> GeneratorConfig:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        if self.fully_performed_rate >= self.recoverable_assets_rate:
            raise ValueError("fully_performed_rate must be below recoverable_assets_rate")
        if self.litigation_preserved_rate >= self.preservation_or_clue_rate:
            raise ValueError("litigation_preserved_rate must be below preservation_or_clue_rate")
        if self.funds_cover_rate >= 1.0 - self.inquiry_pending_rate:
            raise ValueError("funds_cover_rate must be below the share of answered inquiries")
        union = 1.0 - (
            (1.0 - self.appraisal_auction_rate)
            * (1.0 - self.objection_rate)
            * (1.0 - self.bankruptcy_transfer_rate)
        )
        if self.complex_rate <= union:
            raise ValueError(
                f"complex_rate ({self.complex_rate}) must exceed the union of appraisal, "
                f"objection and bankruptcy ({union:.3f}): the rest runs past 6 months"
            )
        return self


# ==========================================================================
# The world: provinces, courts, causes (fixed tables, built on first use)
# ==========================================================================

# code, abbreviation in case numbers, name in addresses, caseload weight, GDP per
# head (10k CNY, about 2022), odds multiplier of dishonest listing (provinces list
# very differently: the density differs ~10x), cities or districts for addresses.
_PROVINCE_TABLE: tuple[tuple[str, str, str, float, float, float, tuple[str, ...]], ...] = (
    ("11", "京", "北京市", 3.5, 19.0, 0.45, ("朝阳区", "海淀区", "丰台区", "通州区")),
    ("12", "津", "天津市", 1.2, 11.9, 0.70, ("和平区", "南开区", "滨海新区")),
    ("13", "冀", "河北省", 4.0, 5.7, 1.30, ("石家庄市", "唐山市", "保定市", "邯郸市")),
    ("14", "晋", "山西省", 1.8, 7.3, 0.90, ("太原市", "大同市", "运城市")),
    ("15", "蒙", "内蒙古自治区", 1.5, 9.6, 1.60, ("呼和浩特市", "包头市", "鄂尔多斯市")),
    ("21", "辽", "辽宁省", 3.0, 6.9, 1.10, ("沈阳市", "大连市", "鞍山市")),
    ("22", "吉", "吉林省", 1.6, 5.5, 1.40, ("长春市", "吉林市", "四平市")),
    ("23", "黑", "黑龙江省", 2.0, 5.1, 1.20, ("哈尔滨市", "齐齐哈尔市", "大庆市")),
    ("31", "沪", "上海市", 3.5, 18.0, 0.30, ("浦东新区", "闵行区", "徐汇区")),
    ("32", "苏", "江苏省", 7.5, 14.4, 0.80, ("南京市", "苏州市", "无锡市", "徐州市")),
    ("33", "浙", "浙江省", 8.0, 11.8, 1.00, ("杭州市", "宁波市", "温州市", "金华市")),
    ("34", "皖", "安徽省", 3.5, 7.4, 1.10, ("合肥市", "芜湖市", "阜阳市")),
    ("35", "闽", "福建省", 3.5, 12.6, 1.50, ("福州市", "厦门市", "泉州市")),
    ("36", "赣", "江西省", 2.5, 7.1, 1.30, ("南昌市", "赣州市", "九江市")),
    ("37", "鲁", "山东省", 6.5, 8.6, 0.90, ("济南市", "青岛市", "临沂市", "潍坊市")),
    ("41", "豫", "河南省", 6.0, 6.2, 2.00, ("郑州市", "洛阳市", "南阳市")),
    ("42", "鄂", "湖北省", 4.0, 9.2, 1.00, ("武汉市", "宜昌市", "襄阳市")),
    ("43", "湘", "湖南省", 4.0, 7.4, 1.60, ("长沙市", "株洲市", "衡阳市")),
    ("44", "粤", "广东省", 11.0, 10.2, 1.20, ("广州市", "深圳市", "东莞市", "佛山市")),
    ("45", "桂", "广西壮族自治区", 2.5, 5.2, 2.40, ("南宁市", "柳州市", "桂林市")),
    ("46", "琼", "海南省", 0.6, 6.6, 1.80, ("海口市", "三亚市")),
    ("50", "渝", "重庆市", 3.0, 9.0, 1.30, ("渝北区", "江北区", "万州区")),
    ("51", "川", "四川省", 5.0, 6.7, 1.10, ("成都市", "绵阳市", "南充市")),
    ("52", "黔", "贵州省", 2.2, 5.3, 3.00, ("贵阳市", "遵义市")),
    ("53", "滇", "云南省", 2.5, 6.1, 2.20, ("昆明市", "曲靖市", "玉溪市")),
    ("54", "藏", "西藏自治区", 0.15, 5.8, 0.35, ("拉萨市", "日喀则市")),
    ("61", "陕", "陕西省", 2.5, 8.3, 1.00, ("西安市", "宝鸡市", "咸阳市")),
    ("62", "甘", "甘肃省", 1.2, 4.5, 1.70, ("兰州市", "天水市")),
    ("63", "青", "青海省", 0.4, 6.1, 1.50, ("西宁市", "海东市")),
    ("64", "宁", "宁夏回族自治区", 0.5, 7.0, 1.90, ("银川市", "石嘴山市")),
    ("65", "新", "新疆维吾尔自治区", 1.1, 6.8, 0.80, ("乌鲁木齐市", "克拉玛依市")),
)


class _Cause(NamedTuple):
    """How a cause of action shapes its cases."""

    share: float  # of all cases
    claim_median: float  # CNY, before the mixture is rescaled to the configured claims
    claim_spread: float  # of log claim
    solvency: float  # shift of the debtor's latent solvency
    # natural_person, enterprise, individual_business, government_organ
    respondent: tuple[float, float, float, float]
    # natural_person, enterprise, financial_institution, government
    applicant: tuple[float, float, float, float]
    # judgment, mediation, arbitration, notarial_deed, payment_order, criminal_property,
    # administrative
    basis: tuple[float, ...]
    several_respondents: float  # guarantors, spouses, joint debtors
    several_applicants: float  # e.g. groups of workers


# fmt: off
_CAUSE_TABLE: dict[str, _Cause] = {
    "private_lending": _Cause(0.24, 60e3, 1.5, 0.0, (0.88, 0.08, 0.04, 0.0), (0.88, 0.10, 0.02, 0.0),
                              (0.62, 0.28, 0.02, 0.06, 0.02, 0.0, 0.0), 0.35, 0.05),
    # Bank loans and credit cards: a financial institution applies; loans are often
    # notarised and secured, credit-card debtors are individuals with small balances.
    "financial_loan": _Cause(0.11, 150e3, 1.8, 0.2, (0.62, 0.30, 0.08, 0.0), (0.0, 0.08, 0.92, 0.0),
                             (0.60, 0.15, 0.05, 0.18, 0.02, 0.0, 0.0), 0.55, 0.02),
    "credit_card": _Cause(0.10, 25e3, 0.9, -0.2, (0.99, 0.0, 0.01, 0.0), (0.0, 0.02, 0.98, 0.0),
                          (0.70, 0.20, 0.02, 0.03, 0.05, 0.0, 0.0), 0.05, 0.01),
    "sales_contract": _Cause(0.13, 80e3, 1.7, 0.1, (0.20, 0.60, 0.19, 0.01), (0.12, 0.87, 0.01, 0.0),
                             (0.58, 0.30, 0.08, 0.0, 0.04, 0.0, 0.0), 0.30, 0.04),
    # Workers against employers, often after labour arbitration.
    "labor_pay": _Cause(0.07, 15e3, 1.1, -0.2, (0.12, 0.63, 0.24, 0.01), (0.92, 0.06, 0.0, 0.02),
                        (0.35, 0.25, 0.38, 0.0, 0.02, 0.0, 0.0), 0.25, 0.20),
    "construction": _Cause(0.05, 250e3, 1.8, 0.1, (0.20, 0.74, 0.04, 0.02), (0.35, 0.64, 0.01, 0.0),
                           (0.62, 0.25, 0.13, 0.0, 0.0, 0.0, 0.0), 0.45, 0.08),
    "lease": _Cause(0.05, 40e3, 1.5, 0.0, (0.40, 0.40, 0.18, 0.02), (0.45, 0.50, 0.02, 0.03),
                    (0.60, 0.32, 0.06, 0.02, 0.0, 0.0, 0.0), 0.25, 0.05),
    # Individuals on both sides; the insurer or the vehicle's owner is often joined.
    "traffic_accident": _Cause(0.05, 50e3, 1.0, -0.1, (0.90, 0.09, 0.01, 0.0), (0.85, 0.15, 0.0, 0.0),
                               (0.55, 0.45, 0.0, 0.0, 0.0, 0.0, 0.0), 0.40, 0.12),
    "family_support": _Cause(0.03, 15e3, 1.0, -0.3, (1.0, 0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0),
                             (0.45, 0.55, 0.0, 0.0, 0.0, 0.0, 0.0), 0.05, 0.10),
    "guarantee": _Cause(0.04, 250e3, 1.8, 0.2, (0.55, 0.42, 0.03, 0.0), (0.15, 0.45, 0.40, 0.0),
                        (0.60, 0.20, 0.10, 0.10, 0.0, 0.0, 0.0), 0.70, 0.03),
    # Includes the property part of criminal judgments and administrative decisions.
    "other": _Cause(0.13, 20e3, 2.0, 0.0, (0.60, 0.25, 0.10, 0.05), (0.40, 0.35, 0.05, 0.20),
                    (0.40, 0.15, 0.05, 0.02, 0.01, 0.22, 0.15), 0.25, 0.05),
}
# fmt: on


def _codes_of(name: str) -> tuple[str, ...]:
    return FIELD_BY_NAME[name].code_values


def _code(name: str, code: str) -> int:
    """Index of a code in the contract's order (the generator's internal representation)."""
    return _codes_of(name).index(code)


@dataclass(frozen=True)
class _World:
    """Fixed tables of the synthetic world, as arrays in the contract's code order."""

    province_codes: tuple[str, ...]
    province_abbr: tuple[str, ...]
    province_names: tuple[str, ...]
    province_cdf: np.ndarray
    richness: np.ndarray  # log GDP per head, standardised-ish (0 = middle)
    dishonest_log_odds: np.ndarray
    cities: tuple[tuple[str, ...], ...]
    cause_cdf: np.ndarray
    claim_offset: np.ndarray  # log-claim location per cause, in units of claim_sigma
    claim_scale: np.ndarray
    cause_solvency: np.ndarray
    respondent_probs: np.ndarray
    applicant_probs: np.ndarray
    basis_probs: np.ndarray
    multi_respondent: np.ndarray
    multi_applicant: np.ndarray
    # Courts, sorted by (province, level).
    court_ids: tuple[str, ...]
    court_suffix: tuple[str, ...]  # what follows the province character in a case number
    court_city: np.ndarray  # two-digit city number (0 for a high court)
    court_stride: np.ndarray  # case numbers a court gives per case in our files
    court_group_cum: np.ndarray  # group g = province * 3 + level; CDF shifted by g
    n_courts: int


@functools.cache
def _world() -> _World:
    provinces = tuple(p.code for p in PROVINCES)
    table = {row[0]: row for row in _PROVINCE_TABLE}
    causes = _codes_of("cause")
    if set(table) != set(provinces) or set(_CAUSE_TABLE) != set(causes):
        raise RuntimeError("the generator's tables no longer match the case record's codes")
    rows = [table[code] for code in provinces]
    weight = np.array([r[3] for r in rows])
    gdp = np.array([r[4] for r in rows])
    cause_rows = [_CAUSE_TABLE[c] for c in causes]
    share = np.array([r.share for r in cause_rows])
    # Claim: a log-normal per cause; the mixture is then rescaled so that its log has
    # median 0 and spread 1, to which the config's claim_median and claim_sigma apply.
    location = np.log(np.array([r.claim_median for r in cause_rows]))
    spread = np.array([r.claim_spread for r in cause_rows])
    mean = float(share @ location)
    sd = math.sqrt(float(share @ (spread**2 + location**2)) - mean**2)
    location, spread = (location - mean) / sd, spread / sd

    def mixture_cdf(x: float) -> float:
        z = (x - location) / spread
        return float(share @ (0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))))

    low, high = -3.0, 3.0
    for _ in range(60):
        middle = 0.5 * (low + high)
        if mixture_cdf(middle) > 0.5:
            high = middle
        else:
            low = middle
    location = location - 0.5 * (low + high)

    def normalise(rows_: list) -> np.ndarray:
        array = np.array(rows_, dtype=float)
        return array / array.sum(axis=1, keepdims=True)

    # Courts: one high court per province, intermediate courts per city, basic courts
    # per district; as many as the caseload calls for.  Drawn once from a fixed seed.
    rng = np.random.default_rng(np.random.SeedSequence(7_301_2260))
    ids: list[str] = []
    suffix: list[str] = []
    city: list[int] = []
    stride: list[int] = []
    group: list[int] = []
    court_weight: list[float] = []
    for p, code in enumerate(provinces):
        n_basic = int(round(10 + 6 * table[code][3]))
        n_cities = max(2, round(n_basic / 7))
        courts = [("high", 0, 0)] + [("intermediate", c, 0) for c in range(1, n_cities + 1)]
        counts = np.zeros(n_cities + 1, dtype=int)
        for b in range(n_basic):
            c = 1 + b % n_cities
            counts[c] += 1
            courts.append(("basic", c, 1 + counts[c]))  # districts from 02: 01 is the city
        for level_name, c, d in courts:
            level = _code("court_level", level_name)
            ids.append(f"{code}{c:02d}{d:02d}")
            suffix.append(
                {"high": "", "intermediate": f"{c:02d}"}.get(level_name, f"{c:02d}{d:02d}")
            )
            city.append(c)
            stride.append(int(rng.integers(1, 7)))
            group.append(p * 3 + level)
            court_weight.append(float(rng.lognormal(0.0, 0.6)))
    order = np.lexsort((np.arange(len(ids)), np.array(group)))
    group_sorted = np.array(group)[order]
    weights_sorted = np.array(court_weight)[order]
    cum = np.empty(len(order))
    for g in np.unique(group_sorted):
        members = group_sorted == g
        within = np.cumsum(weights_sorted[members])
        cum[members] = g + within / within[-1]
    return _World(
        province_codes=provinces,
        province_abbr=tuple(r[1] for r in rows),
        province_names=tuple(r[2] for r in rows),
        province_cdf=np.cumsum(weight) / weight.sum(),
        richness=np.log(gdp / 7.5) / 0.4,
        dishonest_log_odds=np.log(np.array([r[5] for r in rows])),
        cities=tuple(r[6] for r in rows),
        cause_cdf=np.cumsum(share) / share.sum(),
        claim_offset=location,
        claim_scale=spread,
        cause_solvency=np.array([r.solvency for r in cause_rows]),
        respondent_probs=normalise([r.respondent for r in cause_rows]),
        applicant_probs=normalise([r.applicant for r in cause_rows]),
        basis_probs=normalise([r.basis for r in cause_rows]),
        multi_respondent=np.array([r.several_respondents for r in cause_rows]),
        multi_applicant=np.array([r.several_applicants for r in cause_rows]),
        court_ids=tuple(ids[i] for i in order),
        court_suffix=tuple(suffix[i] for i in order),
        court_city=np.array(city)[order],
        court_stride=np.array(stride)[order],
        court_group_cum=cum,
        n_courts=len(ids),
    )


@functools.lru_cache(maxsize=8)
def _filing_days(start: date, end: date) -> tuple[np.ndarray, np.ndarray]:
    """Days of the window and the CDF of filings over them."""
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
    weekday = (days.astype(np.int64) + 3) % 7  # 0 = Monday
    month = days.astype("datetime64[M]").astype(np.int64) % 12  # 0 = January
    years = (days - days[0]).astype(np.int64) / 365.25
    # Courts file on working days; the Spring Festival (Jan/Feb) and National Day
    # (October) holidays thin the filings; caseloads grow a few percent a year.
    weight = np.where(weekday < 5, 1.0, 0.04)
    weight = weight * np.array([0.9, 0.7, 1, 1, 1, 1, 1, 1, 1, 0.85, 1, 1.1])[month]
    weight = weight * 1.04**years
    return days, np.cumsum(weight) / weight.sum()


# ==========================================================================
# Small numerical helpers
# ==========================================================================


def _logistic(x: np.ndarray | float) -> np.ndarray:
    # tanh form: no overflow warnings, and clipped logits keep p strictly in (0, 1).
    return 0.5 * (1.0 + np.tanh(0.5 * np.clip(x, -_LOGIT_CLIP, _LOGIT_CLIP)))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (n x k), as int8 indices."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cum[:, -1:]
    return np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1).astype(np.int8)


def _negative_binomial(rng: np.random.Generator, mean: np.ndarray, shape: float) -> np.ndarray:
    """Over-dispersed counts (gamma-Poisson) with the given mean."""
    return rng.poisson(mean * rng.gamma(shape, 1.0 / shape, len(mean))).astype(np.float64)


def _effects(field_name: str, **effects: float) -> np.ndarray:
    """Effects on a logit per code of a field (0 for codes not named), indexable by code."""
    unknown = set(effects) - set(_codes_of(field_name))
    if unknown:
        raise KeyError(f"not codes of {field_name}: {sorted(unknown)}")
    return np.array([effects.get(code, 0.0) for code in _codes_of(field_name)])


def _cents(x: np.ndarray) -> np.ndarray:
    """Amounts rounded to the fen, so the text written reads back as the same float."""
    return np.rint(x * 100.0) / 100.0


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
        return x.T @ (w * (_logistic(x @ beta) - p)) + penalty * beta

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
    return np.round(beta, 8)


@dataclass
class _Calibration:
    """Constants that make the configured rates come out.

    On the pilot sample (``solving``) each constant is solved where it is
    first needed, from the sample as drawn so far; afterwards the frozen
    values are simply read back.  Same code path both times.
    """

    solving: bool
    values: dict[str, object] = field(default_factory=dict)

    def solve(self, name: str, mean_at: Callable[[float], float], target: float) -> float:
        if self.solving:
            self.values[name] = _bisect(mean_at, target, name)
        return self.values[name]  # type: ignore[return-value]

    def fit(self, name: str, design: np.ndarray, target: np.ndarray, weight: np.ndarray):
        if self.solving:
            self.values[name] = _soft_logistic_fit(design, target, weight)
        return self.values[name]


@functools.lru_cache(maxsize=16)
def _calibration(config: GeneratorConfig) -> _Calibration:
    """Solve the constants of a configuration on the fixed pilot sample."""
    calibration = _Calibration(solving=True)
    rng = np.random.default_rng(np.random.SeedSequence(_PILOT_SEED))
    _draw_block(rng, _PILOT_SIZE, config, calibration, _world())
    calibration.solving = False
    return calibration


# ==========================================================================
# Drawing a block of cases
# ==========================================================================


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


# ==========================================================================
# The true label probabilities: exact functions of the observed fields
# ==========================================================================


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
    directions follow "what predicts the outcome" in the domain notes.
    """
    f = _filing_terms(c)
    q = _full_terms(c)
    zombie = f["revoked"] + f["deregistered"]
    has_real_estate = (c["real_estate_count"] > 0).astype(float)
    assets = (
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
    auction = (
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
    objection = (
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
    bankruptcy = (
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
    # Past the limit: hard debtors (unknown whereabouts, a 终本 history, many parties,
    # public bodies).  Property cases run on the auction clock instead: time spent on
    # appraisal and auction does not count against the limit.
    overdue = (
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
    return {
        "assets": assets,
        "auction": auction,
        "objection": objection,
        "bankruptcy": bankruptcy,
        "overdue": overdue,
    }


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
        (1 - _logistic(cal.values["auction_intercept"] + logits["auction"]))
        * (1 - _logistic(cal.values["objection_intercept"] + logits["objection"]))
        * (1 - enterprise * _logistic(cal.values["bankruptcy_intercept"] + logits["bankruptcy"]))
    )
    cal.solve(
        "overdue_intercept",
        lambda a: float(np.mean(1 - others * (1 - _logistic(a + logits["overdue"])))),
        config.complex_rate,
    )
    design = np.column_stack([np.ones(len(enterprise))] + _filing_design(c))
    everyone = np.ones(len(enterprise))
    for name in _EVENTS:
        p_full = _logistic(cal.values[f"{name}_intercept"] + logits[name])
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
        beta = cal.values[f"{name}_filing"]
        # Summed column by column (not a matrix product) so that the result does not
        # depend on how many rows are scored at once.
        filing = np.full(len(answered), beta[0])
        for coefficient, column in zip(beta[1:], design, strict=True):
            filing = filing + coefficient * column
        full = cal.values[f"{name}_intercept"] + logits[name]
        out[name] = _logistic(np.where(answered, full, filing))
    out["bankruptcy"] = np.where(enterprise, out["bankruptcy"], 0.0)
    out["complex"] = 1 - (
        (1 - out["auction"])
        * (1 - out["objection"])
        * (1 - out["bankruptcy"])
        * (1 - out["overdue"])
    )
    return out


# ==========================================================================
# Personal data (only with ``with_pii``: to test that loading drops it)
# ==========================================================================

_SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
)
_GIVEN = tuple(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰辉鹏红建国志文斌俊海燕亮飞凯婷雪琳晨浩宇欣佳梅春林峰鑫波东成龙晓雷"
)
_TRADE_NAMES = tuple("华盛鑫源泰恒宏达隆兴祥瑞丰顺通发嘉德远宇博腾凯星海天金安永信")
# fmt: off
_INDUSTRIES = (
    "商贸", "建筑工程", "科技", "实业", "贸易", "房地产开发", "物流", "餐饮管理", "装饰工程", "机械设备", "电子", "投资管理",
    "农业开发", "汽车销售",
)
# fmt: on
_SHOPS = ("便利店", "餐馆", "五金店", "服装店", "汽车修理厂", "建材经营部", "水果店", "美容店")
# fmt: off
_AGENCIES = (
    "人力资源和社会保障局", "市场监督管理局", "税务局", "住房和城乡建设局", "自然资源局", "生态环境局", "城市管理综合执法局", "医疗保障局",
)
# fmt: on
# (prefix, city or not, suffix) of a bank applicant's name.
_BANKS = (
    ("中国工商银行股份有限公司", True, "分行"),
    ("中国建设银行股份有限公司", True, "分行"),
    ("中国农业银行股份有限公司", True, "分行"),
    ("中国银行股份有限公司", True, "分行"),
    ("交通银行股份有限公司", True, "分行"),
    ("中国邮政储蓄银行股份有限公司", True, "分行"),
    ("平安银行股份有限公司", True, "分行"),
    ("招商银行股份有限公司信用卡中心", False, ""),
    ("广发银行股份有限公司信用卡中心", False, ""),
    ("", True, "农村商业银行股份有限公司"),
)
# fmt: off
_STREETS = (
    "人民路", "解放路", "中山路", "建设路", "新华路", "和平路", "胜利路", "文化路", "朝阳路", "长江路", "黄河路", "幸福路", "光明路",
    "青年路", "工业大道", "滨江路", "东风路", "振兴路",
)
# fmt: on
# Mobile number prefixes of the three carriers.
# fmt: off
_MOBILE_PREFIXES = (
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158,
    159, 166, 173, 175, 176, 177, 178, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 191,
    198, 199,
)
# fmt: on
# GB 11643 (citizen identity number): weights of the 17 digits and the check characters.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = b"10X98765432"
# GB 32100 (unified social credit code): its 31 characters, the weights are 3**i mod 31;
# GB 11714 (organisation code, characters 9-17): weights of its 8 digits.
_USCC_CHARS = b"0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _text(values) -> pa.Array:
    return pa.array(list(values), type=pa.string())


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _digits(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    return rng.integers(0, 10, size=(n, width), dtype=np.int64)


def _number_digits(values: np.ndarray, width: int) -> np.ndarray:
    """Decimal digits of non-negative integers, most significant first (n x width)."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers) % 10


def _ascii_strings(codes: np.ndarray) -> pa.Array:
    """Rows of ASCII codes (n x width, uint8) as strings."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    as_bytes = codes.view(f"S{codes.shape[1]}").ravel()
    return pa.array(as_bytes, type=pa.binary()).cast(pa.string())


def _identity_numbers(area: np.ndarray, birth: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """18-character citizen identity numbers (GB 11643) with a correct check character."""
    n = len(area)
    ymd = birth.astype("datetime64[D]")
    year = ymd.astype("datetime64[Y]").astype(np.int64) + 1970
    month = ymd.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (ymd - ymd.astype("datetime64[M]")).astype(np.int64) + 1
    body = np.hstack(
        [
            _number_digits(area, 6),
            _number_digits(year * 10000 + month * 100 + day, 8),
            _digits(rng, n, 3),  # order number: odd for men, even for women
        ]
    )
    check = np.frombuffer(_ID_CHECK, dtype=np.uint8)[(body @ np.array(_ID_WEIGHTS)) % 11]
    return _ascii_strings(np.hstack([body + ord("0"), check[:, None]]))


def _credit_codes(area: np.ndarray, kind: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """18-character unified social credit codes (GB 32100) with correct check characters.

    ``kind`` holds the first two characters as a number: 91 enterprise, 92 individual
    business, 11 government organ.
    """
    n = len(area)
    organisation = _digits(rng, n, 8)
    org_check = (11 - (organisation @ np.array(_ORG_WEIGHTS)) % 11) % 11  # 10 is written X
    org_value = np.where(org_check == 10, 29, org_check)  # index of "X" among the 31 characters
    values = np.hstack(
        [
            _number_digits(kind, 2),
            _number_digits(area, 6),
            organisation,
            org_value[:, None],
        ]
    )
    weights = np.array([pow(3, i, 31) for i in range(17)])
    check = (31 - (values @ weights) % 31) % 31
    characters = np.frombuffer(_USCC_CHARS, dtype=np.uint8)
    return _ascii_strings(characters[np.hstack([values, check[:, None]])])


def _person_names(rng: np.random.Generator, n: int) -> pa.Array:
    # Common surnames are far more common: weights fall off along the list.
    weights = 1.0 / np.arange(1, len(_SURNAMES) + 1) ** 0.8
    weights /= weights.sum()
    surname = _text(_SURNAMES).take(pa.array(rng.choice(len(_SURNAMES), n, p=weights)))
    given = _text(_GIVEN)
    first = given.take(pa.array(rng.integers(0, len(_GIVEN), n)))
    second = given.take(pa.array(rng.integers(0, len(_GIVEN), n)))
    # About a third of given names have a single character.
    second = pc.if_else(pa.array(rng.random(n) < 0.33), "", second)
    return _join(surname, first, second)


def _pii_columns(
    rng: np.random.Generator, cases: Mapping[str, np.ndarray], world: _World
) -> dict[str, pa.Array]:
    """Names, identity numbers, phones and addresses, consistent with each case."""
    n = len(cases["province"])
    province = cases["province"]
    court = cases["court"]
    # The parties live where the court sits: its city, or a city of its province.
    n_cities = np.array([len(c) for c in world.cities])[province]
    city_index = rng.integers(0, 1 << 30, n) % n_cities
    all_cities = [city for cities in world.cities for city in cities]
    offsets = np.cumsum([0] + [len(c) for c in world.cities])[:-1]
    city = _text(all_cities).take(pa.array(offsets[province] + city_index))
    short_city = _text(c[:-1] if len(c) > 2 else c for c in all_cities).take(
        pa.array(offsets[province] + city_index)
    )
    province_name = _text(world.province_names).take(pa.array(province))

    court_city = world.court_city[court]
    city_code = np.where(court_city > 0, court_city, rng.integers(1, 11, n))
    area = (
        np.array([int(code) for code in world.province_codes])[province] * 10000
        + city_code * 100
        + rng.integers(1, 29, n)
    )

    def company_names() -> pa.Array:
        trade = _text(_TRADE_NAMES)
        return _join(
            short_city,
            trade.take(pa.array(rng.integers(0, len(_TRADE_NAMES), n))),
            trade.take(pa.array(rng.integers(0, len(_TRADE_NAMES), n))),
            _text(_INDUSTRIES).take(pa.array(rng.integers(0, len(_INDUSTRIES), n))),
            "有限公司",
        )

    def agency_names() -> pa.Array:
        return _join(city, _text(_AGENCIES).take(pa.array(rng.integers(0, len(_AGENCIES), n))))

    respondent = cases["respondent_type"].astype(np.int8)
    shop = _join(
        short_city,
        _text(_GIVEN).take(pa.array(rng.integers(0, len(_GIVEN), n))),
        _text(_GIVEN).take(pa.array(rng.integers(0, len(_GIVEN), n))),
        _text(_SHOPS).take(pa.array(rng.integers(0, len(_SHOPS), n))),
    )
    respondent_name = pc.choose(
        pa.array(respondent), _person_names(rng, n), company_names(), shop, agency_names()
    )
    age = np.where(
        np.isnan(cases["respondent_age"]), rng.integers(25, 61, n), cases["respondent_age"]
    )
    birth = (
        cases["filing_date"]
        - (age * 365.25).astype(np.int64).astype("timedelta64[D]")
        - rng.integers(0, 365, n).astype("timedelta64[D]")
    )
    kind = np.select(
        [
            respondent == _code("respondent_type", "individual_business"),
            respondent == _code("respondent_type", "government_organ"),
        ],
        [92, 11],
        91,
    )
    respondent_id = pc.if_else(
        pa.array(respondent == _code("respondent_type", "natural_person")),
        _identity_numbers(area, birth, rng),
        _credit_codes(area, kind, rng),
    )

    bank = rng.integers(0, len(_BANKS), n)
    bank_name = _join(
        _text(b[0] for b in _BANKS).take(pa.array(bank)),
        pc.if_else(pa.array(np.array([b[1] for b in _BANKS])[bank]), short_city, ""),
        _text(b[2] for b in _BANKS).take(pa.array(bank)),
    )
    applicant_name = pc.choose(
        pa.array(cases["applicant_type"].astype(np.int8)),
        _person_names(rng, n),
        company_names(),
        bank_name,
        agency_names(),
    )

    prefixes = np.array(_MOBILE_PREFIXES, dtype=np.int64)
    phone = prefixes[rng.integers(0, len(prefixes), n)] * 10**8 + rng.integers(0, 10**8, n)
    building = rng.integers(1, 31, n)
    room = rng.integers(1, 27, n) * 100 + rng.integers(1, 7, n)
    flat = _join(pa.array(building).cast(pa.string()), "栋", pa.array(room).cast(pa.string()), "室")
    personal = pa.array(np.isin(respondent, [_code("respondent_type", "natural_person")]))
    address = _join(
        province_name,
        city,
        _text(_STREETS).take(pa.array(rng.integers(0, len(_STREETS), n))),
        pa.array(rng.integers(1, 1000, n)).cast(pa.string()),
        "号",
        pc.if_else(personal, flat, ""),
    )
    return {
        "respondent_name": respondent_name,
        "respondent_id_number": respondent_id,
        "applicant_name": applicant_name,
        "phone": pa.array(phone).cast(pa.string()),
        "address": address,
    }


# ==========================================================================
# Blocks of cases as Arrow tables
# ==========================================================================


def _arrow_type(kind: Kind) -> pa.DataType:
    return {
        Kind.STRING: pa.string(),
        Kind.CODE: pa.string(),
        Kind.DATE: pa.date32(),
        Kind.AMOUNT: pa.float64(),
        Kind.INTEGER: pa.int64(),
        Kind.BOOLEAN: pa.bool_(),
        Kind.LABEL: pa.int8(),
    }[kind]


def _schema(with_pii: bool) -> pa.Schema:
    fields = [pa.field(f.name, _arrow_type(f.kind)) for f in FIELDS]
    fields += [pa.field(name, pa.string()) for name in PII_FIELDS] if with_pii else []
    return pa.schema(fields)


_TRUTH_SCHEMA = pa.schema(
    [("case_id", pa.string()), ("p_complex_true", pa.float64()), ("p_assets_true", pa.float64())]
)


def _arrow_column(kind: Kind, name: str, values: np.ndarray) -> pa.Array:
    if kind is Kind.CODE:
        codes = _text(_codes_of(name))
        index = values.astype(np.int64)
        return codes.take(pa.array(index, mask=index < 0))
    if kind is Kind.DATE:
        return pa.array(values.astype("datetime64[D]"), type=pa.date32())
    if kind is Kind.BOOLEAN:
        numbers = values.astype(float)
        return pa.array(numbers == 1.0, mask=np.isnan(numbers))
    if kind is Kind.INTEGER:
        missing = np.isnan(values)
        return pa.array(np.where(missing, 0, values).astype(np.int64), mask=missing)
    if kind is Kind.LABEL:
        return pa.array(values.astype(np.int8))
    return pa.array(values, type=pa.float64(), from_pandas=True)  # NaN -> null


class _CaseNumbers:
    """Case numbers (案号) unique within a file: each court numbers its cases per year."""

    def __init__(self, config: GeneratorConfig, world: _World):
        self.first_year = config.start.year
        self.n_years = config.end.year - config.start.year + 1
        self.world = world
        self.issued = np.zeros(world.n_courts * self.n_years, dtype=np.int64)

    def next(self, cases: Mapping[str, np.ndarray], rng: np.random.Generator) -> pa.Array:
        world = self.world
        court = cases["court"].astype(np.int64)
        filed = cases["filing_date"].astype("datetime64[D]")
        year = filed.astype("datetime64[Y]").astype(np.int64) + 1970
        key = court * self.n_years + (year - self.first_year)
        # Within a court and year the numbers follow the filing dates.
        order = np.lexsort((filed.astype(np.int64), key))
        sorted_key = key[order]
        n = len(key)
        starts = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
        rank = np.arange(n) - np.maximum.accumulate(np.where(starts, np.arange(n), 0))
        # Our file holds a sample of each court's cases: numbers advance by a court's
        # stride, with a random step inside it, and continue across blocks.
        stride = world.court_stride[court[order]]
        number_sorted = (
            1
            + (self.issued[sorted_key] + rank) * stride
            + (rng.random(n) * stride).astype(np.int64)
        )
        number = np.empty(n, dtype=np.int64)
        number[order] = number_sorted
        self.issued += np.bincount(key, minlength=len(self.issued))
        return _join(
            "(",
            pa.array(year).cast(pa.string()),
            ")",
            _text(world.province_abbr).take(pa.array(cases["province"].astype(np.int64))),
            _text(world.court_suffix).take(pa.array(court)),
            "执",
            pa.array(number).cast(pa.string()),
            "号",
        )


@dataclass
class _Block:
    cases: pa.Table
    truth: pa.Table
    events: dict[str, np.ndarray]


def _blocks(n: int, seed: int, config: GeneratorConfig, with_pii: bool) -> Iterator[_Block]:
    """The cases of a file, block by block (memory stays bounded)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    world = _world()
    calibration = _calibration(config)
    numbers = _CaseNumbers(config, world)
    schema = _schema(with_pii)
    n_blocks = -(-n // CHUNK_SIZE)
    # Block i always gets child i of the seed, whatever n is.
    for i, child in enumerate(np.random.SeedSequence(int(seed)).spawn(n_blocks)):
        size = min(CHUNK_SIZE, n - i * CHUNK_SIZE)
        main, personal = (np.random.default_rng(s) for s in child.spawn(2))
        drawn = _draw_block(main, size, config, calibration, world)
        cases = drawn["cases"]
        case_id = numbers.next(cases, main)
        columns: dict[str, pa.Array] = {
            "case_id": case_id,
            "court_id": _text(world.court_ids).take(pa.array(cases["court"].astype(np.int64))),
        }
        for spec in FIELDS:
            if spec.name not in columns:
                columns[spec.name] = _arrow_column(spec.kind, spec.name, cases[spec.name])
        if with_pii:
            # A separate stream: adding personal data changes no other column.
            columns |= _pii_columns(personal, cases, world)
        table = pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema)
        truth = pa.Table.from_arrays(
            [
                case_id,
                pa.array(drawn["truth"]["p_complex_true"]),
                pa.array(drawn["truth"]["p_assets_true"]),
            ],
            schema=_TRUTH_SCHEMA,
        )
        yield _Block(table, truth, drawn["events"])


# ==========================================================================
# Public API
# ==========================================================================


@dataclass(frozen=True)
class SyntheticSample:
    """A generated sample.

    ``cases`` has the contract's columns and the four outcomes in the canonical
    form of :mod:`features.load` (codes and identity as ``str``, ``filing_date``
    as ``datetime64``, numbers and booleans as float64 with NaN for missing), so
    it goes straight to the feature builder.  ``truth`` holds
    ``case_id, p_complex_true, p_assets_true``.  ``events`` holds, per case,
    internal latent events that are not part of the contract (for calibration
    checks only; never features): the solvency, the four components of
    ``is_complex`` and their probabilities, full performance.
    """

    cases: pd.DataFrame
    truth: pd.DataFrame
    events: pd.DataFrame


def _canonical(table: pa.Table) -> pd.DataFrame:
    """An Arrow table of cases as the canonical frame of :mod:`features.load`."""
    columns: dict[str, pd.Series] = {}
    for name in table.column_names:
        column = table.column(name)
        spec = FIELD_BY_NAME.get(name)
        if spec is None or spec.kind in (Kind.STRING, Kind.CODE):
            columns[name] = column.to_pandas().astype("str")
        elif spec.kind is Kind.DATE:
            columns[name] = pd.Series(
                column.to_numpy().astype("datetime64[ns]"), dtype="datetime64[ns]"
            )
        else:
            columns[name] = pd.Series(
                pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype="float64"
            )
    return pd.DataFrame(columns)


def generate_cases(
    n: int, seed: int = 0, config: GeneratorConfig | None = None, with_pii: bool = False
) -> SyntheticSample:
    """Draw ``n`` synthetic cases with their true label probabilities and latent events.

    Deterministic for a seed; the rows equal those :func:`write_synthetic` writes.
    """
    config = config or GeneratorConfig()
    tables, truths, events = [], [], []
    for block in _blocks(n, seed, config, with_pii):
        tables.append(block.cases)
        truths.append(block.truth)
        events.append(block.events)
    cases = pa.concat_tables(tables)
    case_id = cases.column("case_id").to_pandas().astype("str")
    event_frame = pd.DataFrame(
        {name: np.concatenate([e[name] for e in events]) for name in events[0]}
    )
    event_frame.insert(0, "case_id", case_id)
    truth = pa.concat_tables(truths).to_pandas()
    truth["case_id"] = case_id
    return SyntheticSample(cases=_canonical(cases), truth=truth, events=event_frame)


def true_probabilities(cases: pd.DataFrame, config: GeneratorConfig | None = None) -> pd.DataFrame:
    """The true ``p_complex_true`` and ``p_assets_true`` of cases, from their fields alone.

    The generator's labels are drawn from exactly these functions; use this to
    ask "what if" (direction checks) or to recompute the truth of a file read
    back.  ``cases`` may be the generator's frame or the canonical frame of
    :mod:`features.load`.
    """
    config = config or GeneratorConfig()
    calibration = _calibration(config)
    c: dict[str, np.ndarray] = {}
    for spec in FIELDS:
        if not spec.is_feature:
            continue
        column = cases[spec.name] if spec.name in cases else pd.Series(np.nan, index=cases.index)
        if spec.kind is Kind.CODE:
            codes = pd.Categorical(column, categories=list(spec.code_values)).codes
            c[spec.name] = codes.astype(np.int8)
        else:
            c[spec.name] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    probabilities = _probabilities(c, calibration)
    return pd.DataFrame(
        {"p_complex_true": probabilities["complex"], "p_assets_true": probabilities["assets"]},
        index=cases.index,
    )


def _decimal_text(column: pa.Array) -> pa.Array:
    """Amounts as plain decimals ("125000.50", "3000"): never an exponent."""
    values = column.to_numpy(zero_copy_only=False)
    missing = np.isnan(values)
    cents = np.rint(np.where(missing, 0.0, values) * 100.0).astype(np.int64)
    whole = pa.array(cents // 100).cast(pa.string())
    fraction = pc.utf8_lpad(pa.array(cents % 100).cast(pa.string()), 2, "0")
    text = pc.if_else(pa.array(cents % 100 == 0), whole, _join(whole, ".", fraction))
    return pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), text)


def _csv_ready(table: pa.Table) -> pa.Table:
    """The table as the CSV should read: amounts as decimal text, the rest as typed."""
    for i, name in enumerate(table.column_names):
        spec = FIELD_BY_NAME.get(name)
        if spec is not None and spec.kind is Kind.AMOUNT:
            text = _decimal_text(table.column(i).combine_chunks())
            table = table.set_column(i, pa.field(name, pa.string()), text)
    return table


class _Sink:
    """A streaming CSV or Parquet writer into a temporary file next to its target."""

    def __init__(self, target: Path, fmt: str):
        self.target = target
        self.format = fmt
        # A fresh name the writer creates itself, so the file gets the usual permissions
        # (mkstemp would make it private to the user).
        self.temporary = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
        self.writer = None

    def write(self, table: pa.Table) -> None:
        if self.format == "csv":
            import pyarrow.csv as pacsv

            table = _csv_ready(table)
            if self.writer is None:
                # No quoting: no value of ours holds a comma, quote or line break.
                options = pacsv.WriteOptions(quoting_style="none", quoting_header="none")
                self.writer = pacsv.CSVWriter(
                    str(self.temporary), table.schema, write_options=options
                )
        elif self.writer is None:
            import pyarrow.parquet as pq

            self.writer = pq.ParquetWriter(str(self.temporary), table.schema)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def commit(self) -> None:
        os.replace(self.temporary, self.target)

    def discard(self) -> None:
        try:
            self.close()
        finally:
            self.temporary.unlink(missing_ok=True)


def write_synthetic(
    n: int,
    out: str | os.PathLike,
    truth: str | os.PathLike | None = None,
    seed: int = 0,
    with_pii: bool = False,
    config: GeneratorConfig | None = None,
) -> None:
    """Write ``n`` synthetic cases to ``out`` and, if given, their truth to ``truth``.

    The format follows the extension (``.csv``: UTF-8, booleans ``true``/``false``,
    integers without a fraction, amounts as plain decimals, empty for missing;
    ``.parquet``).  Files are written atomically: into a temporary file in the same
    folder, moved into place at the end; nothing is left behind on failure.  For
    ``n`` >= :data:`PROGRESS_FROM` a progress bar goes to stderr when it is a terminal.
    """
    from tqdm import tqdm

    config = config or GeneratorConfig()
    targets = [(Path(out), "output")] + ([(Path(truth), "truth file")] if truth is not None else [])
    formats = []
    for path, what in targets:
        try:
            formats.append(file_format(path))
        except ValueError as error:
            raise ValueError(f"{what} {error}") from None
    if truth is not None and Path(out).resolve() == Path(truth).resolve():
        raise ValueError(f"the output and the truth file are the same path: {out}")
    sinks: list[_Sink] = []
    try:
        for (path, _), fmt in zip(targets, formats, strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            sinks.append(_Sink(path, fmt))
        show = n >= PROGRESS_FROM and sys.stderr.isatty()
        with tqdm(
            total=n,
            unit="case",
            unit_scale=True,
            desc="generate",
            disable=not show,
            file=sys.stderr,
        ) as progress:
            for block in _blocks(n, seed, config, with_pii):
                sinks[0].write(block.cases)
                if truth is not None:
                    sinks[1].write(block.truth)
                progress.update(block.cases.num_rows)
        for sink in sinks:
            sink.close()
        for sink in sinks:
            sink.commit()
    except BaseException:
        for sink in sinks:
            sink.discard()
        raise


# ==========================================================================
# Calibration targets and how they are measured
# ==========================================================================


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
        return cases[name].to_numpy(dtype=np.float64, na_value=np.nan)

    def flag(name: str) -> np.ndarray:
        return number(name) == 1.0  # missing counts as false

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
