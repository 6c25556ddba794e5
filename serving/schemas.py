"""The API's request and response models, derived from the one case record.

:func:`case_model` builds the pydantic model of a case from
:data:`features.record.FIELDS` — types, allowed codes, bounds, descriptions
(with the Chinese labels) and examples — so the OpenAPI document at
``/docs.json`` and the validation of every request follow the contract with
no second copy of the fields.  The models are strict: unknown fields, numbers
written as strings, ``3.0`` for an integer, ``NaN`` and ``Infinity`` are all
refused, and personal-data fields (:data:`features.record.PII_FIELDS`) are
refused by name without their values ever entering an error message.

The rules across fields are the record's own table, :data:`features.rules.RULES`,
which the loader applies too: a case the API refuses for breaking one is refused
in a file as well, with the same words.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode
from pydantic_core import InitErrorDetails, PydanticCustomError

from features.record import (
    DATE_MESSAGE,
    FIELD_BY_NAME,
    PII_FIELDS,
    PRINTABLE_TEXT,
    RECORD_FIELDS,
    FieldSpec,
    Kind,
    TextRule,
    example_case,
)
from features.rules import problems_in_case
from models.routing import STREAMS

#: Most cases one ``/triage_batch`` request may carry.
MAX_BATCH = 10_000
#: Sanity bounds where the contract sets none, so that no number can overflow the
#: feature formulas: counts and days up to a billion, amounts up to 10^15 CNY.
MAX_INTEGER = 1_000_000_000
MAX_AMOUNT = 1e15
STREAM_VALUES = STREAMS  # the routing policy's streams

STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

# Messages only the API gives: a batch names a duplicate's first copy, and personal
# data is refused (the loader drops it from a file).
MSG_DUPLICATE = "duplicate case_id {case_id}, first at cases.{first}"
MSG_PERSONAL = "personal data is not accepted: remove this field (its value was not read)"

_DATE_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _real_date(value: str) -> str:
    """A date written YYYY-MM-DD that exists in the calendar; kept as text."""
    if _DATE_SHAPE.fullmatch(value):
        try:
            dt.date.fromisoformat(value)
            return value
        except ValueError:
            pass
    raise PydanticCustomError("date_format", DATE_MESSAGE)


def _description(spec: FieldSpec) -> str:
    text = f"{spec.zh} · {spec.en}. {spec.description}"
    if spec.codes:
        text += " Codes: " + "; ".join(f"`{c.code}` {c.zh} ({c.en})" for c in spec.codes) + "."
    if not spec.required:
        text += " Optional: null or absent when not known."
    return text


def _annotation(spec: FieldSpec) -> tuple[Any, dict[str, Any]]:
    """The Python type of a field and its pydantic constraints."""
    constraints: dict[str, Any] = {}
    if spec.kind is Kind.STRING:
        rule = spec.text or PRINTABLE_TEXT
        # Lengths first (pydantic checks them before the pattern): a value of the wrong
        # length is refused as such, a pattern mismatch is then about the characters.
        constraints["min_length"] = rule.min_length
        constraints["max_length"] = rule.max_length
        constraints["pattern"] = rule.pattern
        return str, constraints
    if spec.kind is Kind.DATE:
        constraints["json_schema_extra"] = {
            "format": "date",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        }
        return Annotated[str, AfterValidator(_real_date)], constraints
    if spec.kind is Kind.CODE:
        return Literal[spec.code_values], constraints
    if spec.kind in (Kind.AMOUNT, Kind.INTEGER):
        if spec.minimum is not None:
            constraints["gt" if spec.min_exclusive else "ge"] = spec.minimum
        default_maximum = MAX_AMOUNT if spec.kind is Kind.AMOUNT else MAX_INTEGER
        constraints["le"] = spec.maximum if spec.maximum is not None else default_maximum
        return (float if spec.kind is Kind.AMOUNT else int), constraints
    if spec.kind is Kind.BOOLEAN:
        return bool, constraints
    raise ValueError(f"field {spec.name}: kind {spec.kind} is not part of a request")


def _field(spec: FieldSpec) -> tuple[Any, Any]:
    annotation, constraints = _annotation(spec)
    extra = constraints.pop("json_schema_extra", {})
    if spec.example is not None:
        # OpenAPI 3.0 (what BentoML publishes) knows `example`, not JSON Schema's `examples`.
        extra["example"] = spec.example
    if spec.required:
        return annotation, Field(
            ..., description=_description(spec), json_schema_extra=extra, **constraints
        )
    return annotation | None, Field(
        None, description=_description(spec), json_schema_extra=extra, **constraints
    )


def _errors(loc_errors: list[tuple], title: str):
    """A ValidationError from ``(loc, type, message[, context])`` (input values never included).

    ``message`` is a template: ``{name}`` takes ``context[name]``.
    """
    return ValidationError.from_exception_data(
        title,
        [
            InitErrorDetails(type=PydanticCustomError(kind, message, *context), loc=loc, input=None)
            for loc, kind, message, *context in loc_errors
        ],
    )


class OpenAPI30Schema(GenerateJsonSchema):
    """JSON Schema as OpenAPI 3.0 reads it (the version BentoML's /docs.json declares).

    pydantic writes JSON Schema 2020-12: ``"exclusiveMinimum": 0`` and
    ``anyOf [..., {"type": "null"}]``.  OpenAPI 3.0 means ``"minimum": 0,
    "exclusiveMinimum": true`` and ``"nullable": true``; tools that follow it
    (schemathesis, code generators) refuse or misread the 2020-12 forms.  A
    pattern with Unicode categories (``\\p{Cc}``) is left out for the same reason.
    """

    def generate(self, schema, mode="validation"):
        return _openapi30(super().generate(schema, mode=mode))


def _openapi30(node: Any) -> Any:
    if isinstance(node, list):
        return [_openapi30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _openapi30(value) for key, value in node.items()}
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node.get(bound), bool):
            node[limit], node[bound] = node[bound], True
    pattern = node.get("pattern")
    if node.get("type") == "string" and isinstance(pattern, str) and r"\p{" in pattern:
        # 3.0's patterns are ECMA-262 without the `u` flag, where \p{Cc} is no Unicode
        # class (tools refuse or misread it): the rule is in the field's description.
        node.pop("pattern")
    variants = node.get("anyOf")
    if isinstance(variants, list) and {"type": "null"} in variants:
        rest = [v for v in variants if v != {"type": "null"}]
        if len(rest) == 1:
            node.pop("anyOf")
            node = {**rest[0], **node, "nullable": True}
            if "enum" in node and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]  # 3.0: null must be one of the values
    return node


class _OpenAPI30Model(BaseModel):
    """Models whose JSON schema (and so the OpenAPI document) is OpenAPI 3.0."""

    @classmethod
    def model_json_schema(
        cls,
        by_alias: bool | None = True,
        ref_template: str = "#/$defs/{model}",
        schema_generator: type[GenerateJsonSchema] = OpenAPI30Schema,
        mode: JsonSchemaMode = "validation",
        **kwargs: Any,
    ) -> dict[str, Any]:
        return super().model_json_schema(
            by_alias=by_alias,
            ref_template=ref_template,
            schema_generator=schema_generator,
            mode=mode,
            **kwargs,
        )


class StrictRequest(_OpenAPI30Model):
    """Base of every request model: strict and closed (unknown fields are refused).

    Personal-data fields are unknown fields too, so they are refused without
    their values being read; :func:`describe_errors` names them as personal
    data.  (Checking in the error path only keeps valid requests free of a
    Python validator per object.)
    """

    model_config = STRICT


def _check_case(case: BaseModel) -> BaseModel:
    """The record's rules across fields (:data:`features.rules.RULES`) on one case."""
    values = case.__dict__
    broken = problems_in_case(values)
    if broken:
        problems = [((name,), rule.code, rule.message) for rule, name in broken]
        raise _errors(problems, type(case).__name__)
    return case


def _example(document: dict[str, Any]) -> None:
    document["example"] = example_case()


class _CaseBase(StrictRequest):
    """What every case model shares: the example, and the record's rules across fields."""

    model_config = ConfigDict(json_schema_extra=_example)

    @model_validator(mode="after")
    def _cross_field(self) -> Self:
        _check_case(self)
        return self


def case_model(name: str = "Case") -> type[_CaseBase]:
    """The pydantic model of one case as the API receives it, built from the contract.

    Identity and feature fields only (outcomes are never sent for scoring).
    Field values stay plain Python values (dates as ``YYYY-MM-DD`` text), so
    ``model.__dict__`` is the record :meth:`models.triage.Triage.decide` takes.
    """
    fields: dict[str, Any] = {spec.name: _field(spec) for spec in RECORD_FIELDS}
    model = create_model(
        name,
        __base__=_CaseBase,
        __doc__=(
            "One enforcement case (执行案件) as the case-record contract defines it: "
            "identity fields and the features known at filing and from the first "
            "network inquiry. Personal data is refused."
        ),
        **fields,
    )
    return model


if TYPE_CHECKING:
    # To the type checker a case is what every case model shares; its fields are
    # built from the contract when the module is imported.
    Case: TypeAlias = _CaseBase
else:
    Case = case_model()


class TriageRequest(StrictRequest):
    """Body of ``POST /triage``: one case."""

    case: Case = Field(description="The case to triage.")

    model_config = ConfigDict(
        json_schema_extra=lambda document: document.update(example={"case": example_case()})
    )


def _check_unique_case_ids(request: BatchRequest) -> BatchRequest:
    first_at: dict[str, int] = {}
    problems = []
    for position, case in enumerate(request.cases):
        case_id = vars(case)["case_id"]
        if case_id in first_at:
            # A case number, not personal data: naming it tells the desk which case to fix.
            context = {"case_id": case_id, "first": first_at[case_id]}
            problems.append((("cases", position, "case_id"), "duplicate", MSG_DUPLICATE, context))
        first_at.setdefault(case_id, position)
    if problems:
        raise _errors(problems, "BatchRequest")
    return request


class BatchRequest(StrictRequest):
    """Body of ``POST /triage_batch``: 1 to 10,000 cases with distinct ``case_id``."""

    cases: list[Case] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"The cases to triage, 1 to {MAX_BATCH:,}; answered in the same order.",
    )

    model_config = ConfigDict(
        json_schema_extra=lambda document: document.update(example={"cases": [example_case()]})
    )

    @model_validator(mode="after")
    def _unique_case_ids(self) -> BatchRequest:
        return _check_unique_case_ids(self)


