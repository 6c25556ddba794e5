"""The notebooks run top to bottom on small data, and are stored without outputs.

Each notebook is executed in a fresh Python kernel with nbclient, as a data
scientist would run it, with its inputs in ``TRIAGE_NOTEBOOK_*`` variables.
The evaluation notebook needs a training run: the test trains two small
models into a temporary ``TRIAGE_HOME`` first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
EXPLORE = NOTEBOOKS / "1.0-explore-cases.ipynb"
EVALUATE = NOTEBOOKS / "2.0-evaluate-models.ipynb"
#: Seconds a single cell may take before the run counts as hung.
CELL_TIMEOUT = 180


@pytest.mark.parametrize("path", [EXPLORE, EVALUATE], ids=lambda p: p.name)
def test_notebooks_are_stored_without_outputs(path):
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["metadata"]["kernelspec"]["name"] == "python3"
    code = [cell for cell in document["cells"] if cell["cell_type"] == "code"]
    assert code, f"{path.name} has no code cells"
    for cell in code:
        assert cell["outputs"] == [], f"{path.name}: a cell holds outputs"
        assert cell["execution_count"] is None, f"{path.name}: a cell holds an execution count"


@pytest.fixture
def notebook_environment(tmp_path, monkeypatch):
    """Small inputs, a private TRIAGE_HOME, and a headless matplotlib for the kernel."""
    from app.settings import get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("TRIAGE_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
    monkeypatch.setenv("TRIAGE_NOTEBOOK_ROWS", "2000")
    monkeypatch.setenv("TRIAGE_NOTEBOOK_SEED", "7")
    for name in ("TRIAGE_NOTEBOOK_CASES", "TRIAGE_NOTEBOOK_TRUTH", "TRIAGE_NOTEBOOK_RUN"):
        monkeypatch.delenv(name, raising=False)
    # The kernel inherits this process's environment: keep its caches in the tmp home.
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


def _execute(path: Path):
    """Run every cell of a notebook in a fresh kernel; a failing cell raises with its traceback.

    Returns the executed notebook, outputs included.
    """
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors, errors
    # Every code cell ran and something was shown: tables and figures, not nothing.
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    shown = [
        o
        for cell in code
        for o in cell.outputs
        if o.output_type in ("execute_result", "display_data")
    ]
    assert len(shown) >= len(code) // 2
    return notebook


@pytest.mark.slow
def test_the_explore_notebook_runs_top_to_bottom(notebook_environment):
    _execute(EXPLORE)


@pytest.mark.slow
def test_the_evaluate_notebook_runs_on_the_latest_training_run(notebook_environment, tmp_path):
    from app.settings import apply_environment
    from features.synthetic import write_synthetic
    from training.config import SearchConfig, TrainingConfig
    from training.train import train

    apply_environment()  # creates the home; MLflow is already pointed at it
    cases, truth = tmp_path / "cases.csv", tmp_path / "truth.csv"
    write_synthetic(3000, cases, truth, seed=13)
    config = TrainingConfig(search=SearchConfig(n_trials=1, time_budget_seconds=6, max_rounds=200))
    train(cases, truth=truth, config=config)
    notebook = _execute(EVALUATE)
    # The reliability charts are figures made off pyplot: one picture per model must show.
    (cell,) = [c for c in notebook.cells if "plots.plot_reliability(" in c.source]
    pictures = [o for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(pictures) == 2, [o.get("data", {}).keys() for o in cell.outputs]
    # The cost over the Bayes-optimal routing, one row per review capacity.
    (cell,) = [c for c in notebook.cells if "nb.cost_over_bayes(" in c.source]
    (table,) = [o["data"]["text/plain"] for o in cell.outputs if "data" in o]
    assert "cost_ratio" in table and "0.50" in table
