"""The triage service against a bare Starlette app doing the same scoring, and `triage score`.

Setup (in temporary ``TRIAGE_HOME`` folders, so no real decision log or
registry is touched): two sets of models are trained with the real pipeline
(``triage train``) —

* **demo**: the models a user gets, trained the way ``make demo`` trains them
  (200,000 synthetic cases with their truth, the default search budget:
  several minutes of the benchmark's setup, printed as ``train_seconds``);
* **small**: 20,000 cases and a 40-second search.

Set ``TRIAGE_BENCH_SERVICE_SIZES=small`` to run one size only, and
``TRIAGE_BENCH_SERVICE_KEEP=DIR`` to keep the trained homes in ``DIR`` and
reuse them on the next run (they are trained when missing).

For each size, three servers run side by side, one worker each:

* the **service**: a real ``triage serve`` subprocess (SQLite decision log with
  its per-request durable write, API key, strict validation, metrics, shadow
  challenger when the gate kept one);
* the **bare app** — the issue's baseline: Starlette + uvicorn, JSON in, both
  models with reasons through the same :class:`~models.triage.Triage` object,
  JSON out; no validation, no decision log, no key check, no metrics;
* the **validating app**: the bare app plus the service's pydantic request
  model (the baseline of earlier measurements, kept as a second figure).

The servers are pinned to one core and the load generator, Debian's compiled
``wrk`` (:mod:`benchmarks.wrk`), to the other, so the client does not take
the server's CPU.  At each concurrency (1, 8, 32) every app gets a 1-second
warm-up, then four alternating 3-second slices each, so that noise from other
work on the machine hits all alike; requests per second are summed over the
slices, latency percentiles are the median of the slices' (wrk cannot merge
its histograms across runs).  ``wrk`` cycles through 500 distinct synthetic
cases.

Measured per size:

* ``service / bare app`` requests per second at each concurrency, with both
  p99s; the *overhead*: server milliseconds per request the service spends
  beyond the bare app (``1/rps_service - 1/rps_bare`` at concurrency 8, where
  the one server core is saturated);
* ``batch endpoint / triage score``: cases per second of ``POST /triage_batch``
  with 1,000 distinct cases per request (one connection, best of 6) against
  ``triage score``'s own scoring (:func:`training.score.score_file`: read the
  CSV, validate, both models with three reasons each, write) of the same 1,000
  cases with the same models and one thread, in a process pinned to the
  server's core (best of 6, process start not counted);
* **start** (:mod:`benchmarks.start`): seconds from ``triage serve`` being
  launched to ``/readyz`` answering 200 (cold start: registry import, arbiter,
  worker), and, in alternating rounds with the **bare BentoML service**
  (:mod:`benchmarks.bare_service`: one endpoint echoing the case, served the
  same way — BentoML's own start, the floor of any BentoML service), SIGKILL of
  the worker and the seconds until ``/readyz`` answers 200 and until a case is
  scored again, from the kill and from the new worker process's start (its
  start time in ``/proc``), with the CPU seconds the worker used until ready
  (what its start takes on an idle core: on a busy machine the wall time is
  mostly waiting for a core).  Set ``TRIAGE_BENCH_SERVICE_START_ONLY=1`` to
  measure the start alone (no load generator, no batch).

Targets (issue 12): single case at concurrency 8 ≥ 0.7× the bare app with the
service's p99 ≤ 20 ms; batch ≥ 0.8× ``triage score`` per case; a worker
ready within 5 s of its start.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.server import (
    KEY,
    PROJECT_ROOT,
    Server,
    environment,
    free_port,
    get_json,
    start,
    stop,
    wait_ready,
)
from benchmarks.start import Started, alternating_restarts, boot_seconds, cold_start
from benchmarks.wrk import ensure_wrk, post_bodies_script, run_wrk


@dataclass(frozen=True)
class ModelSize:
    """How one set of benchmarked models is trained."""

    cases: int
    #: ``triage train --time-budget`` and ``--trials``; None: the defaults (as `make demo`).
    budget_seconds: int | None
    trials: int | None


SIZES = {
    "demo": ModelSize(cases=200_000, budget_seconds=None, trials=None),
    "small": ModelSize(cases=20_000, budget_seconds=40, trials=4),
}
DISTINCT_CASES = 500
CONCURRENCY = (1, 8, 32)
WARMUP_SECONDS = 1
SLICE_SECONDS = 3
SLICES = 4
BATCH_SIZE = 1_000
BATCH_ROUNDS = 2
BATCH_REPEATS = 3
RESTARTS = 4
#: The start's baseline, served as `triage serve` serves the service.
BARE_SERVICE = "benchmarks.bare_service:BareService"
APPS = ("service", "bare_app", "validating_app")


# --------------------------------------------------------------------------
# The baselines: Starlette + uvicorn, the same models through the same Triage
# --------------------------------------------------------------------------


def baseline_app(tag: str, validating: bool):
    """A Starlette app deciding one case with the served models, and nothing else.

    Bare: ``json.loads`` of the body, the case record as it came.  Validating:
    the service's pydantic request model reads the body first.
    """
    from pydantic import ValidationError
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from serving.schemas import TriageRequest
    from serving.served_models import load_models

    triage = load_models(tag, threads=1).triage
    gc.collect()
    gc.freeze()

    def answer(record: dict[str, Any]) -> Response:
        decisions = triage.decide([record])
        body = (
            f'{{"case_id":{json.dumps(record["case_id"], ensure_ascii=False)},'
            f'"stream":"{decisions.stream[0]}","p_complex":{float(decisions.p_complex[0])!r},'
            f'"p_assets":{float(decisions.p_assets[0])!r},"reasons":{decisions.reasons_json()[0]}}}'
        )
        return Response(body.encode(), media_type="application/json")

    async def bare(request):
        return answer(json.loads(await request.body())["case"])

    async def validated(request):
        try:
            case = TriageRequest.model_validate_json(await request.body()).case
        except ValidationError as error:
            return JSONResponse({"detail": error.errors(include_input=False)}, status_code=422)
        return answer(vars(case))

    async def ready(_request):
        return Response(b"\n")

    decide = validated if validating else bare
    return Starlette(routes=[Route("/triage", decide, methods=["POST"]), Route("/readyz", ready)])


def _serve_baseline(argv: list[str]) -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--validating", action="store_true")
    args = parser.parse_args(argv)
    uvicorn.run(
        baseline_app(args.tag, args.validating),
        host="127.0.0.1",
        port=args.port,
        workers=1,
        access_log=False,
        log_level="warning",
    )


def _score_file_seconds(argv: list[str]) -> None:
    """`triage score`'s scoring of a file, timed in this process: prints the seconds of each run."""
    from serving.served_models import load_models
    from training.score import score_file

    parser = argparse.ArgumentParser()
    parser.add_argument("--tag", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--repeat", type=int, required=True)
    args = parser.parse_args(argv)
    triage = load_models(args.tag, threads=1).triage
    out = Path(args.data).with_suffix(".scored.csv")
    score_file(args.data, out, triage=triage, progress=False)  # warm-up
    seconds = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        score_file(args.data, out, triage=triage, progress=False)
        seconds.append(time.perf_counter() - started)
    print(json.dumps(seconds))


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------


def _post(port: int, path: str, body: bytes) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=body,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        answer.read()
        return answer.status


# --------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------


def _cases(n: int, seed: int):
    """``n`` synthetic cases: as a frame (for CSV) and as records (for JSON)."""
    from features.load import records_from_frame
    from features.synthetic import generate_cases

    frame = generate_cases(n, seed=seed).cases
    return frame, records_from_frame(frame)


def _train(size: ModelSize, env: dict[str, str], scratch: Path) -> float:
    """`triage train` on synthetic cases (with their truth) in ``env``'s registry; its seconds."""
    from features.synthetic import write_synthetic

    cases, truth = scratch / "cases.csv", scratch / "truth.csv"
    write_synthetic(size.cases, cases, truth, seed=1)
    command = [sys.executable, "-m", "app.cli", "train", "--data", str(cases)]
    command += ["--truth", str(truth)]
    if size.budget_seconds is not None:
        command += ["--time-budget", str(size.budget_seconds)]
    if size.trials is not None:
        command += ["--trials", str(size.trials)]
    started = time.perf_counter()
    trained = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True)
    if trained.returncode != 0:
        raise RuntimeError(f"training failed:\n{trained.stdout}\n{trained.stderr}")
    cases.unlink()
    truth.unlink()
    return time.perf_counter() - started


