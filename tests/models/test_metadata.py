"""A model version's metadata: typed, and the same after its model files are read back."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from app.files import json_default
from models.metadata import ModelMetadata
from models.profile import SCORE_KEY, CodeProfile, NumericProfile


def _metadata() -> ModelMetadata:
    return ModelMetadata(
        run_id="0f1e2d3c",
        trained_at="2025-01-02T03:04:05+00:00",
        training_window={
            "train": ("2021-01-04", "2023-06-30"),
            "test": ("2024-01-02", "2024-12-31"),
        },
        n_cases=200_000,
        test_metrics={"auc": 0.81, "log_loss": 0.52, "n": 30_000, "undefined": math.nan},
        calibration="isotonic",
        data_fingerprint="ab" * 32,
        git_commit="deadbeef",
        reference_profile={
            "province": CodeProfile(
                kind="categorical",
                values=(0.0, 1.0),
                codes=("11", "44"),
                shares=(0.3, 0.7),
                missing=0.0,
                n=10,
            ),
            "claim_amount_log": NumericProfile(
                kind="numeric", edges=(5.0, 9.0), shares=(0.2, 0.5, 0.3), missing=0.0, n=10
            ),
            SCORE_KEY: NumericProfile(
                kind="score", edges=(0.5,), shares=(0.6, 0.4), missing=0.0, n=5
            ),
        },
    )


def test_the_stored_json_reads_back_as_the_same_metadata():
    metadata = _metadata()
    text = json.dumps(metadata.to_json_dict(), default=json_default)
    restored = ModelMetadata.model_validate(json.loads(text))
    assert restored.model_dump(exclude={"test_metrics"}) == metadata.model_dump(
        exclude={"test_metrics"}
    )
    assert math.isnan(restored.test_metrics["undefined"])
    assert restored.test_metrics["n"] == 30_000 and isinstance(restored.test_metrics["n"], int)
    # Each entry comes back as its own kind, by its `kind`.
    assert isinstance(restored.reference_profile["province"], CodeProfile)
    assert restored.reference_profile[SCORE_KEY].kind == "score"


def test_unknown_fields_are_left_out_of_the_file():
    assert ModelMetadata().to_json_dict() == {}
    assert ModelMetadata(run_id="r").to_json_dict() == {"run_id": "r"}


def test_the_run_stamps_a_copy():
    metadata = _metadata()
    stamped = metadata.with_run(run_id="r2", data_fingerprint="f", git_commit="c")
    assert (stamped.run_id, stamped.data_fingerprint, stamped.git_commit) == ("r2", "f", "c")
    assert stamped.reference_profile == metadata.reference_profile
    assert metadata.run_id == "0f1e2d3c"


@pytest.mark.parametrize(
    "document",
    [
        {"run_by": "someone"},  # a misspelt field is an error, not ignored
        {"calibration": "platt"},
        {"reference_profile": {"province": {"kind": "histogram", "n": 1}}},
    ],
)
def test_metadata_that_is_not_ours_is_refused(document):
    with pytest.raises(ValidationError):
        ModelMetadata.model_validate(document)


def test_the_windows_read_as_json_lists():
    assert _metadata().window_lists() == {
        "train": ["2021-01-04", "2023-06-30"],
        "test": ["2024-01-02", "2024-12-31"],
    }
    assert ModelMetadata().window_lists() is None
