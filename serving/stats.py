"""Aggregates of the decision log: what the dashboard and ``/v1/stats`` show.

Every function here is a pure function of an open SQLAlchemy connection and
a :class:`Filters`; the database does the counting (``GROUP BY``, histograms
by bucketing in SQL) and only aggregates come back, so a million decisions
cost a scan of the dashboard's covering index
(``ix_decisions_dashboard`` in :mod:`serving.decision_log`), never a million
rows in Python.  One code path for SQLite and PostgreSQL; where their SQL
differs (rounding down, unnesting the reasons' JSON) the function asks the
connection's dialect.

Days are UTC days (``decided_at`` is UTC); ``since`` and ``until`` are
inclusive days.  Two aggregates read a bounded, most recent part of the
selection, and say so in their answer: the most frequent reasons (the
reasons are JSON inside each ~2 kB row; counting them over every decision of
a large log would read the whole table) and drift (which rebuilds each
case's features).
"""

from __future__ import annotations

import datetime as dt
import json
import typing as t
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from features.record import PROVINCES
from models.routing import STREAMS
from serving.decision_log import DECISION_DAY, decisions

#: What users read for each stream (the routing policy's STREAMS, in that order).
STREAM_LABELS: Mapping[str, tuple[str, str]] = {
    "simple": ("简案", "Simple"),
    "complex": ("繁案", "Complex"),
    "review": ("人工复核", "Review"),
}
#: The two probabilities and what users read for them.
PROBABILITIES: Mapping[str, tuple[str, str]] = {
    "p_complex": ("难案概率", "probability of a complex case"),
    "p_assets": ("有可执行财产概率", "probability of recoverable assets"),
}
#: Reason groups of the ``reasons`` JSON: why a case is complex, why assets are likely.
REASON_KINDS = ("complex", "assets")
#: Histogram bins per probability (width 0.05).
BINS = 20
#: How many of the latest decisions of a selection the reason counts read at most.
REASON_SAMPLE = 20_000
PROVINCE_CODES = tuple(p.code for p in PROVINCES)

_c = decisions.c


