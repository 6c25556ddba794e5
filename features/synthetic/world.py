"""The synthetic world: its parameters, its fixed tables, and small numerical helpers.

:class:`GeneratorConfig` holds what a user may set (the filing window and every
estimated rate); :func:`_world` builds the fixed tables (provinces, causes of
action, courts) once, on first use.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.record import FIELD_BY_NAME, PROVINCES

# Logits are clipped so that every probability stays strictly inside (0, 1).
_LOGIT_CLIP = 16.0


# ==========================================================================
# Configuration
# ==========================================================================


def _rate(default: float, description: str) -> Any:
    """A rate: a field strictly between 0 and 1 (``Any``, as what ``Field`` returns)."""
    return Field(default=default, gt=0.0, lt=1.0, description=description)


class GeneratorConfig(BaseModel):
    """What the synthetic world looks like: the filing window and every estimated rate.

    Rates are shares of all cases unless said otherwise.  Defaults follow the
    calibration targets of the domain notes; the sourced ones (assets found,
    fully performed) are here too, so a court can match its own figures.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: date = Field(default=date(2021, 1, 1), description="First filing date.")
    end: date = Field(default=date(2024, 12, 31), description="Last filing date.")

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
    claim_median: float = Field(default=50_000.0, gt=0, description="Median claim, CNY.")
    claim_sigma: float = Field(default=2.0, gt=0.2, lt=4.0, description="Spread of log claim.")

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
    """The codes of a coded field, in the contract's order."""
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
    """The fixed tables, built on first use."""
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
    location, spread = _claim_mixture(share, cause_rows)
    courts = _courts(provinces, [r[3] for r in rows])
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
        respondent_probs=_normalise([r.respondent for r in cause_rows]),
        applicant_probs=_normalise([r.applicant for r in cause_rows]),
        basis_probs=_normalise([r.basis for r in cause_rows]),
        multi_respondent=np.array([r.several_respondents for r in cause_rows]),
        multi_applicant=np.array([r.several_applicants for r in cause_rows]),
        court_ids=courts.ids,
        court_suffix=courts.suffix,
        court_city=courts.city,
        court_stride=courts.stride,
        court_group_cum=courts.group_cum,
        n_courts=len(courts.ids),
    )


def _normalise(rows: list[tuple[float, ...]]) -> np.ndarray:
    """Rows of weights as rows of probabilities."""
    array = np.array(rows, dtype=float)
    probabilities: np.ndarray = array / array.sum(axis=1, keepdims=True)
    return probabilities


def _claim_mixture(share: np.ndarray, causes: list[_Cause]) -> tuple[np.ndarray, np.ndarray]:
    """Location and spread of log claim per cause, in units of the configured spread.

    Claim: a log-normal per cause; the mixture is then rescaled so that its log has
    median 0 and spread 1, to which the config's claim_median and claim_sigma apply.
    """
    location = np.log(np.array([r.claim_median for r in causes]))
    spread = np.array([r.claim_spread for r in causes])
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
    return location - 0.5 * (low + high), spread


class _Courts(NamedTuple):
    """Every court, sorted by (province, level); see the court fields of :class:`_World`."""

    ids: tuple[str, ...]
    suffix: tuple[str, ...]
    city: np.ndarray
    stride: np.ndarray
    group_cum: np.ndarray


def _courts(provinces: tuple[str, ...], caseloads: list[float]) -> _Courts:
    """The courts of every province; strides and caseload weights drawn once from a fixed seed."""
    rng = np.random.default_rng(np.random.SeedSequence(7_301_2260))
    ids: list[str] = []
    suffix: list[str] = []
    city: list[int] = []
    stride: list[int] = []
    group: list[int] = []
    court_weight: list[float] = []
    for p, code in enumerate(provinces):
        for level_name, c, d in _court_layout(caseloads[p]):
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
    return _Courts(
        ids=tuple(ids[i] for i in order),
        suffix=tuple(suffix[i] for i in order),
        city=np.array(city)[order],
        stride=np.array(stride)[order],
        group_cum=cum,
    )


def _court_layout(caseload: float) -> list[tuple[str, int, int]]:
    """(level, city, district) of a province's courts.

    One high court per province, intermediate courts per city, basic courts per
    district; as many as the caseload calls for.
    """
    n_basic = int(round(10 + 6 * caseload))
    n_cities = max(2, round(n_basic / 7))
    courts = [("high", 0, 0)] + [("intermediate", c, 0) for c in range(1, n_cities + 1)]
    counts = np.zeros(n_cities + 1, dtype=int)
    for b in range(n_basic):
        c = 1 + b % n_cities
        counts[c] += 1
        courts.append(("basic", c, 1 + counts[c]))  # districts from 02: 01 is the city
    return courts


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
    """The logistic function, of logits clipped to +-16."""
    # tanh form: no overflow warnings, and clipped logits keep p strictly in (0, 1).
    p: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * np.clip(x, -_LOGIT_CLIP, _LOGIT_CLIP)))
    return p


def _logit(p: np.ndarray) -> np.ndarray:
    """Log odds, of probabilities clipped away from 0 and 1."""
    p = np.clip(p, 1e-9, 1 - 1e-9)
    logit: np.ndarray = np.log(p / (1 - p))
    return logit


def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probs`` (n x k), as int8 indices."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cum[:, -1:]
    picked: np.ndarray = np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1).astype(np.int8)
    return picked


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
