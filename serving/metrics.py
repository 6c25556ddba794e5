"""The service's Prometheus metrics: decisions by stream and the distribution of each probability.

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