def _inputs(scratch: Path) -> dict[str, Path]:
    """Files of request bodies (one per line) and the batch's cases as CSV."""
    _, cases = _cases(DISTINCT_CASES, seed=22)
    single = scratch / "single.jsonl"
    single.write_text("".join(json.dumps({"case": c}, ensure_ascii=False) + "\n" for c in cases))
    frame, batch_cases = _cases(BATCH_SIZE, seed=23)
    batch = scratch / "batch.json"
    batch.write_text(json.dumps({"cases": batch_cases}, ensure_ascii=False))
    csv = scratch / "batch.csv"
    frame.to_csv(csv, index=False)
    return {"single": single, "batch": batch, "batch_csv": csv}


def _slices(ports: dict[str, int], script: str, concurrency: int, cpu, scratch) -> dict:
    """Every app at one concurrency: a warm-up, then alternating slices; the merged figures."""
    runs: dict[str, list[dict]] = {name: [] for name in ports}
    for port in ports.values():
        run_wrk(
            f"http://127.0.0.1:{port}",
            script,
            connections=concurrency,
            seconds=WARMUP_SECONDS,
            cpu=cpu,
            script_dir=scratch,
        )
    for _ in range(SLICES):
        for name, port in ports.items():
            runs[name].append(
                run_wrk(
                    f"http://127.0.0.1:{port}",
                    script,
                    connections=concurrency,
                    seconds=SLICE_SECONDS,
                    cpu=cpu,
                    script_dir=scratch,
                )
            )
    return {name: _merged(slices) for name, slices in runs.items()}


