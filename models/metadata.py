"""What a model version says about itself: one typed object, written by training, read by serving.

It is stored in the version's ``model.json`` (the ``metadata`` object, fields
left out when unknown) and shown by ``GET /model_info``, ``triage drift`` and
the dashboard.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from models.calibration import CalibrationMethod
from models.policy import CourtPolicy, ScoreSummary
from models.profile import ReferenceProfile

__all__ = ["ModelMetadata", "TestMetrics"]

#: Test metrics by name (``auc``, ``log_loss``, ``brier``, ``ece``, ``n`` …); NaN when undefined.
TestMetrics = dict[str, float | int | None]


class ModelMetadata(BaseModel):
    """Where a model version comes from and how it did on its out-of-time test split."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str | None = Field(None, description="The MLflow run that trained it.")
    trained_at: str | None = Field(None, description="When training finished (ISO-8601 UTC).")
    training_window: dict[str, tuple[str, str]] | None = Field(
        None, description="First and last filing day of each split (train, validation, test)."
    )
    n_cases: int | None = Field(None, description="Labelled cases of the training export.")
    test_metrics: TestMetrics | None = Field(None, description="Metrics on the test split.")
    calibration: CalibrationMethod | None = Field(None, description="The calibration chosen.")
    data_fingerprint: str | None = Field(None, description="SHA-256 of the training export.")
    git_commit: str | None = Field(None, description="The code that trained it.")
    reference_profile: ReferenceProfile | None = Field(
        None, description="Training features and test scores, binned: what drift compares with."
    )
    validation_scores: ScoreSummary | None = Field(
        None,
        description="Stream model: its calibrated validation scores binned with their labels, "
        "from which any court policy's thresholds are computed without retraining.",
    )
    routing_policy: CourtPolicy | None = Field(
        None,
        description="Stream model: the court policy its own thresholds were computed for "
        "(the national default at training time).",
    )

    def with_run(self, *, run_id: str, data_fingerprint: str, git_commit: str) -> ModelMetadata:
        """The same metadata, stamped with the run that registers the version."""
        return self.model_validate(
            self.model_dump()
            | {"run_id": run_id, "data_fingerprint": data_fingerprint, "git_commit": git_commit}
        )

    def window_lists(self) -> dict[str, list[str]] | None:
        """First and last filing day of each split, as JSON lists (``/model_info``, drift)."""
        if self.training_window is None:
            return None
        return {split: list(days) for split, days in self.training_window.items()}

    def to_json_dict(self) -> dict[str, object]:
        """The metadata as ``model.json`` stores it (unknown fields left out)."""
        return self.model_dump(exclude_none=True)
