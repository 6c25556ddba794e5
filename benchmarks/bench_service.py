"""The triage service against a minimal Starlette app and against LightGBM itself.

Setup (in a temporary ``TRIAGE_HOME``, so no real decision log or registry is
touched): 20,000 synthetic cases are trained with the real pipeline
(``triage train``, a 40-second search), then

* the service runs as a real ``triage serve`` subprocess (one worker, SQLite
  decision log, API key, shadow challenger when the gate kept one);
* a *minimal app* runs beside it: Starlette + uvicorn, one worker (uvicorn's
  best configuration here), serving the same two models from the same
  BentoML model through the same :class:`~models.triage.Triage` object,
  with the same pydantic request model — no key check, no decision log, no
  metrics, no shadow.

Both servers are pinned to CPU 0 and the load generator to CPU 1 (when there
are two), and measured in the same run: at each concurrency level in four
alternating 3-second slices each (after a 1-second warm-up per slice), so that
noise from other work on the machine hits both alike.
The load generator is a closed loop of raw HTTP/1.1 keep-alive connections
on asyncio (a few microseconds per request of its own), cycling through 500
distinct synthetic cases.

Measured:

* single-case ``POST /triage`` at concurrency 1, 8 and 32: requests per
  second, p50/p99/p99.9 latency, for the service and the minimal app; the
  ratio service ÷ minimal app is the figure to quote;
* ``POST /triage_batch`` with 1,000 cases per request: cases per second,
  against LightGBM's own ``Booster.predict`` on the same 1,000 prepared rows
  (both models, one thread): with ``pred_contrib=True`` — what the reasons
  need, so the raw limit of the same answer — and plain (probabilities only).

Targets (issue 4): single-case throughput ≥ 0.5× the minimal app, p99 at
concurrency 8 under 50 ms, batch ≥ 0.3× raw LightGBM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.server import (
    KEY,
    TRAIN_CASES,
    environment,
    free_port,
    get_json,
    start,
    stop,
    synthetic_cases,
    train,
    wait_ready,
)

DISTINCT_CASES = 500
CONCURRENCY = (1, 8, 32)
WARMUP_SECONDS = 1.0
SLICE_SECONDS = 3.0
SLICES = 4
BATCH_SIZE = 1_000
BATCH_REQUESTS = 12


# --------------------------------------------------------------------------
# The load generator: raw HTTP/1.1 on asyncio
# --------------------------------------------------------------------------


def http_request(path: str, body: bytes, key: str | None) -> bytes:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{auth}Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bytes]:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
            break
    if length is None:
        raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
    return status, await reader.readexactly(length)


async def closed_loop(
    port: int, requests: list[bytes], concurrency: int, warmup: float, duration: float
) -> tuple[list[float], int]:
    """``concurrency`` connections, each sending the next request when the last answered.

    Returns the latencies (seconds) of the answers in the measured window and
    the number of non-200 answers.
    """
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    measure_from = started + warmup
    stop_at = measure_from + duration

    async def client(offset: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = offset
        try:
            while (now := time.perf_counter()) < stop_at:
                status, _ = await _exchange(reader, writer, requests[i % len(requests)])
                i += 1
                done = time.perf_counter()
                if status != 200:
                    errors += 1
                elif now >= measure_from:
                    latencies.append(done - now)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    await asyncio.gather(*(client(k * 37) for k in range(concurrency)))
    return latencies, errors


def summarise(latencies: list[float], errors: int, seconds: float) -> dict[str, float]:
    latencies = sorted(latencies)

    def quantile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {
        "requests_per_second": round(len(latencies) / seconds, 1),
        "p50_ms": round(quantile(0.50), 2),
        "p99_ms": round(quantile(0.99), 2),
        "p999_ms": round(quantile(0.999), 2),
        "max_ms": round(latencies[-1] * 1000, 2),
        "requests": len(latencies),
        "errors": errors,
    }


def compare(ports: dict[str, int], requests: list[bytes], concurrency: int) -> dict[str, dict]:
    """Both apps at one concurrency, in alternating slices so that noise hits both alike."""
    gathered: dict[str, tuple[list[float], int]] = {name: ([], 0) for name in ports}
    for _ in range(SLICES):
        for name, port in ports.items():
            latencies, errors = asyncio.run(
                closed_loop(port, requests, concurrency, WARMUP_SECONDS, SLICE_SECONDS)
            )
            gathered[name] = (gathered[name][0] + latencies, gathered[name][1] + errors)
    return {
        name: summarise(latencies, errors, SLICES * SLICE_SECONDS)
        for name, (latencies, errors) in gathered.items()
    }


async def sequential(port: int, raw: bytes, n: int) -> tuple[float, list[int]]:
    """Seconds for ``n`` requests one after the other on one connection, and their statuses."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    statuses = []
    try:
        await _exchange(reader, writer, raw)  # warm-up
        started = time.perf_counter()
        for _ in range(n):
            status, _ = await _exchange(reader, writer, raw)
            statuses.append(status)
        return time.perf_counter() - started, statuses
    finally:
        writer.close()


