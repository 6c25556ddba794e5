"""A drift report as one self-contained HTML page, rendered from a template.

The page (``serving/templates/drift_report.html``, its style in
``drift_report.css``) has inline CSS and SVG and no scripts or links, so it
can be mailed or archived as one file.  This module only prepares what the
template shows — labels, percentages, the geometry of the bars — and lets
Jinja2 escape every value it prints.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from serving.drift import EPSILON
from serving.drift_report import STATES, DriftReport, ItemDrift

if TYPE_CHECKING:
    import jinja2

__all__ = ["render_html"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
_STATE_TEXT = {"ok": ("正常", "ok"), "warn": ("注意", "warn"), "alert": ("警报", "alert")}
_KIND_TEXT = {"stream": ("繁简分流", "stream"), "assets": ("可执行财产", "assets")}
#: Width of one bin's pair of bars and the height of the chart, in pixels.
_BIN_WIDTH = 12
_CHART_HEIGHT = 44


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the render, not the page
        keep_trailing_newline=True,
    )


def render_html(report: DriftReport) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG; no scripts, no links)."""
    window = report.window
    page = {
        "report": report,
        "asked": f"{_when(window.get('since'), '…')} – {_when(window.get('until'), '…')}",
        "found": f"{_when(window.get('first'))} – {_when(window.get('last'))}",
        "generated": _when(report.generated_at),
        "cards": [
            {"state": s, "count": len(report.in_state(s)), "text": _STATE_TEXT[s]}
            for s in reversed(STATES)
        ],
        "models": _model_rows(report),
        "scores": [_item_row(item) for item in report.scores],
        "features": [_item_row(item) for item in report.features],
        "epsilon": EPSILON,
    }
    return _environment().get_template("drift_report.html").render(page)


def _when(moment: object, empty: str = "–") -> str:
    """``2025-03-10 09:00 UTC`` of an ISO-8601 time (the text itself when it is none)."""
    if not moment:
        return empty
    try:
        parsed = dt.datetime.fromisoformat(str(moment).replace("Z", "+00:00"))
    except ValueError:
        return str(moment)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC)
    return parsed.strftime("%Y-%m-%d %H:%M") + (" UTC" if parsed.tzinfo else "")


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _model_rows(report: DriftReport) -> list[dict[str, object]]:
    rows = []
    for kind, model in report.models.items():
        versions = report.decided_by.get(kind, {})
        training = model.get("training_window") or {}
        train_window = training.get("train", []) if isinstance(training, dict) else []
        rows.append(
            {
                "text": _KIND_TEXT.get(kind, (kind, kind)),
                "name": model["name"],
                "version": model["version"],
                "alias": model.get("alias") or "–",
                "trained": _when(model.get("trained_at")),
                "window": " – ".join(train_window) or "–",
                "made": [(v, f"{n:,}") for v, n in versions.items()],
                # The log holds decisions of other versions: their scores were recomputed.
                "recomputed": bool(set(versions) - {str(model["version"])}),
            }
        )
    return rows


def _item_row(item: ItemDrift) -> dict[str, object]:
    return {
        "item": item,
        "psi": f"{item.psi:.3f}",
        "text": _STATE_TEXT[item.state],
        "missing": f"{_pct(item.missing_then)} → {_pct(item.missing_now)}",
        "n": f"{item.n:,}",
        "chart": _bars(item),
        "models": _models_of(item),
    }


def _bars(item: ItemDrift) -> dict[str, object]:
    """Geometry of reference (grey) and current (blue) bars of each bin, side by side."""
    top = max(max(item.reference, default=0.0), max(item.current, default=0.0), 1e-9)
    height = _CHART_HEIGHT
    bar = (_BIN_WIDTH - 2) / 2
    bins = []
    for i, (label, e, a) in enumerate(zip(item.bins, item.reference, item.current, strict=True)):
        x = 1 + i * _BIN_WIDTH
        he, ha = (height - 2) * e / top, (height - 2) * a / top
        bins.append(
            {
                "title": f"{label}: 训练 reference {_pct(e)} → 现在 now {_pct(a)}",
                "x_ref": f"{x:.1f}",
                "y_ref": f"{height - 1 - he:.1f}",
                "h_ref": f"{he:.1f}",
                "x_cur": f"{x + bar:.1f}",
                "y_cur": f"{height - 1 - ha:.1f}",
                "h_cur": f"{ha:.1f}",
            }
        )
    return {
        "width": _BIN_WIDTH * len(item.bins) + 2,
        "height": height,
        "bar": f"{bar:.1f}",
        "bins": bins,
        # A dotted line sets the missing bin (always the last) apart from the values.
        "split": 1 + (len(item.bins) - 1) * _BIN_WIDTH - 1,
        "base": height - 0.5,
    }


def _models_of(item: ItemDrift) -> str:
    if len(item.models) == len(_KIND_TEXT):
        return "两个模型 both"
    return " · ".join(f"{_KIND_TEXT[k][0]} {_KIND_TEXT[k][1]}" for k in item.models)
