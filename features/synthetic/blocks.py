"""The cases of a file as Arrow tables, drawn block by block.

Cases are drawn in blocks of :data:`CHUNK_SIZE` from ``SeedSequence(seed).spawn``,
so the first block of a large file equals a small file of the same seed, and
memory stays bounded whatever the number of cases.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from features.record import FIELDS, PII_FIELDS, Kind
from features.synthetic.calibration import _calibration
from features.synthetic.draw import _draw_block
from features.synthetic.personal_data import _pii_columns
from features.synthetic.text import _join, _text
from features.synthetic.world import GeneratorConfig, _codes_of, _World, _world

#: Cases drawn per block.  Fixed: the output of a seed depends on nothing but ``n``.
CHUNK_SIZE = 250_000


def _arrow_type(kind: Kind) -> pa.DataType:
    """The Arrow type a field of this kind is written as."""
    return {
        Kind.STRING: pa.string(),
        Kind.CODE: pa.string(),
        Kind.DATE: pa.date32(),
        Kind.AMOUNT: pa.float64(),
        Kind.INTEGER: pa.int64(),
        Kind.BOOLEAN: pa.bool_(),
        Kind.LABEL: pa.int8(),
    }[kind]


def _schema(with_pii: bool) -> pa.Schema:
    """The contract's columns, in its order, then the personal-data columns if asked for."""
    fields = [pa.field(f.name, _arrow_type(f.kind)) for f in FIELDS]
    fields += [pa.field(name, pa.string()) for name in PII_FIELDS] if with_pii else []
    return pa.schema(fields)


_TRUTH_SCHEMA = pa.schema(
    [
        ("case_id", pa.string()),
        ("p_complex_true", pa.float64()),
        ("p_assets_true", pa.float64()),
        # p_assets_true × E[recovered_amount | recovered], yuan (see draw_outcomes).
        ("expected_recovery_true", pa.float64()),
    ]
)


def _arrow_column(
    kind: Kind, name: str, values: np.ndarray, code_values: tuple[str, ...] | None = None
) -> pa.Array:
    """A drawn column (internal codes, NaN for missing) as the Arrow column written.

    ``code_values``: the codes of a coded field of another record than the new-case one.
    """
    if kind is Kind.CODE:
        codes = _text(code_values if code_values is not None else _codes_of(name))
        index = values.astype(np.int64)
        return codes.take(pa.array(index, mask=index < 0))
    if kind is Kind.DATE:
        return pa.array(values.astype("datetime64[D]"), type=pa.date32())
    if kind is Kind.BOOLEAN:
        numbers = values.astype(float)
        return pa.array(numbers == 1.0, mask=np.isnan(numbers))
    if kind is Kind.INTEGER:
        missing = np.isnan(values)
        return pa.array(np.where(missing, 0, values).astype(np.int64), mask=missing)
    if kind is Kind.LABEL:
        return pa.array(values.astype(np.int8))
    return pa.array(values, type=pa.float64(), from_pandas=True)  # NaN -> null


class _CaseNumbers:
    """Case numbers (案号) unique within a file: each court numbers its cases per year."""

    def __init__(self, config: GeneratorConfig, world: _World) -> None:
        self.first_year = config.start.year
        self.n_years = config.end.year - config.start.year + 1
        self.world = world
        self.issued = np.zeros(world.n_courts * self.n_years, dtype=np.int64)

    def next(self, cases: Mapping[str, np.ndarray], rng: np.random.Generator) -> pa.Array:
        """The case numbers of the next block's cases, such as ``(2023)粤0304执1234号``."""
        world = self.world
        court = cases["court"].astype(np.int64)
        filed = cases["filing_date"].astype("datetime64[D]")
        year = filed.astype("datetime64[Y]").astype(np.int64) + 1970
        key = court * self.n_years + (year - self.first_year)
        # Within a court and year the numbers follow the filing dates.
        order = np.lexsort((filed.astype(np.int64), key))
        sorted_key = key[order]
        n = len(key)
        starts = np.r_[True, sorted_key[1:] != sorted_key[:-1]]
        rank = np.arange(n) - np.maximum.accumulate(np.where(starts, np.arange(n), 0))
        # Our file holds a sample of each court's cases: numbers advance by a court's
        # stride, with a random step inside it, and continue across blocks.
        stride = world.court_stride[court[order]]
        number_sorted = (
            1
            + (self.issued[sorted_key] + rank) * stride
            + (rng.random(n) * stride).astype(np.int64)
        )
        number = np.empty(n, dtype=np.int64)
        number[order] = number_sorted
        self.issued += np.bincount(key, minlength=len(self.issued))
        return _join(
            "(",
            pa.array(year).cast(pa.string()),
            ")",
            _text(world.province_abbr).take(pa.array(cases["province"].astype(np.int64))),
            _text(world.court_suffix).take(pa.array(court)),
            "执",
            pa.array(number).cast(pa.string()),
            "号",
        )


@dataclass
class _Block:
    """A block of cases as written, their truth, and their latent events."""

    cases: pa.Table
    truth: pa.Table
    events: dict[str, np.ndarray]


def _blocks(n: int, seed: int, config: GeneratorConfig, with_pii: bool) -> Iterator[_Block]:
    """The cases of a file, block by block (memory stays bounded)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    world = _world()
    calibration = _calibration(config)
    numbers = _CaseNumbers(config, world)
    schema = _schema(with_pii)
    n_blocks = -(-n // CHUNK_SIZE)
    # Block i always gets child i of the seed, whatever n is.
    for i, child in enumerate(np.random.SeedSequence(int(seed)).spawn(n_blocks)):
        size = min(CHUNK_SIZE, n - i * CHUNK_SIZE)
        main, personal = (np.random.default_rng(s) for s in child.spawn(2))
        drawn = _draw_block(main, size, config, calibration, world)
        cases = drawn["cases"]
        case_id = numbers.next(cases, main)
        columns: dict[str, pa.Array] = {
            "case_id": case_id,
            "court_id": _text(world.court_ids).take(pa.array(cases["court"].astype(np.int64))),
        }
        for spec in FIELDS:
            if spec.name not in columns:
                columns[spec.name] = _arrow_column(spec.kind, spec.name, cases[spec.name])
        if with_pii:
            # A separate stream: adding personal data changes no other column.
            columns |= _pii_columns(personal, cases, world)
        table = pa.Table.from_arrays([columns[name] for name in schema.names], schema=schema)
        truth = pa.Table.from_arrays(
            [
                case_id,
                pa.array(drawn["truth"]["p_complex_true"]),
                pa.array(drawn["truth"]["p_assets_true"]),
                pa.array(drawn["truth"]["expected_recovery_true"]),
            ],
            schema=_TRUTH_SCHEMA,
        )
        yield _Block(table, truth, drawn["events"])
