"""The service's Prometheus metrics: decisions by stream, the distribution of each probability,
the model versions served and the reloads that failed.

They sit next to BentoML's request and latency metrics on ``/metrics``.
BentoML runs ``prometheus_client`` in multiprocess mode (one file per worker
under ``PROMETHEUS_MULTIPROC_DIR``), so the metrics are created lazily, once
per process, after that directory is known (``bentoml.metrics`` is only a
deprecated shim over ``prometheus_client``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from serving.served_models import ServedModels

#: Histogram buckets of the probabilities: tenths, finer at the ends.
PROBABILITY_BUCKETS = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


class DecisionMetrics:
    """Counters and histograms of the decisions a worker made."""

    def __init__(self) -> None:
        import prometheus_client as pc

        self.decisions = pc.Counter(
            "triage_decisions",
            "Decisions made, by stream and by endpoint (api: /triage, batch: /triage_batch).",
            ["stream", "source"],
        )
        self.p_complex = pc.Histogram(
            "triage_p_complex",
            "Calibrated probability that a case is complex, per decision.",
            buckets=PROBABILITY_BUCKETS,
        )
        self.p_assets = pc.Histogram(
            "triage_p_assets",
            "Calibrated probability that assets will be recovered, per decision.",
            buckets=PROBABILITY_BUCKETS,
        )
        self._children: dict[tuple[str, str], object] = {}
        self.shadow_disagreements = pc.Counter(
            "triage_shadow_stream_disagreements",
            "Decisions where the shadow challenger would have chosen another stream.",
        )

    def _counter(self, stream: str, source: str):
        key = (stream, source)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.decisions.labels(stream=stream, source=source)
        return child

    def observe(
        self,
        streams: Sequence[str],
        p_complex: Sequence[float],
        p_assets: Sequence[float],
        source: str,
        shadow_streams: Sequence[str] | None = None,
    ) -> None:
        if len(streams) == 1:
            self._counter(streams[0], source).inc()
        else:
            for stream, count in Counter(streams).items():
                self._counter(stream, source).inc(count)
        for value in p_complex:
            self.p_complex.observe(value)
        for value in p_assets:
            self.p_assets.observe(value)
        if shadow_streams is not None:
            differing = sum(a != b for a, b in zip(streams, shadow_streams, strict=True))
            if differing:
                self.shadow_disagreements.inc(differing)


_lock = threading.Lock()
_metrics: DecisionMetrics | None = None


def decision_metrics() -> DecisionMetrics:
    """The process's metrics (created on first use: the registry refuses duplicates)."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = DecisionMetrics()
        return _metrics


class ModelMetrics:
    """The models a worker serves, and how its reloads went (alias moves followed live)."""

    def __init__(self) -> None:
        import prometheus_client as pc

        self.serving = pc.Gauge(
            "triage_served_model",
            "1 for each model version a live worker serves (role: champion or challenger), "
            "0 for one it served before a reload.",
            ["kind", "role", "name", "version"],
            multiprocess_mode="livemax",
        )
        self.swaps = pc.Counter(
            "triage_model_reloads", "Reloads to newly published models (swapped in)."
        )
        self.failures = pc.Counter(
            "triage_model_reload_failures",
            "Newly published models that failed to load or warm up (the old ones kept serving).",
        )
        self.refused = pc.Gauge(
            "triage_registry_models_refused",
            "1 while `triage serve` refuses the versions the registry's aliases point at "
            "(they failed their check; the previous ones serve), else 0.",
            multiprocess_mode="livemax",
        )

    def served(self, new: ServedModels, old: ServedModels | None) -> None:
        """Mark ``new``'s versions served and ``old``'s (replaced) not."""
        if old is not None:
            self.swaps.inc()
            for labels in _versions(old):
                self.serving.labels(*labels).set(0)
        for labels in _versions(new):
            self.serving.labels(*labels).set(1)

    def reload_failed(self) -> None:
        self.failures.inc()

    def registry_refused(self, refused: bool) -> None:
        self.refused.set(1 if refused else 0)


def _versions(served: ServedModels) -> list[tuple[str, str, str, str]]:
    triage = served.triage
    found = [
        ("stream", "champion", triage.stream.name, triage.stream.version),
        ("assets", "champion", triage.assets.name, triage.assets.version),
    ]
    found += [(k, "challenger", m.name, m.version) for k, m in served.challengers.items()]
    if served.follow_up is not None:
        for kind, model in (
            ("resume", served.follow_up.resume),
            ("recovery", served.follow_up.recovery),
        ):
            found.append((kind, "champion", model.name, model.version))
    return found


_model_metrics: ModelMetrics | None = None


def model_metrics() -> ModelMetrics:
    """The process's model metrics (created on first use, like :func:`decision_metrics`)."""
    global _model_metrics
    with _lock:
        if _model_metrics is None:
            _model_metrics = ModelMetrics()
        return _model_metrics
