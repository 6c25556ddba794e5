"""A generator's truth file is read only when it fits the data, and refused naming what does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.truth import TruthFileError, read_truth


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: pd.concat([t, t.head(1)]), r"1 case_id\(s\) appear more than once, e.g. 'c0'"),
        (lambda t: t.drop(index=2), r"no p_complex_true in \[0, 1\], e.g. case_id 'c2'"),
        (lambda t: t.assign(p_assets_true=[0.5, 0.5, np.nan, 0.5]), r"no p_assets_true.*'c2'"),
        (lambda t: t.assign(p_complex_true=[0.5, 1.5, 0.5, 0.5]), r"no p_complex_true.*'c1'"),
        (lambda t: t.drop(columns="p_assets_true"), "needs the columns"),
    ],
)
def test_a_bad_truth_file_is_refused_naming_the_file_and_a_case(change, expected, tmp_path):
    case_ids = pd.Series([f"c{i}" for i in range(4)])
    good = pd.DataFrame({"case_id": case_ids, "p_complex_true": 0.5, "p_assets_true": 0.25})
    assert read_truth(_csv(good, tmp_path / "good.csv"), case_ids)["assets"].tolist() == [0.25] * 4
    path = _csv(change(good), tmp_path / "truth.csv")
    with pytest.raises(TruthFileError, match=expected) as refused:
        read_truth(path, case_ids)
    assert str(path) in str(refused.value)


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path
