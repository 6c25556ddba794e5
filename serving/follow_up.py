"""``POST /follow_up`` in a worker: validated terminated cases in, the follow-up list out.

The list is :func:`models.follow_up.rank_follow_ups`'s, the very function
``triage follow-up`` writes its file with, on a frame of the request's cases:
the same cases give the same list.  Every case considered is scored and
logged (``follow_up_scores``, :mod:`serving.decision_log`) for the
dashboard's follow-up page, which re-ranks a court's whole inventory; the
request's answer is the head of that ranking, ``budget`` cases long.

No I/O here and no MLflow: the service writes the rows and sends the bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from models.follow_up import (
    LEGAL_INQUIRY_NOTICE_EN,
    LEGAL_INQUIRY_NOTICE_ZH,
    budget_count,
    reason_features,
)
from serving.decision_log import DecisionIds
from serving.served_models import FollowUpModels

__all__ = ["FollowUpList", "FollowUps"]


@dataclass(frozen=True)
class FollowUpList:
    """One request's ranking: every case considered, the budget, the log rows."""

    ranked: pd.DataFrame  # every case considered, best first (models.follow_up.OUTPUT_COLUMNS)
    budget: int
    scored_at: str
    rows: list[dict[str, object]]


class FollowUps:
    """The terminated-case champions of a worker, ranking requests' cases."""

    def __init__(self, models: FollowUpModels, ids: DecisionIds | None = None) -> None:
        self.resume, self.recovery = models.resume, models.recovery
        self.versions = (self.resume.version, self.recovery.version)
        self.models = {
            "resume": {"name": self.resume.name, "version": self.resume.version},
            "recovery": {"name": self.recovery.name, "version": self.recovery.version},
        }
        self.ids = ids or DecisionIds()

    def rank(
        self,
        cases: Sequence[Mapping[str, object]],
        budget: str | int,
        court: str | None = None,
        reasons: int = 3,
    ) -> FollowUpList:
        """Rank the cases (of ``court``, if given) and make their log rows."""
        frame = pd.DataFrame.from_records(list(cases))
        if court is not None and len(frame):
            frame = frame[frame["court_id"].astype(str) == court].reset_index(drop=True)
        count = budget_count(budget, len(frame)) if len(frame) else 0
        ranked, features = reason_features(
            frame,
            self.resume.model,
            self.recovery.model,
            versions=self.versions,
            reasons=reasons,
        )
        ids, scored_at = self.ids.next(len(ranked))
        return FollowUpList(
            ranked=ranked,
            budget=count,
            scored_at=scored_at,
            rows=self._rows(ranked, frame, features, ids, scored_at),
        )

    def _rows(
        self,
        ranked: pd.DataFrame,
        frame: pd.DataFrame,
        features: list[list[str]],
        ids: list[str],
        scored_at: str,
    ) -> list[dict[str, object]]:
        """The ``follow_up_scores`` rows: scores, dates and reason features, nothing personal."""
        if not len(ranked):
            return []
        dates = frame.set_index(frame["case_id"].astype(str))[["terminated_date", "as_of_date"]]
        dates = dates.loc[ranked["case_id"]]
        rows = []
        for i, (row, terminated, as_of) in enumerate(
            zip(
                ranked.itertuples(index=False),
                dates["terminated_date"].astype(str).str[:10],
                dates["as_of_date"].astype(str).str[:10],
                strict=True,
            )
        ):
            rows.append(
                {
                    "score_id": ids[i],
                    "scored_at": scored_at,
                    "case_id": row.case_id,
                    "court_id": row.court_id,
                    "province": str(row.court_id)[:2],
                    "expected_yuan": float(row.expected_yuan),
                    "p_resume": float(row.p_resume),
                    "expected_amount": float(row.expected_amount),
                    "unpaid_amount": float(row.unpaid_amount),
                    "terminated_date": terminated,
                    "as_of_date": as_of,
                    "months_since_termination": _months(terminated, as_of),
                    "resume_model_version": self.versions[0],
                    "recovery_model_version": self.versions[1],
                    "reason_features": json.dumps(features[i]),
                    "reasons_zh": row.reasons_zh,
                    "reasons_en": row.reasons_en,
                }
            )
        return rows

    def response(self, listed: FollowUpList) -> str:
        """The answer's JSON (see :class:`serving.follow_up_schemas.FollowUpResponse`)."""
        head = listed.ranked.head(listed.budget)
        rows = head.to_dict(orient="records")
        return json.dumps(
            {
                "follow_ups": rows,
                "inventory": len(listed.ranked),
                "budget": listed.budget,
                "expected_yuan": round(float(head["expected_yuan"].sum()), 2) if len(head) else 0.0,
                "legal_inquiry": {"zh": LEGAL_INQUIRY_NOTICE_ZH, "en": LEGAL_INQUIRY_NOTICE_EN},
                "models": self.models,
                "scored_at": listed.scored_at,
            },
            ensure_ascii=False,
            separators=(",", ":"),
            allow_nan=False,
            default=_plain,
        )

    def warm_up(self) -> None:
        """Rank the record's example case; raise if the models give no finite yuan."""
        from serving.follow_up_schemas import example_terminated_case

        listed = self.rank([example_terminated_case()], 1)
        value = float(listed.ranked["expected_yuan"].iloc[0])
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"warm-up on the example terminated case gave ¥{value}")


def _months(terminated: str, as_of: str) -> float:
    """Months from the termination to the record's as-of day (30.4375-day months)."""
    days = (dt.date.fromisoformat(as_of[:10]) - dt.date.fromisoformat(terminated[:10])).days
    return round(days / 30.4375, 2)


def _plain(value: object) -> object:
    """numpy scalars as the plain numbers JSON writes."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")
