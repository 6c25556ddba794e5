"""The case record (执行案件): the one definition every part of the system reads.

Loading, validation, the feature builder, the generator and the API's request
model all derive from :data:`FIELDS`; nothing else lists the fields.  The
contract it encodes: identity fields (never features), features known at
filing, features from the first network inquiry (empty when the inquiry has
not answered), outcomes (training labels, never features) and personal data
that is dropped on entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class Kind(StrEnum):
    """How a field's values are written and checked."""

    STRING = "string"
    DATE = "date"  # YYYY-MM-DD
    CODE = "code"  # one of a fixed set of ASCII snake_case codes
    AMOUNT = "amount"  # CNY, plain decimal, >= 0 (or > 0 when min_exclusive)
    INTEGER = "integer"
    BOOLEAN = "boolean"
    LABEL = "label"  # 0/1 outcome


#: What the loader and the API say of a date not written YYYY-MM-DD or not in the calendar.
DATE_MESSAGE = "is not a date written YYYY-MM-DD"

#: Longest text accepted in a free-text identity field (a case number is ~20 characters).
MAX_TEXT = 100


@dataclass(frozen=True)
class TextRule:
    """What the values of a text field may be: how long, and which characters.

    One rule for every reader of a case: the loader checks it with Arrow
    (RE2), the API's request model and the dashboard's filters with pydantic
    (Rust's regex).  ``characters`` is one regular-expression character class
    written in the syntax both engines read alike (ranges and ``\\p{..}``
    Unicode categories), so the two cannot drift apart.
    """

    characters: str
    min_length: int
    max_length: int
    #: The ``type`` of an API error and the words of the loader's and the API's message.
    code: str
    message: str

    @property
    def characters_pattern(self) -> str:
        """Matches a value made only of allowed characters (any length)."""
        return f"^{self.characters}*$"

    @property
    def pattern(self) -> str:
        """Matches a whole valid value: allowed characters, allowed length."""
        if self.min_length == self.max_length:
            return f"^{self.characters}{{{self.min_length}}}$"
        return f"^{self.characters}{{{self.min_length},{self.max_length}}}$"

    @property
    def length_message(self) -> str:
        """What the loader says of a value of the wrong length."""
        if self.min_length == self.max_length:
            return f"must be {self.min_length} characters"
        if self.min_length <= 1:  # an empty cell is a missing value, refused as such
            return f"must be at most {self.max_length} characters"
        return f"must be {self.min_length} to {self.max_length} characters"


#: A court code: six ASCII letters or digits (GB/T 2260 digits in practice).  Anything
#: else (``<``, quotes, NUL, a right-to-left override) cannot be a court, and would reach
#: the dashboard's court list without being choosable in its filter.
COURT_ID_TEXT = TextRule(
    characters="[0-9A-Za-z]",
    min_length=6,
    max_length=6,
    code="court_id_characters",
    message="must be ASCII letters or digits only",
)

#: Printable text: no control characters (Unicode Cc: NUL, BEL, ESC, line breaks...),
#: no format characters (Cf: bidi overrides such as U+202E, zero-width spaces and
#: joiners, U+FEFF) and no line or paragraph separators (Zl, Zp).  Format characters
#: are refused too because they are invisible: two case numbers that read the same
#: could differ, and a bidi override makes a reviewer read another case number than
#: the one logged.  A 案号 never needs one.
PRINTABLE_TEXT = TextRule(
    characters=r"[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]",
    min_length=1,
    max_length=MAX_TEXT,
    code="control_character",
    message="contains a control or invisible formatting character",
)


class Group(StrEnum):
    IDENTITY = "identity"
    FILING = "filing"
    INQUIRY = "inquiry"
    OUTCOME = "outcome"
    # The terminated-case record (features.terminated): the 终本 ruling, and what is
    # known of the debtor since.
    TERMINATION = "termination"
    SINCE = "since_termination"


@dataclass(frozen=True)
class Code:
    """One allowed value of a coded field, with what users read."""

    code: str
    zh: str
    en: str


