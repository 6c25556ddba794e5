"""The follow-up list: which terminated (终本) cases to spend the extra work on first.

For five years after a 终本 ruling the court re-runs the network inquiry
(网络查控) every six months for every case alike; that duty is untouched
here.  What finds assets beyond it — a field visit, a reward notice, an audit,
a look at a spouse's property — is scarce, and this list orders it: each case
by the yuan a follow-up is expected to bring,

    expected yuan per follow-up = p_resume × E[yuan | recovered],

from the two terminated-case models (``triage-resume``: the calibrated
probability that a follow-up recovers something within six months;
``triage-recovery``: how many yuan when it does).  The top ``budget`` cases
are kept, with the reasons of each in Chinese and English.

Pure: frames in, a frame out; reading, writing and the registry are the
callers'.  Only the columns listed in :data:`OUTPUT_COLUMNS` leave, so no
personal data can (the loader drops it on entry anyway).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from models.case_model import CaseModel

__all__ = [
    "LEGAL_INQUIRY_NOTICE",
    "LEGAL_INQUIRY_NOTICE_EN",
    "LEGAL_INQUIRY_NOTICE_ZH",
    "OUTPUT_COLUMNS",
    "budget_count",
    "rank_follow_ups",
    "reason_features",
]

LEGAL_INQUIRY_NOTICE_ZH = (
    "本名单仅为额外核查工作排序，不替代依法每六个月一次的网络查控；所有终本案件照常查控。"
)
LEGAL_INQUIRY_NOTICE_EN = (
    "This list only orders the extra follow-up work; it never replaces the six-monthly legal "
    "network inquiry, which every terminated case still receives."
)
#: Said by every follow-up list: in the command's output and in each row.
LEGAL_INQUIRY_NOTICE = f"{LEGAL_INQUIRY_NOTICE_ZH} / {LEGAL_INQUIRY_NOTICE_EN}"
#: The short form every row carries, so the notice survives any spreadsheet.
_ROW_NOTICE = (
    "六个月网络查控照常进行，本名单不替代 / six-monthly legal inquiry continues, not replaced"
)

#: Columns of the list, in order.  Identity, the scores and reasons: never personal data.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "rank",
    "case_id",
    "court_id",
    "expected_yuan",
    "p_resume",
    "expected_amount",
    "unpaid_amount",
    "reasons_zh",
    "reasons_en",
    "resume_model_version",
    "recovery_model_version",
    "legal_inquiry",
)

_SHARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def budget_count(budget: str | int | float, inventory: int) -> int:
    """How many follow-ups a budget allows: a count (``300``) or a share (``5%``).

    A share is of the inventory considered (rounded up: 5 % of 30 cases is 2);
    a count above the inventory keeps every case.  Refuses anything else.
    """
    if isinstance(budget, str):
        share = _SHARE.match(budget)
        if share:
            value = float(share.group(1)) / 100
            if not 0 < value <= 1:
                raise ValueError(f"budget {budget!r}: a share must be above 0 % and at most 100 %")
            return min(inventory, math.ceil(value * inventory))
        if not budget.strip().isdigit():
            raise ValueError(
                f"budget {budget!r}: give a number of follow-ups (300) or a share (5%)"
            )
        budget = int(budget)
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        # A float count (2.5 follow-ups) is refused too: a budget is whole cases.
        raise ValueError(f"budget {budget!r}: at least one follow-up")
    return min(inventory, budget)


def _reason_text(reasons: list[list[dict[str, object]]], lang: str) -> list[str]:
    separator = "；" if lang == "zh" else "; "
    return [separator.join(str(r[lang]) for r in case) for case in reasons]


def rank_follow_ups(
    cases: pd.DataFrame,
    resume: CaseModel,
    recovery: CaseModel,
    budget: int,
    *,
    versions: tuple[str, str] = ("", ""),
    reasons: int = 3,
) -> pd.DataFrame:
    """The ``budget`` cases of ``cases`` worth the most yuan per follow-up, best first.

    ``cases`` is a canonical terminated-case frame (:func:`features.load.read_cases`
    with the terminated record).  Ties are broken by ``case_id`` so the list is
    the same on every run.  ``versions`` are the two models' registry versions,
    written beside each row.  Reasons: the resume model's strongest factors
    (why a follow-up may find something), then the recovery model's strongest
    (what sets the amount).
    """
    return _ranked(cases, resume, recovery, budget, versions=versions, reasons=reasons)[0]


def reason_features(
    cases: pd.DataFrame,
    resume: CaseModel,
    recovery: CaseModel,
    *,
    versions: tuple[str, str] = ("", ""),
    reasons: int = 3,
) -> tuple[pd.DataFrame, list[list[str]]]:
    """Every case ranked as :func:`rank_follow_ups` ranks it, and each row's reason features.

    The service's form: it answers the head of the list and logs every row
    (the dashboard re-ranks a court's whole inventory).  The features are the
    names the reasons are about (``unpaid_amount``, ``applicant_leads``…), in
    the order of the row's reasons.
    """
    return _ranked(cases, resume, recovery, len(cases), versions=versions, reasons=reasons)


def _ranked(
    cases: pd.DataFrame,
    resume: CaseModel,
    recovery: CaseModel,
    budget: int,
    *,
    versions: tuple[str, str],
    reasons: int,
) -> tuple[pd.DataFrame, list[list[str]]]:
    if resume.kind != "resume" or recovery.kind != "recovery":
        raise ValueError(
            f"rank_follow_ups needs the resume and recovery models, got {resume.kind} and "
            f"{recovery.kind}"
        )
    empty = pd.DataFrame({name: pd.Series(dtype=object) for name in OUTPUT_COLUMNS})
    if len(cases) == 0 or budget < 1:
        return empty, []
    # Each model's features once: the reasons below are of rows of the same features.
    x_resume, x_recovery = resume.features(cases), recovery.features(cases)
    p = resume.predict_features(x_resume, reasons=0).probability
    amount = recovery.predict_features(x_recovery, reasons=0).probability
    value = p * amount
    case_ids = cases["case_id"].astype(str).to_numpy()
    # Highest expected yuan first; equal values in case_id order (lexsort: last key first).
    order = np.lexsort((case_ids, -value))[:budget]
    chosen = cases.iloc[order].reset_index(drop=True)
    # Reasons only for the cases kept: contributions cost ten times a prediction.
    why = resume.predict_features(x_resume[order], reasons=reasons).reasons
    how_much = recovery.predict_features(x_recovery[order], reasons=1).reasons
    assert why is not None and how_much is not None  # asked for above
    combined = [a + b for a, b in zip(why.dicts(), how_much.dicts(), strict=True)]
    features = [[str(r["code"]).split(":", 1)[0] for r in case] for case in combined]
    ranked = pd.DataFrame(
        {
            "rank": np.arange(1, len(chosen) + 1),
            "case_id": chosen["case_id"].astype(str).to_numpy(),
            "court_id": chosen["court_id"].astype(str).to_numpy(),
            "expected_yuan": np.round(value[order], 2),
            "p_resume": np.round(p[order], 6),
            "expected_amount": np.round(amount[order], 2),
            "unpaid_amount": chosen["unpaid_amount"].to_numpy(dtype=np.float64),
            "reasons_zh": _reason_text(combined, "zh"),
            "reasons_en": _reason_text(combined, "en"),
            "resume_model_version": versions[0],
            "recovery_model_version": versions[1],
            "legal_inquiry": _ROW_NOTICE,
        },
        columns=list(OUTPUT_COLUMNS),
    )
    return ranked, features