def _text_rule(name: object) -> TextRule | None:
    spec = FIELD_BY_NAME.get(name) if isinstance(name, str) else None
    return spec.text if spec is not None else None


def describe_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Field-level problems from pydantic's errors (``include_input=False``): which field, what.

    An unknown field that is personal data is reported as such.  Values are
    never part of the result.
    """
    described = []
    for error in errors:
        loc = [part for part in error.get("loc", ()) if part != "root"]
        kind, message = error.get("type"), error.get("msg")
        if kind == "extra_forbidden" and loc and loc[-1] in PII_FIELDS:
            kind, message = "personal_data", MSG_PERSONAL
        elif kind == "string_pattern_mismatch" and loc and (rule := _text_rule(loc[-1])):
            # The record's words, not the regular expression (lengths were checked first).
            kind, message = rule.code, rule.message
        described.append(
            {
                "field": ".".join(str(part) for part in loc) or "(body)",
                "loc": loc,
                "type": kind,
                "message": message,
            }
        )
    return described


# --------------------------------------------------------------------------
# Responses (the service builds plain dicts; these models document them and
# tests validate the dicts against them)
# --------------------------------------------------------------------------


class Reason(_OpenAPI30Model):
    """One factor behind a probability, strongest first."""

    code: str = Field(description="Stable code `feature:phrase`, for counting reasons.")
    zh: str = Field(description="What a clerk reads, in Chinese.")
    en: str = Field(description="The same in English.")
    effect: float = Field(description="Signed contribution to the log-odds of the probability.")


class Reasons(_OpenAPI30Model):
    complex: list[Reason] = Field(description="Top reasons behind p_complex.")
    assets: list[Reason] = Field(description="Top reasons behind p_assets.")


class Thresholds(_OpenAPI30Model):
    """Routing thresholds on p_complex applied to this decision."""

    simple_below: float = Field(description="`simple` when p_complex is below this.")
    complex_from: float = Field(description="`complex` when p_complex is at or above this.")


class PolicyCapacity(_OpenAPI30Model):
    """A per-day review capacity as the share of the court's new cases it held."""

    review_share: float = Field(description="The review share held, (0, 1].")
    source: Literal["review_per_day", "max_review_fallback"] = Field(
        description="`review_per_day`: cases per day over the court's intake; "
        "`max_review_fallback`: no intake for the court yet, the policy's `max_review` applied."
    )
    review_per_day: float = Field(description="The policy's capacity, cases per day.")
    intake_per_day: float | None = Field(
        description="The court's distinct new cases per day over `intake_window` (decision log)."
    )
    intake_window: str | None = Field(description="`YYYY-MM-DD..YYYY-MM-DD`, whole UTC days.")
    note: str | None = Field(description="Why `max_review` stood in, when it did.")