def _merged(slices: list[dict]) -> dict[str, float]:
    ok = sum(s["by_status"].get("200", 0) for s in slices)
    seconds = sum(s["seconds"] for s in slices)

    def median(q: str) -> float:
        return round(statistics.median(s["latency_ms"][q] for s in slices), 2)

    return {
        "requests_per_second": round(ok / seconds, 1),
        "p50_ms": median("p50"),
        "p99_ms": median("p99"),
        "p99.9_ms": median("p99.9"),
        "worst_slice_p99_ms": round(max(s["latency_ms"]["p99"] for s in slices), 2),
        "non_200": sum(s["requests"] for s in slices) - ok,
        "socket_errors": sum(sum(s["socket_errors"].values()) for s in slices),
    }


def _batch_against_score(port: int, tag: str, inputs, env, cpu) -> dict[str, float]:
    """Best seconds per 1,000 cases: the batch endpoint, and `triage score`'s scoring."""
    body = inputs["batch"].read_bytes()
    if _post(port, "/triage_batch", body) != 200:
        raise RuntimeError("the batch request failed")
    endpoint, scoring = [], []
    for _ in range(BATCH_ROUNDS):
        for _ in range(BATCH_REPEATS):
            started = time.perf_counter()
            _post(port, "/triage_batch", body)
            endpoint.append(time.perf_counter() - started)
        command = [sys.executable, "-m", "benchmarks.bench_service", "--score-file"]
        command += ["--tag", tag, "--data", str(inputs["batch_csv"])]
        command += ["--repeat", str(BATCH_REPEATS)]
        if cpu is not None:
            command = ["taskset", "-c", str(cpu), *command]
        done = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"score_file failed:\n{done.stderr[-3000:]}")
        scoring += json.loads(done.stdout.strip().splitlines()[-1])
    return {"endpoint": min(endpoint), "triage_score": min(scoring)}


def _start_figures(
    env: dict[str, str],
    scratch: Path,
    body: bytes,
    port: int,
    cpu: int | None,
    servers: dict[str, Server],
) -> dict[str, Any]:
    """Start `triage serve` (into ``servers``) and the bare BentoML service; their start figures.

    Cold starts one after the other, then :data:`RESTARTS` alternating rounds of
    SIGKILL of each one's worker (:mod:`benchmarks.start`); the bare service is
    stopped afterwards.
    """
    launched = boot_seconds()
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    servers["service"] = start(command, env, scratch / "service.log", cpu)
    service = Started(servers["service"], port, body)
    cold = {"service": cold_start(service, launched)}
    bare_port = free_port()
    launched = boot_seconds()
    command = [sys.executable, "-m", "serving.bentoml_serve", "serve", BARE_SERVICE]
    bare = Started(
        start([*command, "--port", str(bare_port)], env, scratch / "bare_bentoml.log", cpu),
        bare_port,
        body,
    )
    try:
        cold["bare_bentoml"] = cold_start(bare, launched)
        restarts = alternating_restarts({"service": service, "bare_bentoml": bare}, RESTARTS)
    finally:
        stop(bare.server)
    return {
        "cold": {name: {k: round(v, 2) for k, v in c.items()} for name, c in cold.items()},
        "restarts": restarts,
    }