@dataclass(frozen=True)
class FieldSpec:
    """One column of the case record."""

    name: str
    kind: Kind
    group: Group
    required: bool
    zh: str
    en: str
    description: str
    codes: tuple[Code, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False
    example: object = None
    # Integer fields that are bounded above by another field of the same row.
    at_most_field: str | None = None
    #: Length and characters of a text field (every STRING field has one).
    text: TextRule | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def code_values(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.codes)

    @property
    def is_feature(self) -> bool:
        return self.group in (Group.FILING, Group.INQUIRY, Group.TERMINATION, Group.SINCE)


def _codes(*triples: tuple[str, str, str]) -> tuple[Code, ...]:
    return tuple(Code(*t) for t in triples)


#: GB/T 2260 province-level codes (the first two digits of a court code).
PROVINCES = _codes(
    ("11", "北京", "Beijing"),
    ("12", "天津", "Tianjin"),
    ("13", "河北", "Hebei"),
    ("14", "山西", "Shanxi"),
    ("15", "内蒙古", "Inner Mongolia"),
    ("21", "辽宁", "Liaoning"),
    ("22", "吉林", "Jilin"),
    ("23", "黑龙江", "Heilongjiang"),
    ("31", "上海", "Shanghai"),
    ("32", "江苏", "Jiangsu"),
    ("33", "浙江", "Zhejiang"),
    ("34", "安徽", "Anhui"),
    ("35", "福建", "Fujian"),
    ("36", "江西", "Jiangxi"),
    ("37", "山东", "Shandong"),
    ("41", "河南", "Henan"),
    ("42", "湖北", "Hubei"),
    ("43", "湖南", "Hunan"),
    ("44", "广东", "Guangdong"),
    ("45", "广西", "Guangxi"),
    ("46", "海南", "Hainan"),
    ("50", "重庆", "Chongqing"),
    ("51", "四川", "Sichuan"),
    ("52", "贵州", "Guizhou"),
    ("53", "云南", "Yunnan"),
    ("54", "西藏", "Tibet"),
    ("61", "陕西", "Shaanxi"),
    ("62", "甘肃", "Gansu"),
    ("63", "青海", "Qinghai"),
    ("64", "宁夏", "Ningxia"),
    ("65", "新疆", "Xinjiang"),
)

_F = FieldSpec
_I, _P, _Q, _O = Group.IDENTITY, Group.FILING, Group.INQUIRY, Group.OUTCOME

FIELDS: tuple[FieldSpec, ...] = (
    # --- identity: never model features -----------------------------------
    _F(
        "case_id",
        Kind.STRING,
        _I,
        True,
        "案号",
        "case number",
        "Case number (案号), unique within a file; printable text (no control or "
        f"invisible formatting characters), at most {MAX_TEXT} characters.",
        example="(2024)粤0305执1234号",
        text=PRINTABLE_TEXT,
    ),
    _F(
        "court_id",
        Kind.STRING,
        _I,
        True,
        "法院代码",
        "court code",
        "Court code, 6 ASCII letters or digits; the first two are the province code.",
        example="440305",
        text=COURT_ID_TEXT,
    ),
    _F(
        "filing_date",
        Kind.DATE,
        _I,
        True,
        "立案日期",
        "filing date",
        "Day the enforcement case was filed (YYYY-MM-DD).",
        example="2024-03-15",
    ),
    # --- known at filing ---------------------------------------------------
    _F(
        "province",
        Kind.CODE,
        _P,
        True,
        "省份",
        "province",
        "Province of the court, GB/T 2260 two-digit code.",
        codes=PROVINCES,
        example="44",
    ),
    _F(
        "court_level",
        Kind.CODE,
        _P,
        True,
        "法院层级",
        "court level",
        "Level of the enforcing court.",
        codes=_codes(
            ("basic", "基层", "basic"),
            ("intermediate", "中级", "intermediate"),
            ("high", "高级", "high"),
        ),
        example="basic",
    ),
    _F(
        "basis_type",
        Kind.CODE,
        _P,
        True,
        "执行依据",
        "enforcement basis",
        "The instrument being enforced.",
        codes=_codes(
            ("judgment", "判决书", "judgment"),
            ("mediation", "调解书", "mediation statement"),
            ("arbitration", "仲裁裁决", "arbitration award"),
            ("notarial_deed", "公证债权文书", "notarised debt deed"),
            ("payment_order", "支付令", "payment order"),
            ("criminal_property", "刑事裁判涉财产部分", "property part of a criminal judgment"),
            ("administrative", "行政", "administrative"),
        ),
        example="judgment",
    ),
    _F(
        "cause",
        Kind.CODE,
        _P,
        True,
        "案由",
        "cause of action",
        "Cause of action of the underlying dispute.",
        codes=_codes(
            ("private_lending", "民间借贷", "private lending"),
            ("financial_loan", "金融借款", "financial loan"),
            ("credit_card", "信用卡", "credit card"),
            ("sales_contract", "买卖合同", "sales contract"),
            ("labor_pay", "劳动/劳务报酬", "labour pay"),
            ("construction", "建设工程", "construction"),
            ("lease", "租赁", "lease"),
            ("traffic_accident", "交通事故", "traffic accident"),
            ("family_support", "婚姻家庭/抚养", "family and support"),
            ("guarantee", "担保追偿", "guarantee recourse"),
            ("other", "其他", "other"),
        ),
        example="private_lending",
    ),
    _F(
        "claim_amount",
        Kind.AMOUNT,
        _P,
        True,
        "执行标的额",
        "claim amount",
        "Amount to enforce, CNY, > 0.",
        minimum=0,
        min_exclusive=True,
        example=125000.5,
    ),
    _F(
        "applicant_type",
        Kind.CODE,
        _P,
        True,
        "申请执行人类型",
        "applicant type",
        "Type of the (first) applicant.",
        codes=_codes(
            ("natural_person", "自然人", "natural person"),
            ("enterprise", "企业", "enterprise"),
            ("financial_institution", "金融机构", "financial institution"),
            ("government", "机关", "government"),
        ),
        example="natural_person",
    ),
    _F(
        "n_applicants",
        Kind.INTEGER,
        _P,
        True,
        "申请执行人数",
        "number of applicants",
        "Number of applicants, >= 1.",
        minimum=1,
        example=1,
    ),
    _F(
        "n_respondents",
        Kind.INTEGER,
        _P,
        True,
        "被执行人数",
        "number of respondents",
        "Number of respondents, >= 1.",
        minimum=1,
        example=1,
    ),
    _F(
        "respondent_type",
        Kind.CODE,
        _P,
        True,
        "被执行人类型",
        "respondent type",
        "Type of the first respondent.",
        codes=_codes(
            ("natural_person", "自然人", "natural person"),
            ("enterprise", "企业法人", "enterprise"),
            ("individual_business", "个体工商户", "individual business"),
            ("government_organ", "机关事业单位", "government organ"),
        ),
        example="natural_person",
    ),
    _F(
        "respondent_age",
        Kind.INTEGER,
        _P,
        False,
        "被执行人年龄",
        "respondent age",
        "Age of a natural-person respondent, 16-100; empty when not a person or unknown.",
        minimum=16,
        maximum=100,
        example=42,
    ),
    _F(
        "enterprise_status",
        Kind.CODE,
        _P,
        False,
        "企业登记状态",
        "enterprise status",
        "Registration status of an enterprise respondent; empty when not an enterprise.",
        codes=_codes(
            ("active", "存续", "active"),
            ("revoked", "吊销", "licence revoked"),
            ("deregistered", "注销", "deregistered"),
            ("in_liquidation", "清算/破产", "in liquidation or bankruptcy"),
        ),
        example=None,
    ),
    _F(
        "registered_capital",
        Kind.AMOUNT,
        _P,
        False,
        "注册资本",
        "registered capital",
        "Registered capital of an enterprise respondent, CNY, >= 0.",
        minimum=0,
        example=None,
    ),
    _F(
        "respondent_prior_cases",
        Kind.INTEGER,
        _P,
        True,
        "既往执行案件数",
        "prior enforcement cases",
        "Earlier enforcement cases against this respondent, last 5 years.",
        minimum=0,
        example=1,
    ),
    _F(
        "respondent_prior_terminated",
        Kind.INTEGER,
        _P,
        True,
        "既往终本案件数",
        "prior cases ended without property",
        "Of the prior cases, how many ended as 终结本次执行程序.",
        minimum=0,
        at_most_field="respondent_prior_cases",
        example=0,
    ),
    _F(
        "respondent_concurrent_cases",
        Kind.INTEGER,
        _P,
        True,
        "在执案件数",
        "concurrent open cases",
        "Other enforcement cases against this respondent still open.",
        minimum=0,
        example=0,
    ),
    _F(
        "dishonest_listed",
        Kind.BOOLEAN,
        _P,
        True,
        "失信被执行人",
        "on the dishonest-debtor list",
        "Respondent is on the list of dishonest judgment debtors.",
        example=False,
    ),
    _F(
        "consumption_restricted",
        Kind.BOOLEAN,
        _P,
        True,
        "限制消费",
        "consumption restricted",
        "Respondent is under a high-consumption restriction.",
        example=False,
    ),
    _F(
        "litigation_preserved",
        Kind.BOOLEAN,
        _P,
        True,
        "诉讼保全",
        "preserved during litigation",
        "Property was frozen by preservation during the lawsuit.",
        example=True,
    ),
    _F(
        "preserved_amount",
        Kind.AMOUNT,
        _P,
        False,
        "保全金额",
        "preserved amount",
        "Value preserved, CNY; empty when nothing was preserved.",
        minimum=0,
        example=80000.0,
    ),
    _F(
        "whereabouts_known",
        Kind.BOOLEAN,
        _P,
        True,
        "下落明确",
        "whereabouts known",
        "The respondent's residence or seat is known and reachable.",
        example=True,
    ),
    _F(
        "days_since_judgment",
        Kind.INTEGER,
        _P,
        True,
        "生效至立案天数",
        "days since judgment",
        "Days between the instrument taking effect and the filing.",
        minimum=0,
        example=45,
    ),
    # --- first network inquiry (首次网络查控) ---------------------------------
    _F(
        "inquiry_done",
        Kind.BOOLEAN,
        _Q,
        True,
        "首次查控已反馈",
        "first inquiry answered",
        "The first network inquiry has answered; when false every inquiry field is empty.",
        example=True,
    ),
    _F(
        "bank_balance",
        Kind.AMOUNT,
        _Q,
        False,
        "银行存款",
        "bank deposits",
        "Deposits found in all banks, CNY.",
        minimum=0,
        example=3200.0,
    ),
    _F(
        "real_estate_count",
        Kind.INTEGER,
        _Q,
        False,
        "不动产数",
        "real-estate units",
        "Registered real-estate units.",
        minimum=0,
        example=1,
    ),
    _F(
        "vehicle_count",
        Kind.INTEGER,
        _Q,
        False,
        "车辆数",
        "motor vehicles",
        "Registered motor vehicles.",
        minimum=0,
        example=0,
    ),
    _F(
        "securities_value",
        Kind.AMOUNT,
        _Q,
        False,
        "证券市值",
        "securities value",
        "Listed securities and funds, CNY.",
        minimum=0,
        example=0.0,
    ),
    _F(
        "equity_stakes",
        Kind.INTEGER,
        _Q,
        False,
        "股权数",
        "equity stakes",
        "Equity interests held in companies.",
        minimum=0,
        example=0,
    ),
    _F(
        "online_payment_balance",
        Kind.AMOUNT,
        _Q,
        False,
        "网络支付余额",
        "online payment balance",
        "Balances at third-party payment platforms, CNY.",
        minimum=0,
        example=560.0,
    ),
    _F(
        "has_salary_income",
        Kind.BOOLEAN,
        _Q,
        False,
        "有工资收入",
        "salary income",
        "Social-insurance records show a paying employer.",
        example=True,
    ),
    # --- outcomes: labels, never features -----------------------------------
    _F(
        "is_complex",
        Kind.LABEL,
        _O,
        False,
        "难案",
        "complex case",
        "The case needed appraisal/auction, met an objection, went to bankruptcy or ran past 6 months.",
    ),
    _F(
        "has_recoverable_assets",
        Kind.LABEL,
        _O,
        False,
        "有可执行财产",
        "recoverable assets",
        "Money or property was actually recovered (执行到位金额 > 0).",
    ),
    _F(
        "recovered_amount",
        Kind.AMOUNT,
        _O,
        False,
        "执行到位金额",
        "recovered amount",
        "Amount actually recovered, CNY.",
        minimum=0,
    ),
    _F(
        "duration_days",
        Kind.INTEGER,
        _O,
        False,
        "执行天数",
        "duration in days",
        "Days from filing to closing.",
        minimum=0,
    ),
)

#: Columns of personal data that raw exports may carry.  Dropped on entry.
PII_FIELDS: tuple[str, ...] = (
    "respondent_name",
    "respondent_id_number",
    "applicant_name",
    "phone",
    "address",
)

#: The two labels the models learn, with the model each one belongs to.
LABELS: tuple[str, ...] = ("is_complex", "has_recoverable_assets")

FIELD_BY_NAME: Mapping[str, FieldSpec] = MappingProxyType({f.name: f for f in FIELDS})
FEATURE_FIELDS: tuple[FieldSpec, ...] = tuple(f for f in FIELDS if f.is_feature)
INQUIRY_FIELDS: tuple[FieldSpec, ...] = tuple(
    f for f in FIELDS if f.group is Group.INQUIRY and f.name != "inquiry_done"
)
OUTCOME_FIELDS: tuple[FieldSpec, ...] = tuple(f for f in FIELDS if f.group is Group.OUTCOME)
RECORD_FIELDS: tuple[FieldSpec, ...] = tuple(f for f in FIELDS if f.group is not Group.OUTCOME)


def code_label(field_name: str, code: str, lang: str = "zh") -> str:
    """What a user reads for a code (``code_label("cause", "lease") == "租赁"``)."""
    for c in FIELD_BY_NAME[field_name].codes:
        if c.code == code:
            return c.zh if lang == "zh" else c.en
    return code


def example_case() -> dict[str, object]:
    """A complete, valid case from the contract (the API's example, the golden case)."""
    return {f.name: f.example for f in RECORD_FIELDS}