class PolicyRef(_OpenAPI30Model):
    """The court policy this decision was routed by; the decision log keeps its id and version."""

    id: str = Field(
        description="`court:440305`, `province:44`, `national`, or `model-default` (a model "
        "without a validation summary routes by its own thresholds; no court policy applies)."
    )
    scope: Literal["court", "province", "national", "model"] = Field(
        description="Where the policy is set: the case's court, its province, the nation, or "
        "the model itself."
    )
    version: int = Field(
        ge=0,
        description="The policy's version within its scope (`triage policy history`); 0 for "
        "the built-in national default and for `model-default`.",
    )
    capacity: PolicyCapacity | None = Field(
        default=None,
        description="Only for a policy stating its review capacity in cases per day: the "
        "share of new cases it held for this court and the intake it came from, or why the "
        "policy's `max_review` stood in.",
    )


class ModelRef(_OpenAPI30Model):
    name: str = Field(description="Registered model name.")
    version: str = Field(description="Registered model version.")


class Models(_OpenAPI30Model):
    stream: ModelRef
    assets: ModelRef


class Decision(_OpenAPI30Model):
    """The decision on one case; `decision_id` finds it in the decision log."""

    decision_id: str = Field(description="Time-sortable id of this decision in the decision log.")
    decided_at: str = Field(description="When it was decided (ISO-8601 UTC, milliseconds).")
    case_id: str = Field(description="The case's case_id, as sent.")
    stream: Literal[STREAMS] = Field(  # type: ignore[valid-type]
        description="Routing: simple 简案, complex 繁案, review 人工复核."
    )
    p_complex: float = Field(ge=0, le=1, description="Calibrated probability the case is complex.")
    p_assets: float = Field(
        ge=0, le=1, description="Calibrated probability that assets will be recovered."
    )
    expected_recovery: float | None = Field(
        ge=0,
        description="Expected yuan recovered: p_assets × the expected recovered amount given "
        "that something is recovered, both from the assets model version in `models.assets`. "
        "null when that version carries no amount part (trained before it, or on an export "
        "without recovered_amount).",
    )
    reasons: Reasons
    policy: PolicyRef
    thresholds: Thresholds
    models: Models


