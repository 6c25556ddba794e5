"""Arrow string columns, built without a Python loop over the rows."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def _text(values) -> pa.Array:
    return pa.array(list(values), type=pa.string())


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")