def _measure_size(home: Path, scratch: Path, cpus: list[int], start_only: bool) -> dict[str, Any]:
    """Start the servers on one core (their start measured), load them from the other, stop them."""
    server_cpu, client_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    env = environment(scratch, home)
    inputs = _inputs(scratch)
    ports = {name: free_port() for name in APPS}
    servers: dict[str, Server] = {}
    try:
        body = inputs["single"].read_text().splitlines()[0].encode()
        start_times = _start_figures(env, scratch, body, ports["service"], server_cpu, servers)
        info = get_json(ports["service"], "/model_info")
        if start_only:
            return {"start": start_times, "info": info}
        tag = info["bento_model"]
        for name in APPS[1:]:
            command = [sys.executable, "-m", "benchmarks.bench_service", "--baseline"]
            command += ["--port", str(ports[name]), "--tag", tag]
            command += ["--validating"] if name == "validating_app" else []
            servers[name] = start(command, env, scratch / f"{name}.log", server_cpu)
        for name in APPS[1:]:
            wait_ready(ports[name], servers[name])
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
        script = post_bodies_script(inputs["single"], "/triage", headers)
        levels: dict[str, dict[str, Any]] = {name: {} for name in APPS}
        for concurrency in CONCURRENCY:
            merged = _slices(ports, script, concurrency, client_cpu, scratch)
            for name, figures in merged.items():
                levels[name][f"c{concurrency}"] = figures
        batch = _batch_against_score(ports["service"], tag, inputs, env, server_cpu)
    finally:
        os.sched_setaffinity(0, cpus)
        for server in servers.values():
            stop(server)
    trees = {kind: info[kind]["test_metrics"] for kind in ("stream", "assets")}
    return {"levels": levels, "batch": batch, "start": start_times, "info": info} | {"trees": trees}


#: The start's figures as printed: (label, key of :func:`benchmarks.start.restart`).
START_FIGURES = (
    ("worker start -> ready", "worker_start_to_ready"),
    ("kill -9 -> scoring again", "kill_to_scoring"),
    ("worker CPU s to ready", "worker_cpu"),
)


def _start_result(start: dict[str, Any]) -> tuple[dict[str, float], dict[str, bool], dict]:
    """The start's ratios to the bare BentoML service (medians of the restarts), its targets
    and its figures in seconds (each restart's; ``cold`` the first start's)."""
    cold, restarts = start["cold"], start["restarts"]
    ratios, seconds = {}, {}
    for label, key in START_FIGURES:
        ratios[f"start: service / bare BentoML, {label} (median)"] = round(
            restarts["service"][key]["median"] / restarts["bare_bentoml"][key]["median"], 2
        )
        for name, shown in (("service", "service"), ("bare_bentoml", "bare BentoML")):
            seconds[f"{shown}, {label}"] = {
                "median": restarts[name][key]["median"],
                "restarts": restarts[name][key]["values"],
            } | ({"cold": cold[name][key]} if key in cold[name] else {})
    seconds["service, launch -> ready (cold: registry import, arbiter, worker)"] = cold["service"][
        "launch_to_ready"
    ]
    service = restarts["service"]
    worst_start = max(
        cold["service"]["worker_start_to_ready"], *service["worker_start_to_ready"]["values"]
    )
    worst_cpu = max(cold["service"]["worker_cpu"], *service["worker_cpu"]["values"])
    targets = {
        "worker ready within 5 s of its start": worst_start <= 5,
        "worker ready within 5 CPU seconds of its start": worst_cpu <= 5,
    }
    return ratios, targets, seconds


