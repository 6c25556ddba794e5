"""The dashboard's answers: the response model of every ``/v1/stats`` route.

FastAPI checks each answer against its model and BentoML publishes the
models under ``components.schemas`` of ``/docs.json``: a model's docstring
becomes its schema's ``description`` and each ``Field(description=...)``
its property's.  So these are the public documentation of the JSON, and
models without a docstring are left without one on purpose: adding one
changes the published document (explain such a model in a comment).

Times are ISO-8601 UTC strings and days ``YYYY-MM-DD`` (UTC), as the
decision log stores them; shares are ``None`` when there is nothing to divide by.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


# The filters an answer covers, echoed back (None: not filtered on).
class Selection(BaseModel):
    court_id: str | None
    province: str | None
    since: str | None
    until: str | None


# Decisions per stream: simple 简案, complex 繁案, review 人工复核.
class StreamCounts(BaseModel):
    simple: int
    complex: int
    review: int


class Summary(BaseModel):
    """Totals of the selection."""

    selection: Selection
    decisions: int = Field(description="Decisions in the selection.")
    streams: StreamCounts
    shares: dict[str, float | None] = Field(description="Share of the decisions per stream.")
    review_share: float | None = Field(description="Share routed to review (人工复核).")
    mean_p_complex: float | None
    mean_p_assets: float | None
    first: str | None = Field(description="First decision (ISO-8601 UTC).")
    last: str | None = Field(description="Last decision (ISO-8601 UTC).")


# One UTC day of the stream mix.
class DayStreams(BaseModel):
    day: str = Field(description="UTC day, YYYY-MM-DD.")
    simple: int
    complex: int
    review: int
    total: int
    review_share: float | None


class Daily(BaseModel):
    """Decisions per day and stream."""

    selection: Selection
    days: list[DayStreams] = Field(description="Days with decisions, oldest first.")


# One court's stream mix.
class CourtStreams(BaseModel):
    court_id: str
    province: str
    simple: int
    complex: int
    review: int
    total: int
    review_share: float | None


# The courts left out of the list, summed up.
class Others(BaseModel):
    simple: int
    complex: int
    review: int
    courts: int
    total: int


class Courts(BaseModel):
    """Decisions per court and stream, busiest courts first."""

    selection: Selection
    courts: list[CourtStreams]
    n_courts: int = Field(description="Courts with decisions in the selection.")
    others: Others = Field(description="The courts beyond `limit`, summed up.")


# Counts per bin of one probability: over all decisions and per stream.
class Histogram(BaseModel):
    all: list[int]
    simple: list[int]
    complex: list[int]
    review: list[int]


class Probabilities(BaseModel):
    """Distribution of both probabilities, overall and per stream."""

    selection: Selection
    edges: list[float] = Field(description="Bin edges; bin i holds edges[i] ≤ p < edges[i+1].")
    p_complex: Histogram
    p_assets: Histogram


# One reason code and how many of the decisions read give it.
class ReasonCount(BaseModel):
    code: str = Field(description="Stable reason code, `feature:phrase`.")
    zh: str | None
    en: str | None
    count: int = Field(description="Decisions giving this reason among those read.")
    share: float | None


class Reasons(BaseModel):
    """The most frequent reasons of each kind among the latest decisions of the selection."""

    selection: Selection
    decisions_counted: int = Field(description="Decisions read (the latest of the selection).")
    sample_limit: int = Field(description="At most this many of the latest decisions are read.")
    complex: list[ReasonCount] = Field(description="Why cases are (not) complex.")
    assets: list[ReasonCount] = Field(description="Why assets are (not) likely recoverable.")


# One reason of a decision; `effect` is its signed contribution to the log-odds.
class CaseReason(BaseModel):
    code: str
    zh: str
    en: str
    effect: float


# A decision's top reasons of each kind.
class CaseReasons(BaseModel):
    complex: list[CaseReason]
    assets: list[CaseReason]


# One open case with its latest decision in the selection.
class RiskyCase(BaseModel):
    decision_id: str
    decided_at: str
    case_id: str
    court_id: str
    province: str
    filing_date: str
    stream: str
    p_complex: float
    p_assets: float
    reasons: CaseReasons


class Cases(BaseModel):
    """The riskiest open cases (each with its latest decision), riskiest first."""

    selection: Selection
    rank_by: str
    cases: list[RiskyCase]


# One model version that made decisions in the selection.
class ModelVersion(BaseModel):
    kind: str = Field(description="`stream` or `assets`.")
    name: str
    version: str
    first: str | None = Field(description="In use since (first decision, ISO-8601 UTC).")
    last: str | None = Field(description="Last decision made.")
    decisions: int


# One shadow challenger against the champion it shadowed.
class Agreement(BaseModel):
    kind: str
    champion_version: str
    challenger_version: str
    decisions: int = Field(description="Decisions the challenger shadowed.")
    same_stream_share: float | None = Field(
        description="Share where the challenger would have chosen the same stream (stream model)."
    )
    mean_abs_delta_p: float | None = Field(description="Mean |challenger p − champion p|.")
    first: str | None
    last: str | None


class Models(BaseModel):
    """Model versions in use, and the shadow challengers' agreement with the champions."""

    selection: Selection
    versions: list[ModelVersion]
    challengers: list[Agreement]


