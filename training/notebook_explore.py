"""What ``notebooks/1.0-explore-cases.ipynb`` computes; its cells call these and show the results.

The data before any model sees it: each field's marginal distribution, what
is missing and when, how the key fields relate to both outcomes, and the
calibration targets of the synthetic generator measured on the sample.

The notebooks' inputs live here too (:class:`NotebookInputs`,
:func:`load_case_data`): they come from environment variables, so that CI runs
both notebooks on small data and a data scientist points them at a real export
without editing a cell.  ``2.0-evaluate-models.ipynb`` scores the same cases
afresh; :mod:`training.notebook_evaluate` imports them from here.

Plots use matplotlib's pyplot (the notebook's inline backend shows them);
labels are English because the default fonts have no Chinese glyphs, and the
tables beside them carry both languages.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.record import (
    FEATURE_FIELDS,
    FIELD_BY_NAME,
    LABELS,
    OUTCOME_FIELDS,
    FieldSpec,
    Kind,
)
from features.synthetic import CALIBRATION_TARGETS, SyntheticSample
from training.truth import TRUTH_COLUMNS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

__all__ = [
    "CaseData",
    "NotebookInputs",
    "calibration_table",
    "code_shares",
    "field_overview",
    "float_values",
    "load_case_data",
    "missingness",
    "outcome_rates",
    "plot_amounts",
    "plot_code_shares",
    "plot_missingness",
    "plot_outcome_rates",
    "with_derived_features",
]

#: Outcomes as the notebooks name them: (label column, short name).
OUTCOMES: tuple[tuple[str, str], ...] = (
    ("is_complex", "complex"),
    ("has_recoverable_assets", "recoverable assets"),
)
_MISSING = "(missing)"


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class NotebookInputs:
    """Where the notebooks get their data, read from ``TRIAGE_NOTEBOOK_*`` variables.

    ``TRIAGE_NOTEBOOK_CASES``
        A labelled export (CSV or Parquet).  Unset: synthetic cases are drawn.
    ``TRIAGE_NOTEBOOK_TRUTH``
        True probabilities of those cases (``triage generate --truth``), optional.
    ``TRIAGE_NOTEBOOK_ROWS``
        At most this many cases (default 20,000; CI uses a few thousand).
    ``TRIAGE_NOTEBOOK_SEED``
        Seed of the synthetic cases (default 2024, not a training seed).
    ``TRIAGE_NOTEBOOK_RUN``
        The MLflow run to evaluate (default: the latest finished training run of new cases).
    ``TRIAGE_NOTEBOOK_TERMINATED_RUN``
        The terminated-case (终本) run whose follow-ups to show (default: the latest one).
    """

    cases: Path | None = None
    truth: Path | None = None
    rows: int = 20_000
    seed: int = 2024
    run_id: str | None = None
    terminated_run_id: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> NotebookInputs:
        """The inputs named by ``environ`` (default ``os.environ``); unset or empty means default."""
        environ = os.environ if environ is None else environ

        def path(name: str) -> Path | None:
            value = environ.get(name, "").strip()
            return Path(value).expanduser() if value else None

        rows = int(environ.get("TRIAGE_NOTEBOOK_ROWS") or cls.rows)
        if rows < 100:
            raise ValueError(f"TRIAGE_NOTEBOOK_ROWS must be at least 100, got {rows}")
        return cls(
            cases=path("TRIAGE_NOTEBOOK_CASES"),
            truth=path("TRIAGE_NOTEBOOK_TRUTH"),
            rows=rows,
            seed=int(environ.get("TRIAGE_NOTEBOOK_SEED") or cls.seed),
            run_id=environ.get("TRIAGE_NOTEBOOK_RUN", "").strip() or None,
            terminated_run_id=environ.get("TRIAGE_NOTEBOOK_TERMINATED_RUN", "").strip() or None,
        )


@dataclass
class CaseData:
    """Cases for a notebook: the canonical frame and, where known, the truth."""

    cases: pd.DataFrame
    truth: pd.DataFrame | None  # p_complex_true, p_assets_true, aligned with cases
    sample: SyntheticSample | None  # the generator's sample (for its calibration targets)
    source: str

    @property
    def labelled(self) -> bool:
        """Whether the cases carry both outcome labels (an export may not)."""
        return all(label in self.cases.columns for label in LABELS)


def load_case_data(inputs: NotebookInputs) -> CaseData:
    """The export named by the inputs (validated, first ``rows`` cases), or synthetic cases."""
    from features.load import load_cases
    from features.synthetic import generate_cases

    if inputs.cases is None:
        sample = generate_cases(inputs.rows, seed=inputs.seed)
        truth = sample.truth[list(TRUTH_COLUMNS.values())].reset_index(drop=True)
        source = f"{inputs.rows:,} synthetic cases (seed {inputs.seed})"
        return CaseData(cases=sample.cases, truth=truth, sample=sample, source=source)
    cases = load_cases(inputs.cases).head(inputs.rows).reset_index(drop=True)
    truth = None
    if inputs.truth is not None:
        from training.truth import read_truth  # checks the file names every case, once

        aligned = read_truth(inputs.truth, cases["case_id"])
        truth = pd.DataFrame({TRUTH_COLUMNS[kind]: aligned[kind] for kind in TRUTH_COLUMNS})
    return CaseData(
        cases=cases, truth=truth, sample=None, source=f"{len(cases):,} cases of {inputs.cases}"
    )


# --------------------------------------------------------------------------
# The data
# --------------------------------------------------------------------------


def _fields(cases: pd.DataFrame) -> list[FieldSpec]:
    return [spec for spec in (*FEATURE_FIELDS, *OUTCOME_FIELDS) if spec.name in cases.columns]


def float_values(column: pd.Series) -> np.ndarray:
    """A column as float64, NaN where missing (pandas' nullable dtypes included)."""
    # pandas has no type hints here; the annotation says what comes back.
    values: np.ndarray = column.to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def field_overview(cases: pd.DataFrame) -> pd.DataFrame:
    """One row per contract field: group, kind, labels, share missing and a short summary."""
    rows = []
    for spec in _fields(cases):
        column = cases[spec.name]
        missing = float(column.isna().mean())
        if spec.kind is Kind.CODE:
            counts = column.value_counts(normalize=True, dropna=True)
            top = counts.index[0] if len(counts) else None
            summary = (
                f"{top} ({_code_name(spec.name, top)}) {counts.iloc[0]:.0%}"
                if top is not None
                else ""
            )
            distinct = int(column.nunique(dropna=True))
        else:
            values = float_values(column)
            known = values[~np.isnan(values)]
            distinct = int(len(np.unique(known)))
            if spec.kind in (Kind.BOOLEAN, Kind.LABEL):
                summary = f"yes {known.mean():.1%}" if len(known) else ""
            elif len(known):
                summary = (
                    f"median {_short(np.median(known))}, p90 {_short(np.quantile(known, 0.9))}, "
                    f"max {_short(known.max())}"
                )
            else:
                summary = ""
        rows.append(
            {
                "field": spec.name,
                "zh": spec.zh,
                "en": spec.en,
                "group": spec.group.value,
                "kind": spec.kind.value,
                "missing": missing,
                "distinct": distinct,
                "summary": summary,
            }
        )
    return pd.DataFrame(rows).set_index("field")


def missingness(cases: pd.DataFrame) -> pd.DataFrame:
    """Share missing of every field that is ever missing: overall and by inquiry state.

    Inquiry fields are empty by contract until the first network inquiry
    answers, so the split shows what is missing *besides* that.
    """
    answered = float_values(cases["inquiry_done"]) == 1.0
    rows = []
    for spec in _fields(cases):
        missing = cases[spec.name].isna().to_numpy()
        if not missing.any():
            continue
        rows.append(
            {
                "field": spec.name,
                "zh": spec.zh,
                "group": spec.group.value,
                "all cases": missing.mean(),
                "inquiry answered": missing[answered].mean() if answered.any() else math.nan,
                "inquiry pending": missing[~answered].mean() if (~answered).any() else math.nan,
            }
        )
    return pd.DataFrame(rows).set_index("field").sort_values("all cases", ascending=False)


def code_shares(cases: pd.DataFrame, field_name: str) -> pd.DataFrame:
    """Cases per code of a coded field, in contract order, with both labels."""
    spec = FIELD_BY_NAME[field_name]
    counts = cases[field_name].value_counts(dropna=False)
    rows = [
        {"code": c.code, "zh": c.zh, "en": c.en, "n": int(counts.get(c.code, 0))}
        for c in spec.codes
    ]
    n_missing = int(cases[field_name].isna().sum())
    if n_missing:
        rows.append({"code": _MISSING, "zh": "缺失", "en": "missing", "n": n_missing})
    table = pd.DataFrame(rows)
    table["share"] = table["n"] / max(len(cases), 1)
    return table.set_index("code")


def with_derived_features(cases: pd.DataFrame) -> pd.DataFrame:
    """The cases with the feature builder's derived features as extra columns.

    Derived features (funds found ÷ claim, nothing found …) are what the
    models see beyond the raw fields; the builder is fitted on these cases.
    """
    from features.builder import FEATURE_NAMES, CaseFeatureBuilder

    X = CaseFeatureBuilder().fit(cases).transform(cases)
    return cases.assign(
        **{name: X[:, i] for i, name in enumerate(FEATURE_NAMES) if name not in cases.columns}
    )


def outcome_rates(cases: pd.DataFrame, field_name: str, bands: int = 5) -> pd.DataFrame:
    """Share of complex cases and of cases with recoverable assets, by the value of a field.

    Codes and flags by value; numbers in up to ``bands`` quantile bands (ties
    kept together, so a count with many zeros gets a band of its own).
    Missing values are their own row.  ``field_name`` may also be a derived
    feature of :func:`with_derived_features`.
    """
    column = cases[field_name]
    if field_name in FIELD_BY_NAME:
        kind = FIELD_BY_NAME[field_name].kind
    else:
        known = float_values(column)
        known = known[~np.isnan(known)]
        if np.isin(known, (0.0, 1.0)).all():
            kind = Kind.BOOLEAN
        else:
            kind = Kind.INTEGER if np.array_equal(known, np.round(known)) else Kind.AMOUNT
    if kind is Kind.CODE:
        spec = FIELD_BY_NAME[field_name]
        values = column.astype(object).where(column.notna(), _MISSING)
        order = [c.code for c in spec.codes] + [_MISSING]
    elif kind is Kind.BOOLEAN:
        numbers = float_values(column)
        values = pd.Series(
            np.where(np.isnan(numbers), _MISSING, np.where(numbers == 1.0, "yes", "no")),
            index=cases.index,
        )
        order = ["no", "yes", _MISSING]
    else:
        values, order = _numeric_bands(float_values(column), field_name, kind, bands)
    frame = pd.DataFrame({"value": values.to_numpy()})
    for label, name in OUTCOMES:
        if label in cases.columns:
            frame[name] = float_values(cases[label])
    grouped = frame.groupby("value", sort=False)
    table = grouped.size().rename("n").to_frame()
    for _, name in OUTCOMES:
        if name in frame.columns:
            table[f"{name} rate"] = grouped[name].mean()
    table["share"] = table["n"] / max(len(cases), 1)
    table = table.reindex([v for v in order if v in table.index])
    if kind is Kind.CODE:
        table.insert(0, "label", [_code_name(field_name, v) for v in table.index])
    return table


def _numeric_bands(
    numbers: np.ndarray, field_name: str, kind: Kind, bands: int
) -> tuple[pd.Series, list[str]]:
    """Band label of each number, and the bands in order.

    Counts are read per value up to their 95th percentile (``0``, ``1``,
    ``≥2``): quantile bands of a count that is mostly 0 would be one band.
    Other numbers get quantile bands, shown in CNY or as a ratio for the
    ``log1p`` features.
    """
    missing = np.isnan(numbers)
    known = numbers[~missing]
    cap = int(np.ceil(np.quantile(known, 0.95))) if len(known) else 0
    if kind is Kind.INTEGER and 1 <= cap <= 12:
        low = int(known.min())
        order = [str(v) for v in range(low, cap)] + [f"≥{cap}"]
        text = np.where(
            known >= cap, f"≥{cap}", np.char.mod("%d", np.minimum(known, cap).astype(np.int64))
        )
    else:
        edges = np.unique(np.quantile(known, np.linspace(0, 1, bands + 1)))
        shown = np.expm1(edges) if field_name.endswith("_log") else edges
        order = [f"{_short(lo)}–{_short(hi)}" for lo, hi in zip(shown[:-1], shown[1:], strict=True)]
        if not order:
            order = [_short(shown[0])] if len(shown) else []
        index = np.clip(np.searchsorted(edges, known, side="right") - 1, 0, max(len(order) - 1, 0))
        text = np.asarray(order, dtype=object)[index] if order else np.array([], dtype=object)
    values = np.full(len(numbers), _MISSING, dtype=object)
    values[~missing] = text
    return pd.Series(values), [*order, _MISSING]


def calibration_table(sample: SyntheticSample) -> pd.DataFrame:
    """Every calibration target of the generator, measured on the sample, and whether it is met."""
    from features.synthetic import measure_calibration

    measured = measure_calibration(sample)
    rows = [
        {
            "target": t.name,
            "wanted": t.target,
            "low": t.low,
            "high": t.high,
            "measured": measured.get(t.name, math.nan),
            "definition": t.definition,
        }
        for t in CALIBRATION_TARGETS
    ]
    table = pd.DataFrame(rows).set_index("target")
    table["within range"] = (table["measured"] >= table["low"]) & (
        table["measured"] <= table["high"]
    )
    return table


def _code_name(field_name: str, code: object, lang: str = "zh") -> str:
    from features.record import code_label

    if code is None or code == _MISSING:
        return "缺失" if lang == "zh" else "missing"
    return code_label(field_name, str(code), lang)


def _short(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    if abs(x) >= 1e6:
        return f"{x / 1e6:.3g}M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:.3g}k"
    return f"{x:.3g}"


# --- plots of the data --------------------------------------------------------------------


def _axes(
    ax: Axes | None, width: float = 7.0, height: float = 3.2
) -> tuple[Figure | SubFigure, Axes]:
    """The figure of ``ax``, or a new pyplot figure and its axes when there is none."""
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height), layout="constrained")


