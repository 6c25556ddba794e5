"""The triage service: BentoML 1.4, class-based.

Start it with ``triage serve`` (which imports the registry's champions into
the BentoML model store first, then runs ``bentoml serve`` on this module
through :mod:`serving.worker`, a worker's lean start), or build a Bento with
``bentoml build`` at the repository root and serve that offline.  Endpoints:

* ``POST /triage`` — one case → stream, probabilities, reasons, thresholds,
  model versions and a ``decision_id``;
* ``POST /triage_batch`` — up to 10,000 cases → the same per case, in order;
* ``POST /follow_up`` — terminated (终本) cases → the follow-up list, when the
  terminated-case models have champions (503 saying how to train them otherwise);
* ``GET /model_info`` — what is served, what the registry says and how reloads went;
* ``GET /dashboard`` — the monitoring page, and ``GET /v1/stats/...`` — its data
  (:mod:`serving.dashboard`);
* ``/livez``, ``/readyz``, ``/metrics`` and the OpenAPI document ``/docs.json``
  (Swagger UI at ``/``) stay open; everything else needs ``Authorization: Bearer <key>``.

BentoML imports this module in the CLI process, the arbiter and every
worker, so importing it does no work: models are loaded per worker, in a
background thread started by ``__init__``.  The worker takes connections once
they are loaded (the other workers take them meanwhile), or once loading has
failed or outlasted ``TRIAGE_READY_WAIT_SECONDS``; then ``/livez`` answers, and
``/readyz`` answers 200, or 503 with the reason while the models are not ready.

Under `triage serve` a worker follows the registry: `triage serve` publishes
the tag to serve in a pointer file whenever an alias moves, and each worker
loads the new models beside the old and swaps between requests
(:mod:`serving.live_models`).  A built Bento serves its packed models only.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import threading
import time
import typing as t
from collections.abc import Iterator

import anyio
import attrs
import bentoml
from bentoml.exceptions import NotFound
from bentoml.models import BentoModel
from fastapi import FastAPI
from starlette.responses import Response

from serving import patches
from serving.dashboard import ASSETS_PREFIX, PAGE_PATHS, STATS_PATHS, dashboard_app
from serving.follow_up_schemas import FollowUpRequest, FollowUpResponse, TerminatedCase
from serving.middleware import AuthMiddleware, FieldErrorsMiddleware, Gate, RequestGuardMiddleware
from serving.schemas import BatchRequest, BatchResponse, Case, Decision, ModelInfo, TriageRequest
from serving.served_models import (
    BENTO_MODEL,
    FOLLOW_UP_HINT,
    MODELS_TAG_ENV,
    TRAIN_HINT,
    NoChampion,
)
from serving.served_pointer import POINTER_ENV, ServedPointer
from serving.supervisor import end_with_supervisor

if t.TYPE_CHECKING:
    # Loaded by each worker when its models load (see _load), named here for types only.
    from serving.decider import Decider, Scored
    from serving.decision_log import DecisionLog, GroupCommitWriter
    from serving.live_models import LiveModels
    from serving.policies import LivePolicies

log = logging.getLogger("bentoml.triage")  # bentoml.* loggers are shown under `bentoml serve`

FOLLOW_UP_PATH = "/follow_up"
API_PATHS = ("/triage", "/triage_batch", FOLLOW_UP_PATH)
INFO_PATH = "/model_info"
# The dashboard's page and assets are open (it asks for a key); its /v1/stats data is not.
OPEN_PATHS = (
    *("/livez", "/healthz", "/readyz", "/metrics", "/docs.json", "/schema.json", "/"),
    *PAGE_PATHS,
)
OPEN_PREFIXES = ("/static_content/", ASSETS_PREFIX)
JSON_HEADERS = {"content-type": "application/json"}

# BentoML reads its middleware classes from module attributes when a worker builds
# the app, right after importing this module: the swap has to happen here.
patches.install(
    known_paths=(*API_PATHS, INFO_PATH, *OPEN_PATHS, *STATS_PATHS), known_prefixes=OPEN_PREFIXES
)

#: What the middlewares know of this worker's service (readiness, keys, limits).
GATE = Gate()
#: How often a starting worker looks whether its models are loaded (or it is told to stop).
LOAD_POLL_SECONDS = 0.02


@attrs.frozen
class StoreModel(BentoModel):
    """A model of the local BentoML store that never reaches for BentoCloud.

    ``bentoml build`` packs it (and fails with instructions when it is
    missing); at serve time a missing model does not stop the server: the
    service stays alive and not ready, saying how to train.
    """

    def to_info(self, alias: str | None = None):
        if self.stored is None:
            raise NotFound(
                f"no {self.tag} in the BentoML store: {TRAIN_HINT}, then import the champions "
                "with `triage serve --import-only` before `bentoml build`"
            )
        return super().to_info(alias)

    def resolve(self, base_path=None):
        if self.stored is None:
            return None
        return super().resolve(base_path)


info_app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@bentoml.asgi_app(dashboard_app, path="/")  # /dashboard and /v1/stats/...
@bentoml.asgi_app(info_app, path="/")
@bentoml.service(
    name="triage",
    workers=1,
    traffic={"timeout": 60},
    http={"port": 3000},
    # BentoML's OpenTelemetry middleware costs ~0.3 ms per request even with tracing off
    # (sample rate 0, no exporter) — a fifth of a decision.  To trace the scoring routes,
    # override: BENTOML_CONFIG_OPTIONS="services.triage.tracing.excluded_urls=/livez".
    tracing={"excluded_urls": [*API_PATHS, INFO_PATH]},
)
class TriageService:
    """Enforcement-case triage (执行案件繁简分流): the stream of a case, the chance
    it turns out complex, the chance assets will be recovered, and why.

    Send `Authorization: Bearer <key>` (`triage keys create --name NAME`).
    Every decision is written to the decision log before it is answered."""

    # attrs builds the initialiser from BentoModel's `tag` field; mypy sees no argument.
    bundle = StoreModel(f"{BENTO_MODEL}:latest")  # type: ignore[call-arg]

    def __init__(self) -> None:
        from app.settings import get_settings
        from serving.keys import KeyChecker
        from serving.metrics import decision_metrics

        self.settings = get_settings()
        self.live: LiveModels[Decider] | None = None
        self.policies: LivePolicies | None = None
        self.decision_log: DecisionLog | None = None
        self.writer: GroupCommitWriter | None = None
        self.metrics = decision_metrics()
        self._stop_following = threading.Event()
        GATE.keys = KeyChecker(self.settings.keys_file, self.settings.api_key_list())
        GATE.max_body_bytes = self.settings.max_request_bytes
        GATE.body_timeout_s = self.settings.request_read_timeout
        GATE.not_ready("loading the models")
        patches.cache_api_callables(self, _as_service().apis)
        end_with_supervisor()
        # Load in the background: the startup hook waits for it (bounded), then /livez
        # answers, and /readyz says why not ready if the load failed or is still going on.
        self._loaded = threading.Event()
        self._loader = threading.Thread(target=self._load, name="triage-load", daemon=True)
        self._loader.start()

    @bentoml.on_startup
    async def wait_for_the_models(self) -> None:
        """Take no connection before the models are loaded, for up to `ready_wait_seconds`.

        Uvicorn accepts only after the startup hooks, and the workers share the
        listening socket: while a starting worker waits here, the others take
        every connection, so a worker restarted after a crash answers none with
        503 "loading the models" (with one worker, connections wait in the
        socket's queue).  A load that fails ends the wait at once (the worker
        then serves /readyz with the reason); one that takes longer goes on in
        the background while the worker serves.  SIGTERM or SIGINT end the wait
        too, so that a worker stuck loading still stops when told.
        """
        wait = self.settings.ready_wait_seconds
        if wait <= 0:
            return
        deadline = time.monotonic() + wait
        with _stop_signals() as stopping:
            while not self._loaded.is_set():
                if stopping.is_set():
                    log.info("told to stop while loading the models")
                    return
                if time.monotonic() >= deadline:
                    log.warning("still loading the models after %g s: taking connections", wait)
                    return
                await anyio.sleep(LOAD_POLL_SECONDS)

    # --- lifecycle -------------------------------------------------------------------------

    @staticmethod
    def models_tag() -> str:
        """The BentoML model to serve first: the Bento's own, else `triage serve`'s, else latest."""
        return _bento_tag() or os.environ.get(MODELS_TAG_ENV) or f"{BENTO_MODEL}:latest"

    @staticmethod
    def _ready_decider(tag: str, current: Decider | None) -> Decider:
        """Load a tag's models and decide the golden case with them (raises if they cannot)."""
        from serving.decider import Decider
        from serving.served_models import load_models

        decider = Decider(load_models(tag, threads=1), ids=None if current is None else current.ids)
        decider.warm_up()
        return decider

    def _following(self) -> LiveModels[Decider]:
        """The worker's live models: following `triage serve`'s pointer file, if it has one."""
        from pathlib import Path

        from serving.live_models import LiveModels
        from serving.metrics import model_metrics
        from serving.policies import LivePolicies

        pointer = os.environ.get(POINTER_ENV)
        # A Bento serves what it packed, whatever a pointer file nearby says.
        path = Path(pointer) if pointer and _bento_tag() is None else None
        metrics = model_metrics()
        policies = self.policies = LivePolicies()

        def on_pointer(pointer: ServedPointer) -> None:
            metrics.registry_refused(pointer.last_failure is not None)
            policies.follow(pointer)  # a new book swaps in now, whatever the models do

        return LiveModels(
            self._ready_decider,
            path,
            on_swap=lambda new, old: metrics.served(
                new.served, None if old is None else old.served
            ),
            on_failure=lambda tag, error: metrics.reload_failed(),
            on_pointer=on_pointer,
            after_retire=_collect_retired,
        )

    def _load(self) -> None:
        try:
            self._load_models()
        except Exception as error:  # any failure leaves the worker alive, saying why not ready
            GATE.not_ready(f"loading failed: {type(error).__name__}: {error}")
            log.exception("not ready: loading the models failed")
        finally:
            self._loaded.set()

    def _load_models(self) -> None:
        from serving.decision_log import DecisionLog, GroupCommitWriter

        live = self._following()
        try:
            decider = live.start(live.initial_tag(self.models_tag()))
            served = decider.served
            decision_log = DecisionLog(
                self.settings.resolved_decision_log_url(),
                sqlite_synchronous=self.settings.decision_log_sync,
            ).create()
        except NoChampion as error:
            GATE.not_ready(str(error))
            log.error("not ready: %s", error)
            return
        self.live, self.decision_log = live, decision_log
        GATE.log_problem = None  # a new writer: it reports only changes from "writable"
        self.writer = GroupCommitWriter(
            decision_log,
            budget=self.settings.decision_log_budget_seconds,
            on_health=_log_health,
        )
        # Everything loaded so far lives as long as the worker: out of the collector's
        # sight, full collections stay short (they were the p99 spikes).
        gc.collect()
        gc.freeze()
        GATE.set_ready()
        log.info(
            "ready: %s v%s and %s v%s from %s%s",
            *decider.stream_model,
            *decider.assets_model,
            served.tag,
            f", shadow challengers {sorted(served.challengers)}" if served.challengers else "",
        )
        if live.pointer_path is not None:
            log.info("following %s", live.pointer_path)
            # A thread of its own: this frame holds the first decider, which must be freed
            # when it is replaced.
            threading.Thread(
                target=live.run,
                args=(self._stop_following, self.settings.model_watch_seconds),
                name="triage-follow",
                daemon=True,
            ).start()

    def __is_ready__(self) -> bool:
        return GATE.unready_reason() is None

    @bentoml.on_shutdown
    def close(self) -> None:
        self._stop_following.set()
        if self.writer is not None:
            self.writer.close()
        if self.decision_log is not None:
            self.decision_log.close()

    # --- endpoints -------------------------------------------------------------------------

    def _score(
        self, records: t.Sequence[t.Mapping[str, t.Any]], source: str
    ) -> tuple[Decider, Scored, list[dict[str, object]]]:
        """Decisions and their log rows (CPU only; nothing is answered before the rows commit).

        The decider and the policy book are read once each: a request scores,
        logs and answers with the same models and routes every case by the
        same book even when a reload swaps either meanwhile.
        """
        decider = None if self.live is None else self.live.decider
        if decider is None:  # the gate answers 503 before this; a race at start-up only
            raise bentoml.exceptions.ServiceUnavailable(f"not ready: {GATE.reason}")
        book = None if self.policies is None else self.policies.current.book
        scored = decider.score(records, source, book)
        return decider, scored, decider.log_rows(scored)

    async def _logged(self, rows: list[dict[str, t.Any]]) -> bool:
        """Commit the rows within the write budget; False (and why in the server log) if not.

        False means the rows are not in the log and never will be (see
        :class:`~serving.decision_log.GroupCommitWriter`): the decisions are not made.
        """
        from serving.decision_log import describe_error, is_unavailable

        try:
            assert self.writer is not None  # set with the decider, which _score needed
            await self.writer.write_async(rows)
        except Exception as error:
            n = len(rows)
            if is_unavailable(error):  # locked, down, full: operations, one line each
                log.warning(
                    "decision log write failed, %d decision(s) not made: %s",
                    n,
                    describe_error(error),
                )
            else:
                log.exception("decision log write failed: %d decision(s) not made", n)
            return False
        return True

    def _answer(self, decider: Decider, scored: Scored) -> list[str]:
        """Count the committed decisions; their response objects as JSON."""
        self.metrics.observe(
            scored.streams,
            scored.p_complex,
            scored.p_assets,
            scored.source,
            scored.shadow.stream if scored.shadow is not None else None,
        )
        return decider.responses(scored)

    @bentoml.api(route="/triage", input_spec=TriageRequest, output_spec=Decision)
    async def triage(self, case: Case) -> Response:
        """Triage one case: stream, p_complex, p_assets, reasons, thresholds, model versions.

        The decision is in the decision log under `decision_id` before this answers."""
        decider, scored, rows = self._score([vars(case)], "api")
        if not await self._logged(rows):
            return _not_logged()
        (decision,) = self._answer(decider, scored)
        return _json(decision)

    @bentoml.api(route="/triage_batch", input_spec=BatchRequest, output_spec=BatchResponse)
    async def triage_batch(self, cases: list[Case]) -> Response:
        """Triage up to 10,000 cases in one request; decisions in request order.

        All of them are logged in one transaction before this answers."""
        records = [vars(case) for case in cases]
        # A big batch takes seconds of CPU: off the event loop, so health checks answer.
        decider, scored, rows = await anyio.to_thread.run_sync(self._score, records, "batch")
        if not await self._logged(rows):
            return _not_logged()
        decisions = await anyio.to_thread.run_sync(self._answer, decider, scored)
        return _json('{"decisions":[' + ",".join(decisions) + "]}")

    @bentoml.api(route=FOLLOW_UP_PATH, input_spec=FollowUpRequest, output_spec=FollowUpResponse)
    async def follow_up(
        self,
        cases: list[TerminatedCase],
        budget: str | int = "100%",
        court: str | None = None,
        reasons: int = 3,
    ) -> Response:
        """Rank terminated (终本) cases for extra follow-up work by expected yuan, best first.

        The list `triage follow-up` writes for the same cases; it orders the extra work only
        and never replaces the six-monthly legal network inquiry.  Every case considered is
        logged for the dashboard before this answers.  503 when the terminated-case models
        have no champions."""
        from serving.follow_up import FollowUps

        decider = None if self.live is None else self.live.decider
        if decider is None:  # the gate answers 503 before this; a race at start-up only
            raise bentoml.exceptions.ServiceUnavailable(f"not ready: {GATE.reason}")
        ranker: FollowUps | None = decider.follow_ups
        if ranker is None:
            return _json_status(
                503,
                {
                    "error": f"no follow-up list: the service has no champions of the "
                    f"terminated-case models; {FOLLOW_UP_HINT}"
                },
            )
        records = [vars(case) for case in cases]
        listed = await anyio.to_thread.run_sync(ranker.rank, records, budget, court, reasons)
        try:
            assert self.decision_log is not None  # opened with the decider
            await anyio.to_thread.run_sync(self.decision_log.write_follow_up_scores, listed.rows)
        except Exception as error:
            from serving.decision_log import describe_error

            log.warning(
                "follow-up scores not logged, %d case(s) not listed: %s",
                len(listed.rows),
                describe_error(error),
            )
            return _json_status(
                503,
                {"error": "the decision log could not be written: no list was made; retry later"},
                retry=True,
            )
        return _json(await anyio.to_thread.run_sync(ranker.response, listed))

    @info_app.get(
        INFO_PATH,
        response_model=ModelInfo,
        summary="The served models",
        description="Names, versions, aliases (as they are in the registry), training windows, "
        "routing policy and test metrics of the models behind the decisions; the registry's "
        "aliases and how the last reload went. Needs `Authorization: Bearer <key>`.",
    )
    async def model_info(self) -> dict[str, t.Any]:
        live = self.live
        # The gate answers 503 until the models are loaded.
        assert live is not None and live.decider is not None
        policies = None if self.policies is None else self.policies.current.info()
        return live.decider.model_info(live.pointer) | {
            "reload": live.reload_info(),
            "policies": policies,
        }


