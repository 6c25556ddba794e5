"""`triage train --cluster`: the final fit of each model across a Dask cluster's workers.

The search stays on its sample in this process (it is small by design); what
grows with the export is the final fit, and that is what goes to the cluster:

1. the training cases are cut into partitions and sent to the workers, one
   partition per worker at least, round robin (:func:`partition_features`);
2. each worker turns its partitions into features with the *same fitted*
   :class:`~features.builder.CaseFeatureBuilder` this process fitted (sent
   once to every worker), not a second implementation of the features;
3. ``lightgbm.dask.DaskLGBMClassifier`` trains one data-parallel model over
   the workers with the searched parameters for the rounds the search chose
   (:func:`fit_on_cluster`): distributed LightGBM has no early stopping, so
   the search's own learning rate and best round are used — the pair it
   validated — rather than an extrapolation to the final learning rate;
4. the fitted booster comes back as a plain local ``lightgbm.Booster``, and
   calibration, evaluation, the gate and registration run as without a cluster.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.builder import CaseFeatureBuilder
from models.case_model import TARGETS
from training.fit import FitResult, SearchResult

if TYPE_CHECKING:
    import dask.array as da
    from distributed import Client

log = logging.getLogger(__name__)

#: Training cases per partition, at most: a few tens of MB of features each.
PARTITION_ROWS = 200_000


@dataclass(frozen=True)
class ClusterTraining:
    """Where the final fits ran and how the training cases were cut: the run logs it."""

    address: str  # the scheduler's address, or 'local' for a LocalCluster of this machine
    workers: int
    threads_per_worker: int
    partitions: int
    partition_rows: tuple[int, ...]

    def params(self) -> dict[str, object]:
        """The MLflow parameters of the cluster and of the data's partitions."""
        return {
            "cluster": self.address,
            "cluster_workers": self.workers,
            "cluster_threads_per_worker": self.threads_per_worker,
            "train_partitions": self.partitions,
            "train_partition_rows": ",".join(str(n) for n in self.partition_rows),
        }


@dataclass
class PartitionedFeatures:
    """The training cases on the workers: features, one frame partition per chunk."""

    X: da.Array
    #: The raw case partitions on the workers (labels are read from them).
    cases: list[Any]
    rows: tuple[int, ...]


