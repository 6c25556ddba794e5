"""``POST /follow_up``'s request and response, derived from the terminated-case record.

The terminated case is built from :data:`features.terminated.TERMINATED_RECORD`
the way :func:`serving.schemas.case_model` builds the new case from its record:
the same strictness, the same field-level 422s, personal data refused by name
without its value being read, and the record's own rules across fields (the
ones ``triage follow-up`` and ``triage validate --kind terminated`` apply to a
file, with the same words).  Every error about a case also names its
``case_id`` (:class:`serving.middleware.FieldErrorsMiddleware` adds it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self, TypeAlias

from pydantic import (
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from features.record import COURT_ID_TEXT
from features.terminated import TERMINATED_RECORD
from serving.schemas import (
    MAX_BATCH,
    StrictRequest,
    _check_unique_case_ids,
    _errors,
    _field,
    _OpenAPI30Model,
)

#: What a budget may be: a count of follow-ups or a share of the inventory.
BUDGET_PATTERN = r"^\s*(\d+(?:\.\d+)?\s*%|\d+)\s*$"
MAX_REASONS = 10


def example_terminated_case() -> dict[str, object]:
    """A complete, valid terminated case from the record (the API's example, the warm-up case)."""
    return {spec.name: spec.example for spec in TERMINATED_RECORD.record_fields}


class _TerminatedCaseBase(StrictRequest):
    """What the terminated case model adds: its example and the record's rules across fields."""

    model_config = ConfigDict(
        json_schema_extra=lambda document: document.update(example=example_terminated_case())
    )

    @model_validator(mode="after")
    def _cross_field(self) -> Self:
        values = self.__dict__
        broken = [
            ((name,), rule.code, rule.message)
            for rule in TERMINATED_RECORD.rules
            for name in rule.fields_breaking(values)
        ]
        if broken:
            raise _errors(broken, type(self).__name__)
        return self


def terminated_case_model(name: str = "TerminatedCase") -> type[_TerminatedCaseBase]:
    """The pydantic model of one terminated case as ``POST /follow_up`` receives it.

    Identity, filing, termination and since-termination fields (never the
    follow-up's outcome); values stay plain (dates as ``YYYY-MM-DD`` text).
    """
    fields: dict[str, Any] = {spec.name: _field(spec) for spec in TERMINATED_RECORD.record_fields}
    return create_model(
        name,
        __base__=_TerminatedCaseBase,
        __doc__=(
            "One terminated enforcement case (终本案件) as the terminated-case record defines "
            "it, on the day it is considered for follow-up work. Personal data is refused."
        ),
        **fields,
    )


if TYPE_CHECKING:
    TerminatedCase: TypeAlias = _TerminatedCaseBase
else:
    TerminatedCase = terminated_case_model()


class FollowUpRequest(StrictRequest):
    """Body of ``POST /follow_up``: terminated cases to rank, the budget, the court."""

    cases: list[TerminatedCase] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"The terminated cases to rank, 1 to {MAX_BATCH:,}, with distinct case_id.",
    )
    budget: str | int = Field(
        default="100%",
        description="Follow-ups to list: a count (`300`) or a share of the cases considered "
        '(`"5%"`, rounded up). Default: every case, ranked.',
        json_schema_extra={"example": "5%"},
    )
    court: str | None = Field(
        default=None,
        min_length=COURT_ID_TEXT.min_length,
        max_length=COURT_ID_TEXT.max_length,
        pattern=COURT_ID_TEXT.pattern,
        description="Only this court's cases (`court_id`); the others are not considered.",
    )
    reasons: int = Field(
        default=3,
        ge=1,
        le=MAX_REASONS,
        description="Reasons of the probability per case (the amount's strongest is added).",
    )

    model_config = ConfigDict(
        json_schema_extra=lambda document: document.update(
            example={"cases": [example_terminated_case()], "budget": "5%"}
        )
    )

    @field_validator("budget")
    @classmethod
    def _budget(cls, value: str | int) -> str | int:
        from models.follow_up import budget_count  # pure, but it imports the model code

        try:
            budget_count(value, 1)
        except ValueError as error:
            raise PydanticCustomError("budget", str(error)) from None
        return value

    @model_validator(mode="after")
    def _unique_case_ids(self) -> FollowUpRequest:
        _check_unique_case_ids(self)  # type: ignore[arg-type]  # reads .cases only
        return self


class FollowUpRow(_OpenAPI30Model):
    """One case of the list (the columns of ``triage follow-up``'s file)."""

    rank: int = Field(description="1 is the case worth the most yuan per follow-up.")
    case_id: str
    court_id: str
    expected_yuan: float = Field(description="p_resume × expected_amount, CNY per follow-up.")
    p_resume: float = Field(description="Probability a follow-up recovers something in 6 months.")
    expected_amount: float = Field(description="Expected yuan recovered when it does.")
    unpaid_amount: float
    reasons_zh: str
    reasons_en: str
    resume_model_version: str
    recovery_model_version: str
    legal_inquiry: str = Field(description="The six-monthly legal inquiry continues.")


class FollowUpNotice(_OpenAPI30Model):
    zh: str
    en: str


class FollowUpResponse(_OpenAPI30Model):
    """The follow-up list: the cases worth the most yuan per follow-up, best first."""

    follow_ups: list[FollowUpRow]
    inventory: int = Field(description="Cases considered (of `court`, when given).")
    budget: int = Field(description="Follow-ups the budget allows of that inventory.")
    expected_yuan: float = Field(description="Expected yuan of the whole list.")
    legal_inquiry: FollowUpNotice = Field(
        description="This list orders the extra work only; it never replaces the six-monthly "
        "legal network inquiry (网络查控)."
    )
    models: dict[str, dict[str, str]] = Field(
        description="`resume` and `recovery`: registered name and version."
    )
    scored_at: str = Field(description="When the cases were scored (ISO-8601 UTC, ms).")


__all__ = [
    "FollowUpRequest",
    "FollowUpResponse",
    "TerminatedCase",
    "example_terminated_case",
    "terminated_case_model",
]