@contextlib.contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT while inside, which still reach their handlers.

    Uvicorn's handlers only ask the server to exit, which it does after the
    startup hooks; this lets a hook that waits see the request.  Outside the
    main thread (an in-process test client) no signal arrives: the event stays clear.
    """
    stopping = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stopping
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handle(sig: int, frame: t.Any) -> None:
        stopping.set()
        handler = previous[signal.Signals(sig)]
        if callable(handler):
            handler(sig, frame)
        elif handler == signal.SIG_DFL:  # what the signal would have done: end the process
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield stopping
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _log_health(problem: str | None) -> None:
    """The decision log's writer found the log unwritable, or writable again: /readyz follows."""
    GATE.log_problem = problem
    if problem is None:
        log.info("decision log writable again: ready")
    else:
        log.warning("not ready: %s", problem)


def _json(text: str) -> Response:
    return Response(text.encode("utf-8"), headers=JSON_HEADERS)


def _json_status(status: int, body: dict[str, str], *, retry: bool = False) -> Response:
    import json

    headers = {**JSON_HEADERS, "retry-after": "5"} if retry else JSON_HEADERS
    return Response(json.dumps(body, ensure_ascii=False).encode(), status, headers=headers)


def _not_logged() -> Response:
    """A decision that could not be logged is not made: the client may retry it."""
    return Response(
        b'{"error":"the decision log could not be written: no decision was made; retry later"}',
        status_code=503,
        headers={**JSON_HEADERS, "retry-after": "5"},
    )


