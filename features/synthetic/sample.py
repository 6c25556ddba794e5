"""Synthetic cases in memory, and the true probabilities of any cases."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.record import FIELD_BY_NAME, FIELDS, FieldSpec, Kind
from features.synthetic.blocks import _blocks
from features.synthetic.calibration import _calibration
from features.synthetic.truth import _probabilities
from features.synthetic.world import GeneratorConfig


@dataclass(frozen=True)
class SyntheticSample:
    """A generated sample.

    ``cases`` has the contract's columns and the four outcomes in the canonical
    form of :mod:`features.load` (codes and identity as ``str``, ``filing_date``
    as ``datetime64``, numbers and booleans as float64 with NaN for missing), so
    it goes straight to the feature builder.  ``truth`` holds
    ``case_id, p_complex_true, p_assets_true``.  ``events`` holds, per case,
    internal latent events that are not part of the contract (for calibration
    checks only; never features): the solvency, the four components of
    ``is_complex`` and their probabilities, full performance.
    """

    cases: pd.DataFrame
    truth: pd.DataFrame
    events: pd.DataFrame


def _canonical(table: pa.Table, fields: Mapping[str, FieldSpec] = FIELD_BY_NAME) -> pd.DataFrame:
    """An Arrow table of cases as the canonical frame of :mod:`features.load`."""
    columns: dict[str, pd.Series] = {}
    for name in table.column_names:
        column = table.column(name)
        spec = fields.get(name)
        if spec is None or spec.kind in (Kind.STRING, Kind.CODE):
            columns[name] = column.to_pandas().astype("str")
        elif spec.kind is Kind.DATE:
            columns[name] = pd.Series(
                column.to_numpy().astype("datetime64[ns]"), dtype="datetime64[ns]"
            )
        else:
            columns[name] = pd.Series(
                pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype="float64"
            )
    return pd.DataFrame(columns)


def generate_cases(
    n: int, seed: int = 0, config: GeneratorConfig | None = None, with_pii: bool = False
) -> SyntheticSample:
    """Draw ``n`` synthetic cases with their true label probabilities and latent events.

    Deterministic for a seed; the rows equal those :func:`write_synthetic` writes.
    """
    config = config or GeneratorConfig()
    tables, truths, events = [], [], []
    for block in _blocks(n, seed, config, with_pii):
        tables.append(block.cases)
        truths.append(block.truth)
        events.append(block.events)
    cases = pa.concat_tables(tables)
    case_id = cases.column("case_id").to_pandas().astype("str")
    event_frame = pd.DataFrame(
        {name: np.concatenate([e[name] for e in events]) for name in events[0]}
    )
    event_frame.insert(0, "case_id", case_id)
    truth = pa.concat_tables(truths).to_pandas()
    truth["case_id"] = case_id
    return SyntheticSample(cases=_canonical(cases), truth=truth, events=event_frame)


def true_probabilities(cases: pd.DataFrame, config: GeneratorConfig | None = None) -> pd.DataFrame:
    """The true ``p_complex_true`` and ``p_assets_true`` of cases, from their fields alone.

    The generator's labels are drawn from exactly these functions; use this to
    ask "what if" (direction checks) or to recompute the truth of a file read
    back.  ``cases`` may be the generator's frame or the canonical frame of
    :mod:`features.load`.
    """
    config = config or GeneratorConfig()
    calibration = _calibration(config)
    c: dict[str, np.ndarray] = {}
    for spec in FIELDS:
        if not spec.is_feature:
            continue
        column = cases[spec.name] if spec.name in cases else pd.Series(np.nan, index=cases.index)
        if spec.kind is Kind.CODE:
            codes = pd.Categorical(column, categories=list(spec.code_values)).codes
            c[spec.name] = codes.astype(np.int8)
        else:
            c[spec.name] = column.to_numpy(dtype=np.float64, na_value=np.nan)
    probabilities = _probabilities(c, calibration)
    return pd.DataFrame(
        {"p_complex_true": probabilities["complex"], "p_assets_true": probabilities["assets"]},
        index=cases.index,
    )
