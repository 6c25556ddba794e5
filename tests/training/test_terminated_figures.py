"""`triage train --kind terminated --no-figures` logs no chart (with figures on, see
test_terminated_models.py, the run logs and links them)."""

from __future__ import annotations

import json

import mlflow
import pytest

from app.cli import main
from features.synthetic.terminated import write_terminated
from tests.conftest import triage_home

pytestmark = pytest.mark.slow


def _artifact_paths(run_id: str, path: str | None = None) -> list[str]:
    """Every file the run logged, folders walked."""
    found: list[str] = []
    for info in mlflow.MlflowClient().list_artifacts(run_id, path):
        found += _artifact_paths(run_id, info.path) if info.is_dir else [info.path]
    return found


def test_no_figures_leaves_the_charts_out_of_the_run_and_the_cards(tmp_path):
    cases, truth = tmp_path / "cases.csv", tmp_path / "truth.csv"
    # The fewest cases with the 100 recoveries the yuan model needs, and the shortest fit.
    write_terminated(4000, cases, truth=truth, seed=5)
    results = tmp_path / "train.json"
    with triage_home(tmp_path / "home"):
        args = ["train", "--kind", "terminated", "--data", str(cases), "--truth", str(truth)]
        fast = ["--time-budget", "6", "--trials", "1", "--results", str(results)]
        assert main([*args, *fast, "--no-figures"]) == 0
        run_id = json.loads(results.read_text())["run_id"]
        logged = _artifact_paths(run_id)
        # The run did log its tables and cards: only the charts are missing.
        assert {"follow_up_value.csv", "yuan_calibration.csv", "model_card_resume.md"} <= set(
            logged
        )
        assert not [path for path in logged if path.endswith(".png")], logged
        for kind in ("resume", "recovery"):
            card = mlflow.artifacts.load_text(f"runs:/{run_id}/model_card_{kind}.md")
            assert "## Yuan per 100 follow-ups" in card
            assert "## Figures" not in card and ".png" not in card