def _bento_tag() -> str | None:
    """The Bento's own BentoML model, when this runs from a built Bento."""
    bento = _as_service().bento
    if bento is not None:
        for model in bento.info.all_models:
            if model.tag.name == BENTO_MODEL:
                return str(model.tag)
    return None


def _collect_retired() -> None:
    """Free the replaced models: thaw the frozen heap, collect, freeze what serves now.

    ``gc.freeze()`` after loading put the old models out of the collector's
    sight; without thawing, whatever of them sits in reference cycles would
    stay for the worker's life.  One full collection per swap.  Then glibc is
    asked to hand the freed pages back: the old and new boosters were both in
    the heap for a moment, and without a trim that peak stays resident (with
    ``MALLOC_ARENA_MAX``, which `triage serve` sets, see :func:`serving.cli.serve_environment`).
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _release_free_memory()


def _release_free_memory() -> None:
    """Return the heap's free pages to the system (glibc's ``malloc_trim``; elsewhere nothing)."""
    import contextlib
    import ctypes

    # Not glibc (no malloc_trim): that allocator returns memory its own way.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _as_service() -> bentoml.Service[t.Any]:
    """The decorated class as what it is: mypy takes class decorators to change nothing."""
    return t.cast("bentoml.Service[t.Any]", TriageService)


# Outermost first; all inside BentoML's metrics, tracing, access-log and timeout layers.
_as_service().add_asgi_middleware(
    AuthMiddleware, gate=GATE, open_paths=OPEN_PATHS, open_prefixes=OPEN_PREFIXES
)
_as_service().add_asgi_middleware(
    RequestGuardMiddleware, gate=GATE, api_paths=API_PATHS, gated_paths=(INFO_PATH,)
)
_as_service().add_asgi_middleware(FieldErrorsMiddleware, api_paths=API_PATHS, named_paths=API_PATHS)