def _size_result(measured: dict[str, Any], train_seconds: float | None) -> dict[str, Any]:
    """Ratios against the bare app, `triage score` and the bare BentoML service, the figures
    behind them, the setup."""
    info = measured["info"]
    start_ratios, start_targets, start_seconds = _start_result(measured["start"])
    setup = {
        "models": info["bento_model"],
        "stream": f"{info['stream']['name']} v{info['stream']['version']}",
        "assets": f"{info['assets']['name']} v{info['assets']['version']}",
        "shadow_challengers": sorted(info["challengers"]),
        "train_seconds": None if train_seconds is None else round(train_seconds, 1),
    }
    if "levels" not in measured:  # TRIAGE_BENCH_SERVICE_START_ONLY
        return {
            "ratios": start_ratios,
            "targets": start_targets,
            "start": start_seconds,
            "setup": setup,
        }
    levels, batch = measured["levels"], measured["batch"]
    service, bare, validating = (levels[name] for name in APPS)
    ratios: dict[str, float] = {}
    for concurrency in CONCURRENCY:
        key = f"c{concurrency}"
        ratios[
            f"service / bare app, c={concurrency} "
            f"(p99 {service[key]['p99_ms']:.1f} vs {bare[key]['p99_ms']:.1f} ms)"
        ] = round(service[key]["requests_per_second"] / bare[key]["requests_per_second"], 3)
    ratios["service / validating app, c=8"] = round(
        service["c8"]["requests_per_second"] / validating["c8"]["requests_per_second"], 3
    )
    ratios["batch endpoint / triage score, cases/s"] = round(
        batch["triage_score"] / batch["endpoint"], 3
    )
    overhead = {
        f"c{c}": round(
            1000 / service[f"c{c}"]["requests_per_second"]
            - 1000 / bare[f"c{c}"]["requests_per_second"],
            3,
        )
        for c in CONCURRENCY
    }
    return {
        "ratios": ratios | start_ratios,
        "targets": {
            "c=8 service >= 0.7x bare app": ratios[next(iter(k for k in ratios if "c=8 (" in k))]
            >= 0.7,
            "c=8 service p99 <= 20 ms": service["c8"]["p99_ms"] <= 20,
            "batch endpoint >= 0.8x triage score": ratios["batch endpoint / triage score, cases/s"]
            >= 0.8,
        }
        | start_targets,
        "overhead_ms_per_request (service - bare app, server time)": overhead,
        "start": start_seconds,
        "service": service,
        "bare_app": bare,
        "validating_app": validating,
        "batch": {
            "cases_per_request": BATCH_SIZE,
            "endpoint_cases_per_second": round(BATCH_SIZE / batch["endpoint"]),
            "triage_score_cases_per_second": round(BATCH_SIZE / batch["triage_score"]),
        },
        "setup": setup,
    }


def _trained_home(name: str, size: ModelSize, keep: Path | None, scratch: Path):
    """A TRIAGE_HOME with ``size``'s models; the seconds training took (None if kept)."""
    home = (keep if keep is not None else scratch) / f"home-{name}"
    marker = home / "bench-trained"
    if marker.exists():
        return home, None
    home.mkdir(parents=True, exist_ok=True)
    seconds = _train(size, environment(scratch, home), scratch)
    marker.write_text(f"{seconds:.1f}\n")
    return home, seconds


def run() -> dict[str, Any]:
    """Train, start the servers, measure, stop, for each size (see the module docstring)."""
    start_only = os.environ.get("TRIAGE_BENCH_SERVICE_START_ONLY", "") not in ("", "0")
    if not start_only:
        ensure_wrk()
    cpus = sorted(os.sched_getaffinity(0))
    chosen = os.environ.get("TRIAGE_BENCH_SERVICE_SIZES", ",".join(SIZES)).split(",")
    keep_dir = os.environ.get("TRIAGE_BENCH_SERVICE_KEEP")
    keep = Path(keep_dir) if keep_dir else None
    result: dict[str, Any] = {"ratios": {}}
    with tempfile.TemporaryDirectory(prefix="triage-bench-service-") as folder:
        for name in chosen:
            scratch = Path(folder) / name
            scratch.mkdir()
            home, train_seconds = _trained_home(name, SIZES[name], keep, scratch)
            measured = _measure_size(home, scratch, cpus, start_only)
            sized = _size_result(measured, train_seconds)
            for label, value in sized.pop("ratios").items():
                result["ratios"][f"{name}: {label}"] = value
            for label, value in sized.pop("start").items():
                result.setdefault("start_seconds", {})[f"{name}: {label}"] = value
            for label, value in sized.pop("targets").items():
                result.setdefault("targets", {})[f"{name}: {label}"] = value
            result[name] = sized
    result["setup"] = {
        "pinned": {"servers": cpus[0], "load_generator": cpus[1]} if len(cpus) >= 2 else None,
        "load_generator": "wrk (Debian), 1 thread",
        "measured_seconds_per_level": SLICES * SLICE_SECONDS,
        "python": sys.version.split()[0],
    }
    return result


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--baseline":
        _serve_baseline(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "--score-file":
        _score_file_seconds(sys.argv[2:])
    else:
        print(json.dumps(run(), indent=2))