@dataclass(frozen=True)
class Filters:
    """Which decisions an aggregate covers: a court, a province, a range of days (inclusive)."""

    court_id: str | None = None
    province: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None

    def clauses(
        self, table: sa.Table | None = None, day: sa.ColumnElement[str] | None = None
    ) -> list[sa.ColumnElement[bool]]:
        """The WHERE conditions on ``table`` (the decisions by default), its days given by ``day``.

        The decisions' days are compared as their index's own expression, so it is used.
        """
        where: list[sa.ColumnElement[bool]] = []
        columns = _c if table is None else table.c
        day = DECISION_DAY if day is None else day
        if self.court_id is not None:
            where.append(columns.court_id == self.court_id)
        if self.province is not None:
            where.append(columns.province == self.province)
        if self.since is not None:
            where.append(day >= self.since.isoformat())
        if self.until is not None:
            where.append(day <= self.until.isoformat())
        return where

    def to_dict(self) -> dict[str, str | None]:
        return {
            "court_id": self.court_id,
            "province": self.province,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


def _stream_counts() -> list[sa.ColumnElement[int]]:
    """One count per stream in a single pass (no GROUP BY: SQLite would sort every row)."""
    return [
        sa.func.coalesce(sa.func.sum(sa.case((_c.stream == stream, 1), else_=0)), 0).label(stream)
        for stream in STREAMS
    ]


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


# --------------------------------------------------------------------------
# Volumes and streams
# --------------------------------------------------------------------------


def summary(connection: sa.Connection, filters: Filters) -> dict[str, object]:
    """Decisions, per stream, the share routed to review, mean probabilities, first and last."""
    query = sa.select(
        sa.func.count().label("decisions"),
        *_stream_counts(),
        sa.func.avg(_c.p_complex).label("mean_p_complex"),
        sa.func.avg(_c.p_assets).label("mean_p_assets"),
        sa.func.min(_c.decided_at).label("first"),
        sa.func.max(_c.decided_at).label("last"),
    ).where(*filters.clauses())
    row = connection.execute(query).mappings().one()
    total = int(row["decisions"])
    streams = {stream: int(row[stream]) for stream in STREAMS}
    return {
        "decisions": total,
        "streams": streams,
        "shares": {stream: _share(n, total) for stream, n in streams.items()},
        "review_share": _share(streams["review"], total),
        "mean_p_complex": _float(row["mean_p_complex"]),
        "mean_p_assets": _float(row["mean_p_assets"]),
        "first": row["first"],
        "last": row["last"],
    }


def daily_streams(connection: sa.Connection, filters: Filters) -> list[dict[str, object]]:
    """Decisions per UTC day and stream, oldest day first (days without decisions left out)."""
    day = DECISION_DAY.label("day")
    query = (
        sa.select(day, *_stream_counts(), sa.func.count().label("total"))
        .where(*filters.clauses())
        .group_by(DECISION_DAY)
        .order_by(DECISION_DAY)
    )
    days = []
    for row in connection.execute(query).mappings():
        total = int(row["total"])
        days.append(
            {
                "day": row["day"],
                **{stream: int(row[stream]) for stream in STREAMS},
                "total": total,
                "review_share": _share(int(row["review"]), total),
            }
        )
    return days


def court_streams(
    connection: sa.Connection, filters: Filters, limit: int = 15
) -> dict[str, object]:
    """Decisions per court and stream: the ``limit`` busiest courts, the rest summed up."""
    query = (
        sa.select(_c.court_id, _c.province, *_stream_counts(), sa.func.count().label("total"))
        .where(*filters.clauses())
        .group_by(_c.court_id, _c.province)
    )
    courts = []
    for row in connection.execute(query).mappings():
        total = int(row["total"])
        courts.append(
            {
                "court_id": row["court_id"],
                "province": row["province"],
                **{stream: int(row[stream]) for stream in STREAMS},
                "total": total,
                "review_share": _share(int(row["review"]), total),
            }
        )
    courts.sort(key=lambda court: (-court["total"], court["court_id"]))
    shown, rest = courts[:limit], courts[limit:]
    others = {stream: sum(court[stream] for court in rest) for stream in STREAMS}
    return {
        "courts": shown,
        "n_courts": len(courts),
        "others": {**others, "courts": len(rest), "total": sum(others.values())},
    }


# --------------------------------------------------------------------------
# Probabilities
# --------------------------------------------------------------------------


def _bucket(connection: sa.Connection, column: sa.ColumnElement[float], bins: int):
    """``floor(p · bins)`` in SQL: SQLite's CAST truncates (p ≥ 0), PostgreSQL's rounds."""
    scaled = column * sa.literal_column(str(int(bins)))
    if connection.dialect.name == "postgresql":
        scaled = sa.func.floor(scaled)
    return sa.cast(scaled, sa.Integer)


def histograms(connection: sa.Connection, filters: Filters, bins: int = BINS) -> dict[str, object]:
    """Distribution of ``p_complex`` and ``p_assets``, per stream and overall.

    Bin ``i`` holds ``i/bins ≤ p < (i+1)/bins``; ``p = 1`` goes into the last
    bin.  Both probabilities come from one scan grouped by (stream, bin, bin).
    """
    complex_bin = _bucket(connection, _c.p_complex, bins).label("complex_bin")
    assets_bin = _bucket(connection, _c.p_assets, bins).label("assets_bin")
    query = (
        sa.select(_c.stream, complex_bin, assets_bin, sa.func.count().label("n"))
        .where(*filters.clauses())
        .group_by(_c.stream, complex_bin, assets_bin)
    )
    counts = {name: {group: [0] * bins for group in ("all", *STREAMS)} for name in PROBABILITIES}
    for stream, bin_complex, bin_assets, n in connection.execute(query):
        for name, index in (("p_complex", bin_complex), ("p_assets", bin_assets)):
            index = min(max(int(index), 0), bins - 1)
            counts[name]["all"][index] += n
            if stream in counts[name]:
                counts[name][stream][index] += n
    return {
        "edges": [round(i / bins, 6) for i in range(bins + 1)],
        **counts,
    }


# --------------------------------------------------------------------------
# Reasons
# --------------------------------------------------------------------------


def _latest(filters: Filters, limit: int, *columns: sa.ColumnElement) -> sa.Select:
    """``columns`` of the latest ``limit`` decisions of the selection.

    The latest are picked on the dashboard's covering index (newest day and
    time first, its own order: no sort, no row read); only those rows are
    then read in full.
    """
    newest = (
        sa.select(_c.decision_id)
        .where(*filters.clauses())
        .order_by(DECISION_DAY.desc(), _c.decided_at.desc())
        .limit(limit)
    )
    return sa.select(*columns).where(_c.decision_id.in_(newest.scalar_subquery()))


def _reason_table(connection: sa.Connection, reasons: sa.ColumnElement[str]):
    """Each decision's reasons as rows (kind, code, zh, en), in this dialect's JSON functions.

    ``reasons`` is ``{"complex": [{code, zh, en, effect}, ...], "assets": [...]}``:
    the outer object is unnested into (kind, array), each array into its reasons.
    """
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        kinds = sa.func.jsonb_each(sa.cast(reasons, JSONB)).table_valued("key", "value")
        items = sa.func.jsonb_array_elements(kinds.c.value).table_valued("value")

        def field(name: str):
            return items.c.value.op("->>")(sa.literal_column(f"'{name}'"))

    else:
        kinds = sa.func.json_each(reasons).table_valued("key", "value")
        items = sa.func.json_each(kinds.c.value).table_valued("value")

        def field(name: str):
            return sa.func.json_extract(items.c.value, sa.literal_column(f"'$.{name}'"))

    return kinds, items, kinds.c.key, field("code"), field("zh"), field("en")


class _CountedReason(t.TypedDict):
    """A reason code of one kind, and how many of the decisions read give it."""

    code: str
    zh: str | None
    en: str | None
    count: int
    share: float | None


def top_reasons(
    connection: sa.Connection,
    filters: Filters,
    limit: int = 10,
    sample: int = REASON_SAMPLE,
) -> dict[str, object]:
    """The most frequent reason codes of each kind among the latest ``sample`` decisions.

    ``count`` is how many of those decisions give the reason (a reason
    appears at most once in a decision's top reasons of a kind); ``share``
    divides by the decisions read.  Labels come with the reasons themselves.
    The JSON is unnested in the database, in one pass for both kinds.
    """
    latest = _latest(filters, sample, _c.reasons).subquery("latest")
    counted = int(connection.execute(sa.select(sa.func.count()).select_from(latest)).scalar_one())
    kinds, items, kind, code, zh, en = _reason_table(connection, latest.c.reasons)
    query = (
        sa.select(
            kind.label("kind"),
            code.label("code"),
            sa.func.max(zh).label("zh"),
            sa.func.max(en).label("en"),
            sa.func.count().label("count"),
        )
        .select_from(latest)
        .join(kinds, sa.true())
        .join(items, sa.true())
        .group_by(kind, code)
    )
    found: dict[str, list[_CountedReason]] = {name: [] for name in REASON_KINDS}
    for row in connection.execute(query).mappings():
        if row["kind"] in found:
            found[row["kind"]].append(
                {
                    "code": row["code"],
                    "zh": row["zh"],
                    "en": row["en"],
                    "count": int(row["count"]),
                    "share": _share(int(row["count"]), counted),
                }
            )
    return {
        "decisions_counted": counted,
        "sample_limit": sample,
        **{
            name: sorted(rows, key=lambda r: (-r["count"], r["code"]))[:limit]
            for name, rows in found.items()
        },
    }


# --------------------------------------------------------------------------
# The riskiest open cases
# --------------------------------------------------------------------------

#: How the riskiest cases can be ranked: the column and whether low is risky.
RANKINGS: Mapping[str, bool] = {"p_assets": True, "p_complex": False}
_CASE_COLUMNS = (
    _c.decision_id,
    _c.decided_at,
    _c.case_id,
    _c.court_id,
    _c.province,
    _c.filing_date,
    _c.stream,
    _c.p_complex,
    _c.p_assets,
    _c.reasons,
)


def riskiest_cases(
    connection: sa.Connection, filters: Filters, rank_by: str = "p_assets", limit: int = 20
) -> list[dict[str, object]]:
    """The open cases with the lowest ``p_assets`` (or highest ``p_complex``), with reasons.

    A case counts with its latest decision in the selection: a case scored
    again (the asset inquiry answered, say) is ranked by its new scores.
    The ranking reads the dashboard's covering index; only the chosen
    decisions' rows are read in full.
    """
    if rank_by not in RANKINGS:
        raise ValueError(f"rank_by must be one of {sorted(RANKINGS)}, got {rank_by!r}")
    column = _c[rank_by]
    order = column.asc() if RANKINGS[rank_by] else column.desc()
    clauses = filters.clauses()
    chosen: dict[str, str] = {}  # case_id -> decision_id, riskiest first
    page = max(limit * 2, 20)
    offset = 0
    # Candidates a page at a time; a few rounds at most unless most cases were re-scored.
    while len(chosen) < limit:
        query = (
            sa.select(_c.decision_id, _c.case_id, _c.decided_at)
            .where(*clauses)
            .order_by(order, _c.decision_id)
            .limit(page)
            .offset(offset)
        )
        candidates = connection.execute(query).all()
        if not candidates:
            break
        offset += page
        latest = _latest_decision_times(connection, clauses, {row.case_id for row in candidates})
        for row in candidates:
            if row.case_id in chosen or row.decided_at < latest.get(row.case_id, ""):
                continue  # a later decision of the case stands (ranked where it falls)
            chosen[row.case_id] = row.decision_id
            if len(chosen) == limit:
                break
    if not chosen:
        return []
    rows = connection.execute(
        sa.select(*_CASE_COLUMNS).where(_c.decision_id.in_(list(chosen.values())))
    ).mappings()
    by_id = {row["decision_id"]: row for row in rows}
    return [_case(by_id[decision_id]) for decision_id in chosen.values()]


def _latest_decision_times(
    connection: sa.Connection, clauses: Sequence[sa.ColumnElement[bool]], case_ids: set[str]
) -> dict[str, str]:
    query = (
        sa.select(_c.case_id, sa.func.max(_c.decided_at))
        .where(*clauses, _c.case_id.in_(sorted(case_ids)))
        .group_by(_c.case_id)
    )
    return {case_id: latest for case_id, latest in connection.execute(query)}


def _case(row: sa.RowMapping) -> dict[str, object]:
    reasons = json.loads(str(row["reasons"]))
    return {
        **{key: value for key, value in row.items() if key != "reasons"},
        "reasons": {kind: reasons.get(kind, []) for kind in REASON_KINDS},
    }


# --------------------------------------------------------------------------
# Models: versions in use, and the shadow challenger against the champion
# --------------------------------------------------------------------------


def model_versions(connection: sa.Connection, filters: Filters) -> list[dict[str, object]]:
    """Each model version that made decisions: since when, until when, how many."""
    versions = []
    for kind, name, version in (
        ("stream", _c.stream_model, _c.stream_model_version),
        ("assets", _c.assets_model, _c.assets_model_version),
    ):
        query = (
            sa.select(
                name,
                version,
                sa.func.min(_c.decided_at),
                sa.func.max(_c.decided_at),
                sa.func.count(),
            )
            .where(*filters.clauses())
            .group_by(name, version)
        )
        for model, model_version, first, last, n in connection.execute(query):
            versions.append(
                {
                    "kind": kind,
                    "name": model,
                    "version": model_version,
                    "first": first,
                    "last": last,
                    "decisions": int(n),
                }
            )
    versions.sort(key=lambda v: (v["kind"] != "stream", v["first"] or "", v["version"]))
    return versions


def challenger_agreement(connection: sa.Connection, filters: Filters) -> list[dict[str, object]]:
    """Per champion and shadow challenger: how often they agree, and how far their scores differ.

    For the stream model: the share of decisions where the challenger would
    have chosen the same stream, and the mean |Δ p_complex|; for the assets
    model: the mean |Δ p_assets|.
    """
    answers = []
    stream_query = (
        sa.select(
            _c.stream_model_version,
            _c.challenger_stream_version,
            sa.func.count(),
            sa.func.sum(sa.case((_c.challenger_stream == _c.stream, 1), else_=0)),
            sa.func.avg(sa.func.abs(_c.challenger_p_complex - _c.p_complex)),
            sa.func.min(_c.decided_at),
            sa.func.max(_c.decided_at),
        )
        .where(*filters.clauses(), _c.challenger_stream_version.is_not(None))
        .group_by(_c.stream_model_version, _c.challenger_stream_version)
    )
    for champion, challenger, n, same, delta, first, last in connection.execute(stream_query):
        answers.append(
            {
                "kind": "stream",
                "champion_version": champion,
                "challenger_version": challenger,
                "decisions": int(n),
                "same_stream_share": _share(int(same or 0), int(n)),
                "mean_abs_delta_p": _float(delta),
                "first": first,
                "last": last,
            }
        )
    assets_query = (
        sa.select(
            _c.assets_model_version,
            _c.challenger_assets_version,
            sa.func.count(),
            sa.func.avg(sa.func.abs(_c.challenger_p_assets - _c.p_assets)),
            sa.func.min(_c.decided_at),
            sa.func.max(_c.decided_at),
        )
        .where(*filters.clauses(), _c.challenger_assets_version.is_not(None))
        .group_by(_c.assets_model_version, _c.challenger_assets_version)
    )
    for champion, challenger, n, delta, first, last in connection.execute(assets_query):
        answers.append(
            {
                "kind": "assets",
                "champion_version": champion,
                "challenger_version": challenger,
                "decisions": int(n),
                "same_stream_share": None,
                "mean_abs_delta_p": _float(delta),
                "first": first,
                "last": last,
            }
        )
    return answers


# --------------------------------------------------------------------------
# Rows for drift
# --------------------------------------------------------------------------


def latest_decisions(
    connection: sa.Connection, filters: Filters, limit: int
) -> list[dict[str, object]]:
    """The latest ``limit`` decisions of the selection as log rows (drift reads their cases)."""
    query = _latest(
        filters,
        limit,
        _c.decided_at,
        _c.case_id,
        _c.court_id,
        _c.filing_date,
        _c.case_features,
        _c.stream_model_version,
        _c.assets_model_version,
    )
    return [dict(row) for row in connection.execute(query).mappings()]


# --------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------


def labels() -> dict[str, object]:
    """What the page shows for codes, in Chinese and English, from the data contract."""
    return {
        "provinces": [{"code": p.code, "zh": p.zh, "en": p.en} for p in PROVINCES],
        "streams": [
            {"code": stream, "zh": zh, "en": en} for stream, (zh, en) in STREAM_LABELS.items()
        ],
        "probabilities": [
            {"code": name, "zh": zh, "en": en} for name, (zh, en) in PROBABILITIES.items()
        ],
    }


def _float(value: t.SupportsFloat | None) -> float | None:
    return None if value is None else float(value)
