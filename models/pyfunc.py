"""The MLflow face of a :class:`~models.case_model.CaseModel`.

``mlflow.pyfunc.load_model("models:/triage-assets@champion").predict(cases)``
takes cases as the contract writes them (one row per case, contract column
names; personal-data columns are dropped) and returns exactly what serving
needs: ``case_id``, calibrated ``probability``, ``raw_score``, the top
``reasons`` (JSON), for the stream model the ``stream`` and for the assets
model the ``expected_recovery`` in yuan (NaN when its version has no amount
part).  The model is stored as plain files and read by :meth:`CaseModel.load`, so no pandas
categorical dtype ever reaches MLflow's schema enforcement (which records
categoricals as strings and then fails to score a LightGBM model on them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from mlflow.pyfunc.model import PythonModel

from features.contract import CASE_RECORD, Contract
from features.terminated import TERMINATED_RECORD

if TYPE_CHECKING:
    from mlflow.models import ModelSignature


def record_of(kind: str) -> Contract:
    """The record a model of ``kind`` reads: terminated cases for the 终本 models."""
    return TERMINATED_RECORD if kind in ("resume", "recovery") else CASE_RECORD


def model_signature(kind: str) -> ModelSignature:
    """Input: the case record's columns (required as the contract says); output: the payload.

    Input columns are typed ``Any``: MLflow's own enforcement refuses to turn
    an int64 column into a double ("not safe") and a CSV's text into numbers,
    so a file read with ``pd.read_csv`` would fail before the contract's own
    validation (:func:`features.load.validate_frame`) could say precisely what
    is wrong.  The contract check inside ``predict`` is the type check.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec
    from mlflow.types.schema import AnyType

    inputs = Schema(
        [
            ColSpec(AnyType(), f.name, required=f.required)  # type: ignore[no-untyped-call]
            for f in record_of(kind).record_fields
        ]
    )
    outputs: list[ColSpec | TensorSpec] = [
        ColSpec("string", "case_id"),
        ColSpec("double", "probability"),
        ColSpec("double", "raw_score"),
        ColSpec("string", "reasons"),
    ]
    if kind == "stream":
        outputs.append(ColSpec("string", "stream"))
    if kind == "assets":
        # Null for versions without the amount part (see CaseModel.expected_recovery).
        outputs.append(ColSpec("double", "expected_recovery", required=False))
    return ModelSignature(inputs=inputs, outputs=Schema(outputs))


def input_example(kind: str = "stream") -> pd.DataFrame:
    """The record's example case (no court data, no personal data)."""
    return pd.DataFrame([{f.name: f.example for f in record_of(kind).record_fields}])


class TriagePyfuncModel(PythonModel):
    """Scores contract-shaped cases with the stored :class:`CaseModel`."""

    def load_context(self, context: Any) -> None:
        """Read the model files MLflow unpacked beside the code."""
        from models.case_model import CaseModel
        from models.registry import MODEL_ARTIFACT

        self.model = CaseModel.load(context.artifacts[MODEL_ARTIFACT])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """The serving payload of each case: probability, raw score, reasons (and stream)."""
        from features.load import CaseDataError, validate_frame

        frame, report = validate_frame(
            pd.DataFrame(model_input), source="model input", contract=record_of(self.model.kind)
        )
        if not report.ok:
            raise CaseDataError(report)
        features = self.model.features(frame)
        prediction = self.model.predict_features(features)
        assert prediction.reasons is not None  # predict gives three reasons per case
        out = pd.DataFrame(
            {
                "case_id": frame["case_id"].astype(str).to_numpy(),
                "probability": prediction.probability,
                "raw_score": prediction.raw_score,
                "reasons": prediction.reasons.json_lists(),
            }
        )
        if self.model.thresholds is not None:
            out["stream"] = self.model.route(prediction.probability)
        if self.model.kind == "assets":
            expected = self.model.expected_recovery(features, prediction.probability)
            out["expected_recovery"] = float("nan") if expected is None else expected
        return out
