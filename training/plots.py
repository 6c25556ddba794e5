"""Evaluation charts, each written to one PNG file.

Every function draws on its own :class:`matplotlib.figure.Figure` attached to
an Agg canvas, chosen inside the function: no pyplot, no global backend
switch, nothing at import time, safe in threads and on machines without a
display.  Each writes the PNG (creating the parent folder), closes nothing
global and returns the path; :func:`plot_reliability` given no path returns
the figure instead, for a notebook to show.  Axis labels are in English (the
default fonts have no Chinese glyphs); the caller puts the model name in
``title``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "plot_feature_importance",
    "plot_follow_up",
    "plot_reliability",
    "plot_roc",
    "plot_score_histograms",
    "plot_yuan_calibration",
]

_DPI = 110
_MAX_CURVE_POINTS = 2000


def _canvas(width: float, height: float) -> Figure:
    """A fresh figure on an Agg canvas (not pyplot's: nothing global to close)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A fresh figure on an Agg canvas, and its one axes."""
    fig = _canvas(width, height)
    return fig, fig.add_subplot()


def _save(fig: Figure, path: str | PathLike[str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=_DPI)
    return path


def _style(label: str) -> dict[str, Any]:
    """The Bayes limit dashed and black, so the eye finds the ceiling at once."""
    if "bayes" in label.lower():
        return {"color": "black", "linestyle": "--", "linewidth": 1.4}
    return {"linewidth": 1.8}


def _arrays(y: ArrayLike, p: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    keep = ~np.isnan(y) & ~np.isnan(p)
    return y[keep], p[keep]


def plot_roc(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]], path: str | PathLike[str], title: str
) -> Path:
    """ROC curves of several scorers on one chart (model, baselines, Bayes limit).

    ``curves`` maps a legend label to ``(y, p)``; the legend shows each AUC.
    A label containing "Bayes" is drawn dashed black.  A scorer whose labels
    hold one class is listed without a curve.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = _figure(6.0, 5.5)
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":", label="chance (0.5)")
    for label, (y_values, p_values) in curves.items():
        y, p = _arrays(y_values, p_values)
        if y.size == 0 or y.min() == y.max():
            ax.plot([], [], label=f"{label} (one class: no AUC)")
            continue
        fpr, tpr, _ = roc_curve(y, p, drop_intermediate=True)
        if fpr.size > _MAX_CURVE_POINTS:  # thousands of vertices look the same, draw slower
            keep = np.unique(np.linspace(0, fpr.size - 1, _MAX_CURVE_POINTS).astype(np.int64))
            fpr, tpr = fpr[keep], tpr[keep]
        auc = roc_auc_score(y, p)
        ax.plot(fpr, tpr, label=f"{label} (AUC {auc:.4f})", **_style(label))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate (1 − specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return _save(fig, path)


@overload
def plot_reliability(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],
    path: None = None,
    title: str = "",
    n_bins: int = 15,
) -> Figure: ...


@overload
def plot_reliability(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],
    path: str | PathLike[str],
    title: str = "",
    n_bins: int = 15,
) -> Path: ...


def plot_reliability(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],
    path: str | PathLike[str] | None = None,
    title: str = "",
    n_bins: int = 15,
) -> Figure | Path:
    """Reliability diagram: observed positive rate against predicted probability.

    ``curves`` maps a legend label to ``(y, p)``; a label containing "Bayes"
    is drawn dashed black.  Top panel: one line per scorer over equal-mass
    bins (those of the ECE, shown in the legend) and the diagonal of perfect
    calibration.  Bottom panel: how many cases each scorer puts at each
    probability (20 equal-width bins, log scale), since equal-mass bins all
    hold the same count.

    With a ``path`` the PNG is written there and the path returned (the model
    card's chart).  Without one the :class:`~matplotlib.figure.Figure` itself
    is returned and nothing is written: a notebook shows it when it is a
    cell's value or passed to ``display``.  Its first axes is the top panel.
    """
    fig = _reliability_figure(curves, title, n_bins)
    return fig if path is None else _save(fig, path)


def _reliability_figure(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]], title: str, n_bins: int
) -> Figure:
    """The chart of :func:`plot_reliability`, on its own Agg canvas."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from training.evaluate import binary_metrics, reliability_curve

    fig = _canvas(6.0, 7.0)
    top: Axes
    bottom: Axes
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":", label="perfect")
    # A list, not an array: matplotlib's type hints take bin edges as a sequence of floats.
    edges = np.linspace(0.0, 1.0, 21).tolist()
    for label, (y_values, p_values) in curves.items():
        y, p = _arrays(y_values, p_values)
        if y.size == 0:
            continue
        table = reliability_curve(y, p, n_bins=n_bins)
        ece = binary_metrics(y, p, n_bins=n_bins)["ece"]
        style = _style(label)
        (line,) = top.plot(
            table["mean_p"],
            table["observed_rate"],
            marker="o",
            markersize=3.5,
            label=f"{label} (ECE {ece:.4f})",
            **style,
        )
        bottom.hist(
            p,
            bins=edges,
            histtype="step",
            color=line.get_color(),
            linestyle=style.get("linestyle", "-"),
            linewidth=1.2,
        )
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("observed positive rate")
    top.set_title(title)
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize="small")
    bottom.set_yscale("log")
    bottom.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    bottom.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    bottom.yaxis.set_minor_formatter(NullFormatter())
    bottom.set_xlabel("predicted probability")
    bottom.set_ylabel("cases")
    bottom.grid(alpha=0.3)
    return fig


