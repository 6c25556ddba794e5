"""The MLflow face of a :class:`~training.model.CaseModel`.

``mlflow.pyfunc.load_model("models:/triage-assets@champion").predict(cases)``
takes cases as the contract writes them (one row per case, contract column
names; personal-data columns are dropped) and returns exactly what serving
needs: ``case_id``, calibrated ``probability``, ``raw_score``, the top
``reasons`` (JSON) and, for the stream model, the ``stream``.  The model is
stored as plain files and read by :meth:`CaseModel.load`, so no pandas
categorical dtype ever reaches MLflow's schema enforcement (which records
categoricals as strings and then fails to score a LightGBM model on them).
"""

from __future__ import annotations

import json

import mlflow.pyfunc
import pandas as pd

from features.record import RECORD_FIELDS, Kind, example_case

_MLFLOW_TYPES = {
    Kind.STRING: "string",
    Kind.DATE: "string",
    Kind.CODE: "string",
    # Numbers and booleans may be missing (NaN): doubles keep a signature
    # (nullable integer and boolean pandas dtypes silently drop it).
    Kind.AMOUNT: "double",
    Kind.INTEGER: "double",
    Kind.BOOLEAN: "double",
}


def model_signature(kind: str):
    """Input: the case record (required as the contract says); output: the serving payload."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema(
        [ColSpec(_MLFLOW_TYPES[f.kind], f.name, required=f.required) for f in RECORD_FIELDS]
    )
    outputs = [
        ColSpec("string", "case_id"),
        ColSpec("double", "probability"),
        ColSpec("double", "raw_score"),
        ColSpec("string", "reasons"),
    ]
    if kind == "stream":
        outputs.append(ColSpec("string", "stream"))
    return ModelSignature(inputs=inputs, outputs=Schema(outputs))


def input_example() -> pd.DataFrame:
    """The contract's example case (no court data, no personal data)."""
    case = example_case()
    row = {}
    for spec in RECORD_FIELDS:
        value = case[spec.name]
        if spec.kind in (Kind.AMOUNT, Kind.INTEGER, Kind.BOOLEAN):
            value = float("nan") if value is None else float(value)
        row[spec.name] = value
    return pd.DataFrame([row])


class TriagePyfuncModel(mlflow.pyfunc.PythonModel):
    """Scores contract-shaped cases with the stored :class:`CaseModel`."""

    def load_context(self, context) -> None:
        from training.model import CaseModel
        from training.registry import MODEL_ARTIFACT

        self.model = CaseModel.load(context.artifacts[MODEL_ARTIFACT])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from features.load import CaseDataError, validate_frame

        frame, report = validate_frame(pd.DataFrame(model_input), source="model input")
        if not report.ok:
            raise CaseDataError(report)
        prediction = self.model.predict(frame)
        out = pd.DataFrame(
            {
                "case_id": frame["case_id"].astype(str).to_numpy(),
                "probability": prediction.probability,
                "raw_score": prediction.raw_score,
                "reasons": [json.dumps(r, ensure_ascii=False) for r in prediction.reasons],
            }
        )
        if self.model.thresholds is not None:
            out["stream"] = self.model.route(prediction.probability)
        return out