# --------------------------------------------------------------------------
# The minimal app: Starlette + uvicorn, same models, same Triage, same request model
# --------------------------------------------------------------------------


def minimal_app(tag: str):
    """A Starlette app deciding one case with the served models, and nothing else."""
    from pydantic import ValidationError
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from serving.schemas import TriageRequest
    from serving.served_models import load_models

    triage = load_models(tag, threads=1).triage
    gc.collect()
    gc.freeze()

    async def decide(request):
        try:
            case = TriageRequest.model_validate_json(await request.body()).case
        except ValidationError as error:
            return JSONResponse({"detail": error.errors(include_input=False)}, status_code=422)
        record = vars(case)
        decisions = triage.decide([record])
        body = (
            f'{{"case_id":{json.dumps(record["case_id"], ensure_ascii=False)},'
            f'"stream":"{decisions.stream[0]}","p_complex":{float(decisions.p_complex[0])!r},'
            f'"p_assets":{float(decisions.p_assets[0])!r},"reasons":{decisions.reasons_json()[0]}}}'
        )
        return Response(body.encode(), media_type="application/json")

    async def ready(_request):
        return Response(b"\n")

    return Starlette(routes=[Route("/triage", decide, methods=["POST"]), Route("/readyz", ready)])


def _serve_minimal(argv: list[str]) -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tag", required=True)
    args = parser.parse_args(argv)
    uvicorn.run(
        minimal_app(args.tag),
        host="127.0.0.1",
        port=args.port,
        workers=1,
        access_log=False,
        log_level="warning",
    )


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------


def _raw_lightgbm(model_dir: Path, cases: list[dict]) -> dict[str, float]:
    """Seconds per 1,000 cases of LightGBM alone, both models, prepared rows, one thread."""
    from models.case_model import CaseModel

    models = [CaseModel.load(model_dir / kind, threads=1) for kind in ("stream", "assets")]
    features = [m.features(cases) for m in models]

    def best(call) -> float:
        call()
        return min(timeit_once(call) for _ in range(7))

    def timeit_once(call) -> float:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    return {
        "predict": best(
            lambda: [
                m.booster.predict(x, raw_score=True, num_threads=1)
                for m, x in zip(models, features, strict=True)
            ]
        ),
        "predict_contrib": best(
            lambda: [
                m.booster.predict(x, pred_contrib=True, num_threads=1)
                for m, x in zip(models, features, strict=True)
            ]
        ),
    }


