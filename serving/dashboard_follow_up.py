"""The follow-up page's JSON: ``GET /v1/stats/follow_up``, and its page ``/dashboard/follow-up``.

The route takes the dashboard's selection (court, province, days scored)
and a budget share, reads :func:`serving.follow_up_stats.follow_up_board`
through the app's answer cache and answers :class:`FollowUpBoard`, keyed
and documented like every ``/v1/stats`` route.  The page is open like the
main one (it asks for the key and sends it with each request).
"""

from __future__ import annotations

import typing as t

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from serving.dashboard_page import page_file
from serving.dashboard_params import Reader, SelectionParams
from serving.dashboard_routes import _AUTH, _SELECTION, _stats_router
from serving.dashboard_schemas import Selection

FOLLOW_UP_PAGE_PATHS = ("/dashboard/follow-up",)

#: The budgets the page offers, in percent of the inventory (serving.follow_up_stats.SHARES).
#: Text, as a query string carries it (a Literal of ints would refuse "5").
SharePercent = t.Literal["1", "5", "10"]


# The terminated inventory of the selection: each case at its latest score.
class Inventory(BaseModel):
    cases: int
    unpaid_total: float = Field(description="Unpaid amount of the inventory, CNY.")
    expected_total: float = Field(description="Expected yuan if every case were followed up.")


# What following up K cases is expected to bring, three ways (the same models' yuan).
class BudgetComparison(BaseModel):
    share: float = Field(description="K as a share of the inventory.")
    k: int = Field(description="Follow-ups: the share of the inventory, rounded up.")
    model: float = Field(description="Expected yuan of the list's top K.")
    random: float = Field(description="Expected yuan of K cases at random (K × mean).")
    oldest_first: float = Field(description="Expected yuan of the K longest-terminated cases.")


# One court's inventory and the yuan of following up its own top K.
class CourtInventory(BaseModel):
    court_id: str
    cases: int
    unpaid_total: float
    k: int
    model: float


# One case of the list, with its latest score and reasons.
class ListedCase(BaseModel):
    rank: int
    case_id: str
    court_id: str
    expected_yuan: float
    p_resume: float
    expected_amount: float
    unpaid_amount: float
    terminated_date: str
    months_since_termination: float
    reasons_zh: str
    reasons_en: str
    scored_at: str
    models: dict[str, str] = Field(description="`resume` and `recovery` model versions.")


class FollowUpNotice(BaseModel):
    zh: str
    en: str


class FollowUpBoard(BaseModel):
    """The terminated inventory of the selection, the yuan of following up its top K against
    random and oldest-first, and the top K itself."""

    selection: Selection
    inventory: Inventory
    share: float
    k: int
    comparison: BudgetComparison
    budgets: list[BudgetComparison] = Field(description="The comparison at 1 %, 5 % and 10 %.")
    courts: list[CourtInventory] = Field(description="Each court of the selection, largest first.")
    follow_ups: list[ListedCase] = Field(description="The top K (at most `limit`), best first.")
    legal_inquiry: FollowUpNotice = Field(
        description="The list orders the extra work only; the six-monthly legal network "
        "inquiry (网络查控) is never replaced."
    )


follow_up_router = _stats_router()


@follow_up_router.get(
    "/follow_up",
    response_model=FollowUpBoard,
    summary="Terminated inventory and the follow-up list",
    description="Terminated (终本) cases scored by `POST /follow_up`, each at its latest score: "
    "the inventory, the expected yuan recovered by following up its top K (K = `share` % of "
    "the inventory, rounded up) against K at random and the K longest-terminated, and the "
    "list itself with reasons." + _SELECTION + " (days: when the cases were scored)" + _AUTH,
)
def follow_up(
    filters: SelectionParams,
    reader: Reader,
    share: t.Annotated[SharePercent, Query(description="K in percent of the inventory.")] = "5",
    limit: t.Annotated[int, Query(ge=1, le=1000, description="Cases of the list sent.")] = 200,
) -> dict[str, t.Any]:
    """The terminated inventory of the selection and its follow-up list."""
    # Here, not at the top: the model code loads in a worker with models, not in every process.
    from models.follow_up import LEGAL_INQUIRY_NOTICE_EN, LEGAL_INQUIRY_NOTICE_ZH
    from serving.follow_up_stats import follow_up_board

    found = reader.read(
        ("follow_up", filters, share, limit),
        lambda c: follow_up_board(c, filters, int(share) / 100, limit),
    )
    return {
        "selection": filters.to_dict(),
        **found,
        "legal_inquiry": {"zh": LEGAL_INQUIRY_NOTICE_ZH, "en": LEGAL_INQUIRY_NOTICE_EN},
    }


page_router = APIRouter()


@page_router.get("/dashboard/follow-up", include_in_schema=False)
def follow_up_page() -> Response:
    """The follow-up page (404 when its files are missing)."""
    return page_file("follow_up.html")