def plot_feature_importance(
    names: Sequence[str],
    gains: ArrayLike,
    path: str | PathLike[str],
    title: str,
    top: int = 20,
) -> Path:
    """Horizontal bars of the ``top`` features by gain, as a share of the total gain."""
    labels = [str(n) for n in names]
    values = np.asarray(gains, dtype=np.float64).ravel()
    if len(labels) != values.size:
        raise ValueError(f"{len(labels)} names for {values.size} gains")
    total = values[np.isfinite(values)].sum()
    share = np.nan_to_num(values) / total * 100.0 if total > 0 else np.zeros_like(values)
    order = np.argsort(-share, kind="stable")[:top][::-1]  # largest at the top
    fig, ax = _figure(7.0, max(2.5, 0.32 * len(order) + 1.2))
    ax.barh(np.arange(len(order)), share[order], color="#4C72B0")
    ax.set_yticks(np.arange(len(order)), [labels[i] for i in order], fontsize="small")
    ax.set_xlabel("share of total gain (%)")
    shown = f"top {len(order)} of {len(labels)} features"
    ax.set_title(f"{title}\n{shown}")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_score_histograms(
    p_by_label: Mapping[str, ArrayLike], path: str | PathLike[str], title: str
) -> Path:
    """Distribution of the predicted probability, one histogram per true class.

    ``p_by_label`` maps a class name (e.g. ``"complex (is_complex = 1)"``) to
    the scores of the cases of that class.  Histograms are normalised to
    density so classes of different sizes compare; the legend gives each
    class's count.
    """
    fig, ax = _figure(6.5, 4.5)
    # A list, not an array: matplotlib's type hints take bin edges as a sequence of floats.
    edges = np.linspace(0.0, 1.0, 41).tolist()
    for label, scores in p_by_label.items():
        p = np.asarray(scores, dtype=np.float64).ravel()
        p = p[~np.isnan(p)]
        if p.size == 0:
            ax.plot([], [], label=f"{label} (n = 0)")
            continue
        ax.hist(
            p,
            bins=edges,
            density=True,
            histtype="stepfilled",
            alpha=0.35,
            label=f"{label} (n = {p.size:,})",
            edgecolor="black",
            linewidth=0.6,
        )
    ax.set_xlim(0, 1)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


@overload
def plot_follow_up(table: pd.DataFrame, path: None = None, title: str = "") -> Figure: ...


@overload
def plot_follow_up(table: pd.DataFrame, path: str | PathLike[str], title: str = "") -> Path: ...