def _requests() -> tuple[list[bytes], bytes, list[dict[str, object]]]:
    """Single-case requests of distinct cases, one batch request, and the batch's cases."""
    cases = synthetic_cases(DISTINCT_CASES, seed=22)
    single = [http_request("/triage", json.dumps({"case": c}).encode(), KEY) for c in cases]
    batch_cases = (cases * (BATCH_SIZE // len(cases) + 1))[:BATCH_SIZE]
    for i, case in enumerate(batch_cases):
        batch_cases[i] = dict(case, case_id=f"bench-{i}")
    batch = http_request("/triage_batch", json.dumps({"cases": batch_cases}).encode(), KEY)
    return single, batch, batch_cases


def _measure(env: dict[str, str], scratch: Path, cpus: list[int]) -> dict[str, Any]:
    """Start both servers pinned to one core, load them from the other, stop them."""
    server_cpu, client_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    single, batch, batch_cases = _requests()
    service_port, minimal_port = free_port(), free_port()
    service = start(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(service_port)],
        env,
        scratch / "service.log",
        server_cpu,
    )
    minimal = None
    try:
        wait_ready(service_port, service)
        info = get_json(service_port, "/model_info")
        tag = info["bento_model"]
        minimal = start(
            [sys.executable, "-m", "benchmarks.bench_service", "--minimal-app"]
            + ["--port", str(minimal_port), "--tag", tag],
            env,
            scratch / "minimal.log",
            server_cpu,
        )
        wait_ready(minimal_port, minimal)
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        levels: dict[str, dict[str, Any]] = {"service": {}, "minimal_app": {}}
        ports = {"service": service_port, "minimal_app": minimal_port}
        for concurrency in CONCURRENCY:
            for name, measured in compare(ports, single, concurrency).items():
                levels[name][f"c{concurrency}"] = measured
        batch_seconds, statuses = asyncio.run(sequential(service_port, batch, BATCH_REQUESTS))
        if set(statuses) != {200}:
            raise RuntimeError(f"batch requests answered {sorted(set(statuses))}")
        model_dir = Path(env["BENTOML_HOME"]) / "models" / Path(*tag.split(":"))
        raw = _raw_lightgbm(model_dir, batch_cases)
    finally:
        os.sched_setaffinity(0, cpus)
        stop(service)
        if minimal is not None:
            stop(minimal)
    pinned = {"servers": server_cpu, "load_generator": client_cpu}
    return {"levels": levels, "batch_seconds": batch_seconds, "raw": raw, "info": info} | {
        "pinned": pinned
    }


def run() -> dict[str, Any]:
    """Train, start both servers, measure, stop; the result (see the module docstring)."""
    cpus = sorted(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="triage-bench-service-") as folder:
        scratch = Path(folder)
        env = environment(scratch)
        train_seconds = train(env, scratch)
        measured = _measure(env, scratch, cpus)
    return _result(measured, train_seconds)


def _result(measured: dict[str, Any], train_seconds: float) -> dict[str, Any]:
    """Ratios against the minimal app and LightGBM, the measurements, and the setup."""
    levels, raw, info = measured["levels"], measured["raw"], measured["info"]
    batch_cases_per_second = BATCH_SIZE * BATCH_REQUESTS / measured["batch_seconds"]
    ratios = {}
    for concurrency in CONCURRENCY:
        key = f"c{concurrency}"
        ratios[f"service / minimal app, requests/s, concurrency {concurrency}"] = round(
            levels["service"][key]["requests_per_second"]
            / levels["minimal_app"][key]["requests_per_second"],
            3,
        )
    ratios["batch endpoint / LightGBM predict_contrib (same answer), cases/s"] = round(
        batch_cases_per_second / (BATCH_SIZE / raw["predict_contrib"]), 3
    )
    ratios["batch endpoint / LightGBM predict (probabilities only), cases/s"] = round(
        batch_cases_per_second / (BATCH_SIZE / raw["predict"]), 3
    )
    best_service = max(v["requests_per_second"] for v in levels["service"].values())
    best_minimal = max(v["requests_per_second"] for v in levels["minimal_app"].values())
    ratios["service / minimal app, best requests/s"] = round(best_service / best_minimal, 3)
    p99_c8 = levels["service"]["c8"]["p99_ms"]
    return {
        "ratios": ratios,
        "targets": {
            "single-case throughput >= 0.5x minimal app (best level)": best_service / best_minimal
            >= 0.5,
            "p99 at concurrency 8 < 50 ms": p99_c8 < 50,
            "batch >= 0.3x raw LightGBM (predict_contrib)": batch_cases_per_second
            / (BATCH_SIZE / raw["predict_contrib"])
            >= 0.3,
        },
        "service": levels["service"],
        "minimal_app": levels["minimal_app"],
        "batch": {
            "cases_per_request": BATCH_SIZE,
            "service_cases_per_second": round(batch_cases_per_second),
            "lightgbm_predict_contrib_cases_per_second": round(BATCH_SIZE / raw["predict_contrib"]),
            "lightgbm_predict_cases_per_second": round(BATCH_SIZE / raw["predict"]),
        },
        "setup": {
            "models": info["bento_model"],
            "shadow_challengers": sorted(info["challengers"]),
            "train_cases": TRAIN_CASES,
            "train_seconds": round(train_seconds, 1),
            "pinned": measured["pinned"],
            "measured_seconds_per_level": SLICES * SLICE_SECONDS,
            "python": sys.version.split()[0],
        },
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--minimal-app":
        _serve_minimal(sys.argv[2:])
    else:
        print(json.dumps(run(), indent=2))