def partition_bounds(n_rows: int, n_partitions: int) -> list[tuple[int, int]]:
    """``n_partitions`` contiguous row ranges covering ``0 … n_rows-1``, as even as can be."""
    edges = np.linspace(0, n_rows, n_partitions + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def _features(cases: pd.DataFrame, builder: CaseFeatureBuilder) -> np.ndarray:
    return builder.transform(cases)


def _labels(cases: pd.DataFrame, target: str) -> np.ndarray:
    return cases[target].to_numpy(dtype=np.int64)


def _workers(client: Client) -> dict[str, dict[str, Any]]:
    workers: dict[str, dict[str, Any]] = client.scheduler_info(n_workers=-1)["workers"]
    if not workers:
        raise RuntimeError("the Dask cluster has no workers")
    return workers


def describe_cluster(client: Client, cluster: str) -> tuple[str, int, int]:
    """The cluster's address ('local' for a LocalCluster started here), workers and threads."""
    workers = _workers(client)
    threads = {int(w.get("nthreads", 1)) for w in workers.values()}
    address = "local" if cluster == "local" else str(client.scheduler_info(n_workers=0)["address"])
    # Workers of one cluster normally share a size; the smallest is the honest figure.
    return address, len(workers), min(threads)


def partition_features(
    client: Client,
    train_cases: pd.DataFrame,
    builder: CaseFeatureBuilder,
    *,
    partition_rows: int = PARTITION_ROWS,
) -> PartitionedFeatures:
    """The training cases cut into partitions on the workers, and their features there.

    Every worker gets at least one partition (LightGBM trains only on workers
    holding data); partitions go round robin, and each one's features are
    built where it lies.  The chunk sizes are known up front, as
    ``lightgbm.dask`` needs them to pair features with labels.
    """
    import dask.array as da
    from dask.delayed import delayed

    workers = sorted(_workers(client))
    n_partitions = max(len(workers), math.ceil(len(train_cases) / partition_rows))
    bounds = partition_bounds(len(train_cases), n_partitions)
    cases = [
        client.scatter(train_cases.iloc[a:b], workers=[workers[i % len(workers)]], hash=False)
        for i, (a, b) in enumerate(bounds)
    ]
    shipped_builder = client.scatter(builder, broadcast=True, hash=False)
    n_features = len(builder.get_feature_names_out())
    X = da.concatenate(
        [
            da.from_delayed(
                delayed(_features, pure=True)(part, shipped_builder),
                shape=(b - a, n_features),
                dtype=np.float64,
            )
            for part, (a, b) in zip(cases, bounds, strict=True)
        ]
    )
    return PartitionedFeatures(X=X.persist(), cases=cases, rows=tuple(b - a for a, b in bounds))


def partitioned_labels(data: PartitionedFeatures, target: str) -> da.Array:
    """The ``target`` label of every partition, chunked as its features are."""
    import dask.array as da
    from dask.delayed import delayed

    return da.concatenate(
        [
            da.from_delayed(
                delayed(_labels, pure=True)(part, target), shape=(rows,), dtype=np.int64
            )
            for part, rows in zip(data.cases, data.rows, strict=True)
        ]
    )


def boost_on_cluster(
    client: Client,
    kind: str,
    params: dict[str, Any],
    rounds: int,
    data: PartitionedFeatures,
    builder: CaseFeatureBuilder,
) -> lgb.Booster:
    """``rounds`` of boosting with ``params`` over the partitions, as a plain local booster."""
    from lightgbm.dask import DaskLGBMClassifier

    # The worker's own thread count replaces num_threads (lightgbm.dask sets it per worker).
    params = {k: v for k, v in params.items() if k != "num_threads"}
    estimator = DaskLGBMClassifier(client=client, n_estimators=rounds, **params)
    estimator.fit(
        data.X,
        partitioned_labels(data, TARGETS[kind]),
        feature_name=list(builder.get_feature_names_out()),
        categorical_feature=list(builder.categorical_features_),
    )
    # A plain booster, without the network parameters of the fit it came from.
    return lgb.Booster(model_str=estimator.to_local().booster_.model_to_string())


def refit_on_cluster(
    client: Client,
    kind: str,
    fitted: FitResult,
    data: PartitionedFeatures,
    builder: CaseFeatureBuilder,
    *,
    n_fit_rows: int,
) -> lgb.Booster:
    """The final fit again on more cases (training and validation), as one process refits.

    Its rounds scale with the rows, as :func:`training.fit.refit_booster`'s do.
    """
    rounds = max(1, round(fitted.best_iteration * sum(data.rows) / n_fit_rows))
    return boost_on_cluster(client, kind, fitted.params, rounds, data, builder)


def fit_on_cluster(
    client: Client,
    kind: str,
    search: SearchResult,
    data: PartitionedFeatures,
    X_valid: np.ndarray,
    y_valid: np.ndarray,
    builder: CaseFeatureBuilder,
    *,
    threads: int,
) -> FitResult:
    """One model's final fit across the workers, returned as a local booster.

    The searched parameters at the search's learning rate for the rounds the
    search stopped at (distributed LightGBM cannot stop early); the validation
    cases stay out of the fit, so its validation scores are out of sample.
    """
    started = time.monotonic()
    rounds = max(search.rounds, 1)
    params = dict(search.params) | {"learning_rate": search.search_learning_rate}
    booster = boost_on_cluster(client, kind, params, rounds, data, builder)
    seconds = time.monotonic() - started
    p_valid = np.clip(booster.predict(X_valid, num_threads=threads), 1e-15, 1 - 1e-15)
    validation_log_loss = float(
        -np.mean(y_valid * np.log(p_valid) + (1 - y_valid) * np.log(1 - p_valid))
    )
    log.info(
        "%s: cluster fit of %d rounds on %d cases in %d partitions, %.0f s",
        kind,
        rounds,
        sum(data.rows),
        len(data.rows),
        seconds,
    )
    return FitResult(
        booster=booster,
        params=params | {"num_threads": threads},
        best_iteration=booster.current_iteration(),
        validation_log_loss=validation_log_loss,
        search=search,
        seconds=seconds,
        seconds_per_round=seconds / rounds,
        cut_short=False,
    )
