"""Arrow string helpers: for personal data, case numbers and amounts written as text."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc


def _text(values: Iterable[str]) -> pa.Array:
    """Strings as an Arrow array (a vocabulary to ``take`` from, usually)."""
    return pa.array(list(values), type=pa.string())


def _join(*parts: pa.Array | str) -> pa.Array:
    """Arrays and scalars concatenated row by row, with no separator."""
    return pc.binary_join_element_wise(*parts, "")
