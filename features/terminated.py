"""The terminated-case record (终本案件): the one definition of every field it carries.

A case that ended as 终结本次执行程序 (terminated for now: nothing recoverable
found) stays in the court's inventory.  For five years after termination the
2016 SPC rules ask for a network inquiry every six months and resumption
(恢复执行) when property appears.  This record is what a court's export holds
about such a case on the day (``as_of_date``) it is considered for follow-up
work beyond that inquiry: a field visit, a reward notice (悬赏公告), an audit,
a look at a spouse's property.

It reuses the new-case record (:mod:`features.record`): the identity fields,
the fields known at filing, the encodings (booleans ``true/false``, ``1/0``,
``是/否``; empty is unknown; amounts plain decimals in CNY) and the personal-data
rule (the same five columns are dropped on entry, never stored).  The first
inquiry's answers at filing are not part of it: what the inquiries found since
termination replaces them.  ``dishonest_listed`` and ``consumption_restricted``
keep their names but mean the status *now*, as of ``as_of_date``.

Outcome of a follow-up (labels, for training and evaluation only): whether
extra work was done in the six months after ``as_of_date``
(``followed_up``), whether money or property was recovered in them
(``recovered_after``) and how much (``recovered_after_amount``).  Exports are
observational: a court follows up the cases it chooses, so a model learnt from
followed-up cases alone sees a biased sample; the synthetic generator
(:mod:`features.synthetic.terminated`) draws follow-ups at random, as a pilot
would, and knows each case's true probability and amount if followed up.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from features.contract import CASE_RECORD, Contract
from features.record import FIELDS, FieldSpec, Group, Kind, _codes
from features.rules import After, AtMost, EmptyUnless, PrefixIs, Rule

_F = FieldSpec
_T, _S, _O = Group.TERMINATION, Group.SINCE, Group.OUTCOME

#: Fields of the new-case record whose meaning changes after termination: redefined below.
_NOW_STATUS = ("dishonest_listed", "consumption_restricted")

#: Identity and filing fields, as the new-case record defines them.
_SHARED: tuple[FieldSpec, ...] = tuple(
    f for f in FIELDS if f.group in (Group.IDENTITY, Group.FILING) and f.name not in _NOW_STATUS
)

#: Grounds of a 终本 ruling (2016 SPC rules, Art. 1).
TERMINATION_REASONS = _codes(
    ("no_property", "未发现可供执行财产", "no property found"),
    ("not_disposable", "财产不能处置", "property found cannot be disposed of"),
    ("disposal_failed", "拍卖变卖不成", "auction or sale failed"),
)

_TERMINATION: tuple[FieldSpec, ...] = (
    _F(
        "terminated_date",
        Kind.DATE,
        _T,
        True,
        "终本日期",
        "termination date",
        "Day of the 终本 ruling (YYYY-MM-DD); after filing_date.",
        example="2024-09-20",
    ),
    _F(
        "termination_reason",
        Kind.CODE,
        _T,
        True,
        "终本事由",
        "ground of termination",
        "Why the case was terminated for now.",
        codes=TERMINATION_REASONS,
        example="no_property",
    ),
    _F(
        "unpaid_amount",
        Kind.AMOUNT,
        _T,
        True,
        "未履行金额",
        "unpaid amount",
        "What is still owed at termination, CNY, > 0 and at most claim_amount.",
        minimum=0,
        min_exclusive=True,
        example=121500.5,
    ),
    _F(
        "paid_before_termination",
        Kind.AMOUNT,
        _T,
        True,
        "终本前执行到位金额",
        "paid before termination",
        "What was recovered before termination, CNY, >= 0.",
        minimum=0,
        example=3500.0,
    ),
    _F(
        "as_of_date",
        Kind.DATE,
        _T,
        True,
        "导出日期",
        "as-of date",
        "Day the record was exported (YYYY-MM-DD); after terminated_date.  Every field "
        "below is as of this day.",
        example="2025-06-30",
    ),
)

_SINCE: tuple[FieldSpec, ...] = (
    _F(
        "inquiries_since",
        Kind.INTEGER,
        _S,
        True,
        "终本后查控次数",
        "inquiries since termination",
        "Network inquiries run since termination (one every six months by the rules).",
        minimum=0,
        example=1,
    ),
    _F(
        "last_inquiry_date",
        Kind.DATE,
        _S,
        False,
        "最近查控日期",
        "last inquiry date",
        "Day of the last inquiry since termination; empty when none (inquiries_since = 0).",
        example="2025-03-20",
    ),
    _F(
        "last_bank_balance",
        Kind.AMOUNT,
        _S,
        False,
        "最近查控存款",
        "deposits at the last inquiry",
        "Deposits and online funds found at the last inquiry, CNY; empty when none was run.",
        minimum=0,
        example=420.0,
    ),
    _F(
        "last_real_estate_count",
        Kind.INTEGER,
        _S,
        False,
        "最近查控不动产数",
        "real estate at the last inquiry",
        "Real-estate units found at the last inquiry; empty when none was run.",
        minimum=0,
        example=0,
    ),
    _F(
        "last_vehicle_count",
        Kind.INTEGER,
        _S,
        False,
        "最近查控车辆数",
        "vehicles at the last inquiry",
        "Motor vehicles found at the last inquiry; empty when none was run.",
        minimum=0,
        example=0,
    ),
    _F(
        "last_equity_stakes",
        Kind.INTEGER,
        _S,
        False,
        "最近查控股权数",
        "equity stakes at the last inquiry",
        "Equity interests found at the last inquiry; empty when none was run.",
        minimum=0,
        example=0,
    ),
    _F(
        "dishonest_listed",
        Kind.BOOLEAN,
        _S,
        True,
        "失信被执行人",
        "on the dishonest-debtor list",
        "The respondent is on the list of dishonest judgment debtors now.",
        example=True,
    ),
    _F(
        "consumption_restricted",
        Kind.BOOLEAN,
        _S,
        True,
        "限制消费",
        "consumption restricted",
        "The respondent is under a high-consumption restriction now.",
        example=True,
    ),
    _F(
        "new_cases_as_applicant",
        Kind.INTEGER,
        _S,
        True,
        "终本后作为原告或申请人的案件数",
        "new cases as applicant",
        "Cases the respondent has since brought as plaintiff or applicant (a sign of "
        "income or claims of its own).",
        minimum=0,
        example=0,
    ),
    _F(
        "new_registrations",
        Kind.INTEGER,
        _S,
        True,
        "终本后新登记财产数",
        "new registrations",
        "Companies, vehicles or property newly registered to the respondent since termination.",
        minimum=0,
        example=0,
    ),
    _F(
        "applicant_leads",
        Kind.INTEGER,
        _S,
        True,
        "申请人提供财产线索数",
        "applicant's property leads",
        "Property leads (财产线索) the applicant has filed since termination.",
        minimum=0,
        example=1,
    ),
    _F(
        "debtor_reported_property",
        Kind.BOOLEAN,
        _S,
        True,
        "被执行人已申报财产",
        "debtor reported property",
        "The respondent filed a property report (财产报告) since termination.",
        example=False,
    ),
)

_OUTCOME: tuple[FieldSpec, ...] = (
    _F(
        "followed_up",
        Kind.BOOLEAN,
        _O,
        False,
        "已开展额外核查",
        "followed up",
        "Extra follow-up work was done in the six months after as_of_date.",
    ),
    _F(
        "recovered_after",
        Kind.LABEL,
        _O,
        False,
        "六个月内执行到位",
        "recovered within six months",
        "Money or property was recovered within the six months after as_of_date.",
    ),
    _F(
        "recovered_after_amount",
        Kind.AMOUNT,
        _O,
        False,
        "六个月内执行到位金额",
        "amount recovered within six months",
        "How much was recovered in those six months, CNY (0 when nothing).",
        minimum=0,
    ),
)

#: The terminated-case record's fields, in the order files are written.
TERMINATED_FIELDS: tuple[FieldSpec, ...] = _SHARED + _TERMINATION + _SINCE + _OUTCOME

TERMINATED_FIELD_BY_NAME: Mapping[str, FieldSpec] = MappingProxyType(
    {f.name: f for f in TERMINATED_FIELDS}
)

#: What the last inquiry since termination found: unknown until one has run.
LAST_INQUIRY_FIELDS: tuple[str, ...] = (
    "last_inquiry_date",
    "last_bank_balance",
    "last_real_estate_count",
    "last_vehicle_count",
    "last_equity_stakes",
)

#: Outcome columns training data must carry.
TERMINATED_LABELS: tuple[str, ...] = ("followed_up", "recovered_after", "recovered_after_amount")


def _rules() -> tuple[Rule, ...]:
    record = TERMINATED_FIELD_BY_NAME
    return (
        *(
            AtMost(
                code="at_most",
                message=f"is greater than {spec.at_most_field}",
                field=spec.name,
                bound=spec.at_most_field,
                record=record,
            )
            for spec in TERMINATED_FIELDS
            if spec.at_most_field is not None
        ),
        PrefixIs(
            code="court_province",
            message="first two characters differ from the province code",
            field="court_id",
            prefix_field="province",
            length=2,
            record=record,
        ),
        # What is still owed cannot exceed what was claimed.
        AtMost(
            code="at_most",
            message="is greater than claim_amount",
            field="unpaid_amount",
            bound="claim_amount",
            record=record,
        ),
        # The dates follow the case: filed, terminated, inquired, exported.
        After(
            code="date_order",
            message="is not after filing_date",
            field="terminated_date",
            bound="filing_date",
            record=record,
        ),
        After(
            code="date_order",
            message="is not after terminated_date",
            field="as_of_date",
            bound="terminated_date",
            record=record,
        ),
        After(
            code="date_order",
            message="is not after terminated_date",
            field="last_inquiry_date",
            bound="terminated_date",
            record=record,
        ),
        AtMost(
            code="date_order",
            message="is after as_of_date",
            field="last_inquiry_date",
            bound="as_of_date",
            record=record,
        ),
        # No inquiry since termination: nothing it found can be known.
        EmptyUnless(
            code="no_inquiry_since",
            message="must be empty when inquiries_since is 0",
            fields=LAST_INQUIRY_FIELDS,
            flag="inquiries_since",
            record=record,
        ),
    )


#: The terminated-case record as a contract for the loader and ``triage validate --kind terminated``.
TERMINATED_RECORD = Contract(
    kind="terminated", fields=TERMINATED_FIELDS, labels=TERMINATED_LABELS, rules=_rules()
)

#: Every record a file may hold, by the name ``--kind`` takes.
CONTRACTS: Mapping[str, Contract] = MappingProxyType(
    {"case": CASE_RECORD, "terminated": TERMINATED_RECORD}
)