def plot_code_shares(
    cases: pd.DataFrame, field_name: str, ax: Axes | None = None
) -> Figure | SubFigure:
    """Horizontal bars: share of cases per code (English labels)."""
    table = code_shares(cases, field_name)
    fig, ax = _axes(ax, height=max(2.0, 0.22 * len(table) + 0.8))
    ax.barh(table["en"], table["share"], color="#1a73e8")
    ax.invert_yaxis()
    ax.set_xlabel("share of cases")
    ax.set_title(FIELD_BY_NAME[field_name].en)
    return fig


def plot_amounts(
    cases: pd.DataFrame, fields: Sequence[str], ax: Axes | None = None
) -> Figure | SubFigure:
    """Histograms of amounts on a log scale (zeros and missing left out, counted in the legend)."""
    fig, ax = _axes(ax)
    for name in fields:
        values = float_values(cases[name])
        positive = values[values > 0]
        if not len(positive):
            continue
        share = len(positive) / len(values)
        ax.hist(
            np.log10(positive),
            bins=60,
            histtype="step",
            linewidth=1.6,
            label=f"{FIELD_BY_NAME[name].en} (>0 in {share:.0%})",
        )
    ax.set_xlabel("log10 CNY")
    ax.set_ylabel("cases")
    ax.legend(fontsize=8)
    ax.set_title("Amounts")
    return fig