def plot_follow_up(
    table: pd.DataFrame, path: str | PathLike[str] | None = None, title: str = ""
) -> Figure | Path:
    """Yuan per 100 follow-ups of each ranking at each budget, as grouped bars.

    ``table`` holds the rows of :func:`training.terminated.follow_up_value`
    (``ranking``, ``budget_share``, ``yuan_per_100``): one group of bars per
    budget K, one bar per ranking in the order of the rows, the Bayes-optimal
    ranking (the ceiling) hatched black.  With a ``path`` the PNG is written
    there and the path returned (the model card's chart); without, the figure
    is returned for a notebook to show.
    """
    rankings = list(dict.fromkeys(str(r) for r in table["ranking"]))
    budgets = sorted({float(b) for b in table["budget_share"]})
    value = {
        (str(r.ranking), float(r.budget_share)): float(r.yuan_per_100)
        for r in table.itertuples(index=False)
    }
    fig, ax = _figure(7.0, 4.5)
    width = 0.8 / max(len(rankings), 1)
    groups = np.arange(len(budgets), dtype=np.float64)
    for i, ranking in enumerate(rankings):
        heights = [value.get((ranking, b), np.nan) for b in budgets]
        style: dict[str, Any] = (
            {"facecolor": "white", "edgecolor": "black", "hatch": "//"}
            if "bayes" in ranking.lower()
            else {}
        )
        ax.bar(
            groups + (i - (len(rankings) - 1) / 2) * width, heights, width, label=ranking, **style
        )
    ax.set_xticks(groups, [f"K = {b * 100:g} %" for b in budgets])
    ax.set_xlabel("follow-up budget (share of the inventory, highest ranked first)")
    ax.set_ylabel("yuan recovered per 100 follow-ups")
    ax.yaxis.set_major_formatter(_yuan_ticks())
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    return fig if path is None else _save(fig, path)


@overload
def plot_yuan_calibration(table: pd.DataFrame, path: None = None, title: str = "") -> Figure: ...


@overload
def plot_yuan_calibration(
    table: pd.DataFrame, path: str | PathLike[str], title: str = ""
) -> Path: ...


def plot_yuan_calibration(
    table: pd.DataFrame, path: str | PathLike[str] | None = None, title: str = ""
) -> Figure | Path:
    """Predicted against realised mean yuan per decile of the prediction, on log axes.

    ``table`` is :func:`training.evaluate.amount_calibration`'s (``predicted``,
    ``realised`` and, for synthetic cases, ``expected``: the true expected
    amount, drawn dashed black as the Bayes limit is elsewhere).  Points on the
    diagonal are calibrated; amounts span orders of magnitude, hence the log
    scale.  With a ``path`` the PNG is written and the path returned; without,
    the figure is returned.
    """
    fig, ax = _figure(6.0, 5.5)
    predicted = table["predicted"].to_numpy(dtype=np.float64)
    shown = [predicted, table["realised"].to_numpy(dtype=np.float64)]
    ax.plot(predicted, shown[1], marker="o", markersize=4, label="realised (mean per decile)")
    if "expected" in table.columns:
        expected = table["expected"].to_numpy(dtype=np.float64)
        shown.append(expected)
        ax.plot(
            predicted,
            expected,
            marker="s",
            markersize=3.5,
            label="true expected (Bayes)",
            **_style("Bayes"),
        )
    values = np.concatenate(shown)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size:
        low, high = values.min() / 1.5, values.max() * 1.5
        ax.plot(
            [low, high], [low, high], color="grey", linewidth=0.8, linestyle=":", label="perfect"
        )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(_yuan_ticks())
        ax.yaxis.set_major_formatter(_yuan_ticks())
    ax.set_xlabel("predicted yuan (mean per decile)")
    ax.set_ylabel("yuan (mean per decile)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left", fontsize="small")
    return fig if path is None else _save(fig, path)


def _yuan_ticks() -> Any:
    """Axis ticks as ``¥12,000`` (the glyph is in the default fonts, Chinese text is not)."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: f"¥{v:,.0f}")