# The drift of one feature or score (`kind`: numeric, categorical or score).
class DriftItem(BaseModel):
    name: str
    zh: str
    en: str
    kind: str
    psi: float | None
    state: str = Field(description="`ok`, `warn` or `alert`.")
    models: list[str]


class Drift(BaseModel):
    """Population stability index of each feature and score (see `triage drift`)."""

    selection: Selection
    available: bool
    reason: str | None = Field(description="Why there is no report, when there is none.")
    generated_at: str | None
    n_cases: int
    sample_limit: int
    window: dict[str, str | None]
    thresholds: dict[str, float]
    counts: dict[str, int]
    scores: list[DriftItem]
    features: list[DriftItem]


# A code and what the page shows for it.
class Label(BaseModel):
    code: str
    zh: str
    en: str


class Labels(BaseModel):
    """What the page shows for codes, in Chinese and English (from the data contract)."""

    provinces: list[Label]
    streams: list[Label]
    probabilities: list[Label]


# --------------------------------------------------------------------------
# Court policies: the trade-off curve and each court's mix against its policy
# --------------------------------------------------------------------------


# The stream model whose validation data a prediction comes from.
class StreamModelRef(BaseModel):
    name: str
    version: str


class PolicyInForce(BaseModel):
    """The court policy in force: the court's own, its province's or the national one."""

    policy_id: str = Field(description="`national`, `province:44` or `court:440305`.")
    scope: str = Field(description="`national`, `province` or `court`.")
    version: int = Field(description="Version within its scope; 0 is the built-in default.")
    label: str = Field(description="`court:440305 v3`, or `national (built-in default)`.")
    policy: dict[str, float | str | None] = Field(
        description="The policy's fields (capacity as a share, costs in days, error limits)."
    )


class RoutingPrediction(BaseModel):
    """What thresholds do to the stream model's validation cases."""

    share_simple: float
    share_review: float
    share_complex: float
    complex_to_simple: float = Field(description="Share of truly complex cases routed simple.")
    simple_to_complex: float = Field(description="Share of truly simple cases routed complex.")
    expected_cost_days: float = Field(description="Expected cost per case, in days of work.")


class PolicyRouting(BaseModel):
    """The thresholds a policy gives with the served stream model, and what they predict."""

    max_review: float = Field(description="The review capacity used (share of new cases).")
    simple_below: float = Field(description="p_complex below this: simple stream.")
    complex_from: float = Field(description="p_complex from this: complex stream.")
    predicted: RoutingPrediction
    gave_way: list[str] = Field(description="Each constraint that could not hold, and by how much.")


class ReviewCapacityInfo(BaseModel):
    """The review share a court's policy holds, and where it comes from."""

    review_share: float = Field(description="Largest share of new cases routed to review.")
    source: str = Field(
        description="`max_review` (the policy's share), `review_per_day` (its cases per day "
        "over the court's intake) or `max_review_fallback` (a per-day capacity with no intake "
        "for the court yet: `note` says why)."
    )
    review_per_day: float | None = Field(description="The policy's capacity in cases per day.")
    intake_per_day: float | None = Field(
        description="The court's new cases per day over `intake_window` (decision log)."
    )
    intake_window: str | None = Field(description="`YYYY-MM-DD..YYYY-MM-DD`, whole UTC days.")
    note: str | None = Field(description="Why the policy's max_review stands in, if it does.")


class TradeoffPoint(BaseModel):
    """The policy's least-cost routing at one review capacity."""

    capacity: float = Field(description="Review capacity (share of new cases), 0 … 0.5.")
    simple_below: float
    complex_from: float
    share_simple: float
    share_review: float
    share_complex: float
    complex_to_simple: float
    simple_to_complex: float
    expected_cost_days: float
    gave_way: list[str]


class Tradeoff(BaseModel):
    """A court's policy, its routing now, and the curve of review share against errors and cost."""

    court: str | None = Field(description="The court asked for (None: the national policy).")
    available: bool = Field(description="False when the stream model has no validation summary.")
    reason: str | None = Field(description="Why the curve is not available.")
    model: StreamModelRef | None
    policy: PolicyInForce
    capacity: ReviewCapacityInfo
    current: PolicyRouting | None
    curve: list[TradeoffPoint] = Field(description="One point per review capacity, ascending.")


# One court's stream mix in the log against what its policy predicts.
class CourtMix(BaseModel):
    court_id: str
    province: str
    total: int
    actual: dict[str, float | None] = Field(description="Share of decisions per stream.")
    predicted: dict[str, float] | None = Field(
        description="Share per stream the court's policy predicts (validation data)."
    )
    policy_id: str
    policy_version: int
    policy_label: str
    gave_way: list[str]


class CourtMixes(BaseModel):
    """Each court's stream mix against its policy's predicted mix."""

    selection: Selection
    available: bool = Field(description="False when the stream model has no validation summary.")
    reason: str | None
    model: StreamModelRef | None
    courts: list[CourtMix] = Field(description="The busiest `limit` courts first.")
    n_courts: int = Field(description="Courts with decisions in the selection.")