def plot_missingness(table: pd.DataFrame, ax: Axes | None = None) -> Figure | SubFigure:
    """Share missing per field, answered vs pending inquiry."""
    fig, ax = _axes(ax, height=max(2.5, 0.25 * len(table) + 0.8))
    positions = np.arange(len(table))
    ax.barh(positions - 0.2, table["inquiry answered"], height=0.4, label="inquiry answered")
    ax.barh(positions + 0.2, table["inquiry pending"], height=0.4, label="inquiry pending")
    ax.set_yticks(positions, table.index, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("share missing")
    ax.legend(fontsize=8)
    ax.set_title("Missing values")
    return fig


def plot_outcome_rates(
    table: pd.DataFrame, title: str, ax: Axes | None = None
) -> Figure | SubFigure:
    """Rate of each outcome by value (bars), from :func:`outcome_rates`."""
    fig, ax = _axes(ax, height=3.0)
    rates = [c for c in table.columns if c.endswith(" rate")]
    positions = np.arange(len(table))
    width = 0.8 / max(len(rates), 1)
    for i, column in enumerate(rates):
        ax.bar(positions + (i - (len(rates) - 1) / 2) * width, table[column], width, label=column)
    ax.set_xticks(positions, [str(v) for v in table.index], rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("rate")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig
