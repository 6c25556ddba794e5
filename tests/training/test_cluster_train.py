"""`triage train --cluster` on a real 2-worker LocalCluster: registered, and as good as one process.

One cluster of two single-threaded worker processes per module; the same
export is trained through the `triage` command on the cluster and in one
process, each into a registry of its own.  Run with ``--dist loadfile``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from features.synthetic import write_synthetic
from tests.conftest import triage_home
from training.cluster_fit import partition_bounds

#: One search trial (the first, a fixed default: the same on both runs) and a
#: budget so large that early stopping, not the clock, ends every fit: on a
#: loaded machine a 60 s budget cut one run's search short at 6 rounds and the
#: other's not, and the runs then differ by their searches, not by the cluster.
FAST_ARGS = ("--trials", "1", "--time-budget", "600", "--no-figures")
N_CASES = 4000


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes of one thread each, as `--cluster local` starts on two cores."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local.scheduler_address


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cluster-train") / "cases.csv"
    write_synthetic(N_CASES, path, seed=21)
    return path


def _train(home: Path, export: Path, *cluster: str) -> tuple[dict, dict[str, str]]:
    """`triage train` into the registry under ``home``: its results and its run's parameters."""
    import mlflow

    from models import registry

    results = home / "results.json"
    with triage_home(home):
        args = ["train", "--data", str(export), "--results", str(results), *FAST_ARGS, *cluster]
        assert main(args) == 0
        summary = json.loads(results.read_text())
        registry.configure_mlflow()
        params = mlflow.get_run(summary["run_id"]).data.params
        for model in summary["models"].values():
            version = mlflow.MlflowClient().get_model_version(model["name"], model["version"])
            assert version.status == "READY"
            assert version.run_id == summary["run_id"]
    return summary, params


@pytest.mark.slow
def test_final_fits_on_two_workers_register_models_as_good_as_one_process(
    cluster, export, tmp_path
):
    on_cluster, params = _train(tmp_path / "cluster", export, "--cluster", cluster)
    one, one_params = _train(tmp_path / "one", export)

    # Both models registered from the cluster's run, which says where it ran and on what.
    assert set(on_cluster["models"]) == {"stream", "assets"}
    assert params["cluster"] == cluster
    assert params["cluster_workers"] == "2"
    assert params["cluster_threads_per_worker"] == "1"
    assert params["train_partitions"] == "2"  # one per worker: the export is small
    rows = [int(n) for n in params["train_partition_rows"].split(",")]
    assert len(rows) == 2 and sum(rows) == int(params["n_train"]) == int(one_params["n_train"])
    assert "cluster" not in one_params  # without --cluster, nothing of it in the run
    for kind, model in on_cluster["models"].items():
        # The rounds the search chose, at the learning rate it chose them at.
        assert model["learning_rate"] == 0.1, kind
        assert model["trees"] >= 1

    # Test AUC within noise of one process's fit.  The test split is the newest
    # 15 % (600 cases, 37 % and 58 % positive): the standard error of one AUC
    # near 0.82 on it is about 0.02 (Hanley–McNeil), so a gap below 0.02 is one
    # this test set cannot tell from sampling noise, while a broken fit (features
    # misaligned with their labels) scores near 0.5, far outside it.
    for kind in ("stream", "assets"):
        auc = on_cluster["models"][kind]["test"]["model"]["auc"]
        reference = one["models"][kind]["test"]["model"]["auc"]
        assert abs(auc - reference) <= 0.02, (kind, auc, reference)


def test_partitions_cover_every_training_case_once():
    assert partition_bounds(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert partition_bounds(2, 4) == [(0, 1), (1, 2)]  # never an empty partition
    bounds = partition_bounds(1_234_567, 7)
    assert bounds[0][0] == 0 and bounds[-1][1] == 1_234_567
    assert all(a == b for (_, a), (b, _) in zip(bounds, bounds[1:], strict=False))