class BatchResponse(_OpenAPI30Model):
    decisions: list[Decision] = Field(description="One decision per case, in request order.")


class ModelCard(_OpenAPI30Model):
    """What a served model is: version, alias, training window, policy, test metrics."""

    name: str
    version: str
    alias: str | None = None
    run_id: str | None = None
    trained_at: str | None = None
    training_window: dict[str, list[str]] | None = None
    n_cases: int | None = None
    calibration: str | None = None
    test_metrics: dict[str, float | None] | None = None


class ReloadInfo(_OpenAPI30Model):
    """The worker's following of the registry: what it serves since when, and the last failure."""

    follows_registry: bool = Field(
        description="True under `triage serve`: alias moves reach the worker without a restart."
    )
    tag: str | None = Field(default=None, description="The BentoML model served now.")
    served_since: str | None = Field(default=None, description="Since when it is served here.")
    last_attempt: str | None = Field(default=None, description="When a new tag was last tried.")
    last_attempt_tag: str | None = None
    last_error: str | None = Field(
        default=None,
        description="Why the last tried tag failed to load or warm up here (old models kept).",
    )
    swaps: int = Field(default=0, description="Swaps to new models since the worker started.")
    failures: int = Field(default=0, description="Failed loads since the worker started.")
    published_at: str | None = Field(default=None, description="When the tag was published.")
    refused: dict[str, Any] | None = Field(
        default=None,
        description="The last versions `triage serve` refused to publish (at, versions, error).",
    )


class ModelInfo(_OpenAPI30Model):
    """The models behind the decisions (shadow challengers are scored and logged only)."""

    stream: ModelCard
    assets: ModelCard
    thresholds: Thresholds
    policy: dict[str, float] | None = Field(description="The routing policy the thresholds meet.")
    challengers: dict[str, ModelCard] = Field(
        description="Shadow challengers by kind (`stream`, `assets`); never in responses."
    )
    follow_up: dict[str, ModelCard] | None = Field(
        default=None,
        description="The terminated-case champions behind `POST /follow_up` (`resume`, "
        "`recovery`); null when the registry has none (the endpoint then answers 503).",
    )
    bento_model: str = Field(description="BentoML model store tag the service loaded.")
    imported_at: str | None = Field(description="When the versions were imported from MLflow.")
    registry: dict[str, dict[str, str]] | None = Field(
        default=None,
        description="The registry's aliases as they are: model name -> alias -> version "
        "(null for a Bento, which serves what it packed).",
    )
    reload: ReloadInfo | None = Field(default=None, description="How this worker's reloads went.")
    policies: dict[str, Any] | None = Field(
        default=None,
        description="The court policies this worker routes by: `in_force` (policy id -> "
        "version, when set, policy), `refused` (policy tags `triage serve` refused, with the "
        "reason: the policy they would replace stays in force) and `since` (when this book "
        "was swapped in).",
    )
