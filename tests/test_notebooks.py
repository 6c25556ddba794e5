"""The notebooks run top to bottom on small data, and are stored without outputs.

Each notebook is executed in a fresh Python kernel with nbclient, as a data
scientist would run it, with its inputs in ``TRIAGE_NOTEBOOK_*`` variables.
The evaluation notebook needs a training run: the test trains two small
models into a temporary ``TRIAGE_HOME`` first, then two small terminated-case
(终本) models for its follow-up section.
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
    for name in (
        "TRIAGE_NOTEBOOK_CASES",
        "TRIAGE_NOTEBOOK_TRUTH",
        "TRIAGE_NOTEBOOK_RUN",
        "TRIAGE_NOTEBOOK_TERMINATED_RUN",
    ):
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
    from features.synthetic.terminated import write_terminated
    from training import notebook_evaluate as nb
    from training.config import SearchConfig, TrainingConfig
    from training.terminated import train_terminated
    from training.train import train

    apply_environment()  # creates the home; MLflow is already pointed at it
    cases, truth = tmp_path / "cases.csv", tmp_path / "truth.csv"
    write_synthetic(3000, cases, truth, seed=13)
    config = TrainingConfig(search=SearchConfig(n_trials=1, time_budget_seconds=6, max_rounds=200))
    case_run = train(cases, truth=truth, config=config)
    # No terminated-case run yet: the follow-up section would say it is skipped.
    assert nb.latest_terminated_run() is None
    assert "Skipped: no finished terminated-case" in nb.terminated_run_note(None)
    # A terminated-case run, newer than the new-case one: the notebook's first sections
    # must pass over it, its follow-up section read it.  4,000 cases give the yuan model
    # the 100 recoveries it needs.
    terminated_cases, terminated_truth = tmp_path / "terminated.csv", tmp_path / "tt.csv"
    write_terminated(4000, terminated_cases, truth=terminated_truth, seed=5)
    terminated = train_terminated(terminated_cases, truth=terminated_truth, config=config)
    # A run id of the wrong kind is refused, naming it.
    with pytest.raises(ValueError, match=case_run.run_id):
        nb.latest_terminated_run(case_run.run_id)
    notebook = _execute(EVALUATE)
    assert f"run {case_run.run_id} " in _printed(notebook.cells[1])
    # The reliability charts are figures made off pyplot: one picture per model must show.
    (cell,) = [c for c in notebook.cells if "plots.plot_reliability(" in c.source]
    pictures = [o for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(pictures) == 2, [o.get("data", {}).keys() for o in cell.outputs]
    # The cost over the Bayes-optimal routing, one row per review capacity.
    (cell,) = [c for c in notebook.cells if "nb.cost_over_bayes(" in c.source]
    (table,) = [o["data"]["text/plain"] for o in cell.outputs if "data" in o]
    assert "cost_ratio" in table and "0.50" in table
    # The follow-up section read the terminated run: its yuan per 100 follow-ups for every
    # ranking, the model's ratios to Bayes and to the best rule as the run computed them,
    # and the chart.
    (cell,) = [c for c in notebook.cells if "nb.follow_up_yuan(" in c.source]
    assert f"terminated run {terminated.run_id} " in _printed(cell)
    yuan, ratios = _tables(cell)
    for ranking in ("model", "largest unpaid first", "oldest first", "random", "Bayes-optimal"):
        assert ranking in yuan
    assert "K = 5 %" in yuan and "model ÷ Bayes-optimal" in ratios
    assert terminated.follow_up is not None
    for row in terminated.follow_up:
        if row["ranking"] == "model":
            assert f"{row['share_of_bayes']:.4f}" in ratios, (row, ratios)
            assert f"{row['times_best_rule']:.4f}" in ratios, (row, ratios)
    assert len(_pictures(cell)) == 1
    # The yuan calibration: ten deciles and the pooled row, predicted against realised.
    (cell,) = [c for c in notebook.cells if "nb.yuan_calibration_table(" in c.source]
    (deciles,) = _tables(cell)
    assert "realised" in deciles and "\nall " in deciles and "\n10 " in deciles
    assert len(_pictures(cell)) == 1


def _printed(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def _tables(cell) -> list[str]:
    """The text of the tables a cell shows (its outputs that are not pictures)."""
    return [
        o["data"]["text/plain"]
        for o in cell.outputs
        if "data" in o and "image/png" not in o["data"]
    ]


def _pictures(cell) -> list[object]:
    return [o for o in cell.outputs if "image/png" in o.get("data", {})]
