"""Files appear whole or not at all; numpy values become JSON."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from app.files import atomic_table_writer, file_format, json_default, write_atomically

SCHEMA = pa.schema([("case_id", pa.string()), ("p", pa.float64())])


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "report.json"
    write_atomically(target, "old")
    with pytest.raises(TypeError):  # fails half-way: the text cannot be written
        write_atomically(target, object())  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_secrets_are_private_before_a_byte_is_written(tmp_path):
    target = tmp_path / "keys" / "api-keys.json"
    write_atomically(target, "{}", mode=0o600, durable=True)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert target.read_text() == "{}"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_appears_only_when_every_chunk_was_written(tmp_path, suffix):
    target = tmp_path / f"scores{suffix}"
    chunk = pa.table({"case_id": ["a", "b"], "p": [0.1, 0.9]}, schema=SCHEMA)
    with pytest.raises(RuntimeError), atomic_table_writer(target, SCHEMA) as write:
        write(chunk)
        raise RuntimeError("the second chunk failed")
    assert not target.exists() and _leftovers(tmp_path) == []
    with atomic_table_writer(target, SCHEMA) as write:
        write(chunk)
        write(chunk)
    read = pd.read_csv(target) if suffix == ".csv" else pq.read_table(target).to_pandas()
    assert read["case_id"].tolist() == ["a", "b", "a", "b"]


def test_an_empty_table_still_has_its_columns(tmp_path):
    with atomic_table_writer(tmp_path / "empty.parquet", SCHEMA):
        pass
    assert pq.read_schema(tmp_path / "empty.parquet").names == ["case_id", "p"]


@pytest.mark.parametrize("name", ["cases.xlsx", "cases", "cases.json"])
def test_only_csv_and_parquet_are_tables(name):
    with pytest.raises(ValueError, match="neither CSV nor Parquet"):
        file_format(name)
    assert file_format("CASES.CSV") == "csv" and file_format("a.pq") == "parquet"


def test_numpy_values_and_days_become_json():
    document = {
        "n": np.int64(3),
        "auc": np.float32(0.5),
        "edges": np.array([1.0, 2.0]),
        "day": pd.Timestamp("2024-03-15 10:00"),
        "date": dt.date(2024, 3, 16),
    }
    assert json.loads(json.dumps(document, default=json_default)) == {
        "n": 3,
        "auc": 0.5,
        "edges": [1.0, 2.0],
        "day": "2024-03-15",
        "date": "2024-03-16",
    }
    with pytest.raises(TypeError, match="set is not JSON serialisable"):
        json.dumps({"x": {1}}, default=json_default)
