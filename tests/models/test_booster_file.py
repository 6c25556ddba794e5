"""The structure check that keeps LightGBM from reading a booster file cut short.

LightGBM aborts the process (SIGABRT in the trees, SIGSEGV in the
parameters) rather than raising on such a file, so ``booster_file_problem``
must refuse every cut before the file is whole.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from models.case_model import booster_file_problem


@pytest.fixture(scope="module")
def model_text() -> bytes:
    """A small booster's text model, as ``CaseModel.save`` writes one."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + rng.normal(size=300) > 0).astype(int)
    params = {"objective": "binary", "num_leaves": 5, "verbose": -1, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=6)
    return booster.model_to_string().encode()


def test_a_whole_model_passes(model_text):
    assert booster_file_problem(model_text) is None


def test_every_cut_before_the_end_of_the_parameters_is_refused(model_text):
    whole_from = model_text.index(b"end of parameters") + len(b"end of parameters")
    accepted = [cut for cut in range(whole_from) if booster_file_problem(model_text[:cut]) is None]
    assert accepted == []


def test_a_cut_in_the_last_line_is_refused(model_text):
    last = model_text.rindex(b"pandas_categorical:")
    cut = model_text[: last + len(b"pandas_categorical:nu")]
    assert "pandas_categorical" in str(booster_file_problem(cut))


def test_a_tree_shorter_than_its_header_says_is_refused(model_text):
    threshold = model_text.index(b"\nthreshold=") + len(b"\nthreshold=")
    damaged = model_text[:threshold] + model_text[threshold + 1 :]
    assert "header announces" in str(booster_file_problem(damaged))


@pytest.mark.parametrize("text", [b"", b"hello\n", b"\xff\xfe tree\n"])
def test_what_is_no_model_at_all_is_refused(text):
    assert "'tree' header" in str(booster_file_problem(text))
