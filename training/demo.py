"""`make demo`: cases → trained models → batch scores → the running service with traffic.

Everything goes under ``TRIAGE_HOME`` (``.triage/`` in the checkout when run
by ``make``): the data in ``demo/``, the MLflow store, the scores, the
decision log.  The steps: 200,000 synthetic cases with their truth; both
models trained and registered; 20,000 newer cases scored with
``triage score``, compared with their true probabilities; a demo API key
(``triage keys create``); ``triage serve`` on 127.0.0.1:3000; a few thousand
cases through ``/triage_batch`` so that the decision log and the dashboard
have something to show.  Then the service keeps running in the foreground
(Ctrl-C stops it) with a ready-to-paste ``curl`` on screen.

The service is started and fed the way a court would: through the ``triage``
command and HTTP, not by importing :mod:`serving` (training never does).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from app.settings import apply_environment, get_settings

TRAIN_CASES = 200_000
FRESH_CASES = 20_000
HOST = "127.0.0.1"
PORT = int(os.environ.get("TRIAGE_DEMO_PORT", "3000"))
TRAFFIC_CASES = 3_000
BATCH = 500
#: ``triage`` as a child process, in this checkout's environment.
TRIAGE = (sys.executable, "-m", "app.cli")


@dataclass(frozen=True)
class DemoFiles:
    folder: Path

    @property
    def cases(self) -> Path:
        return self.folder / "cases.csv"

    @property
    def truth(self) -> Path:
        return self.folder / "truth.csv"

    @property
    def fresh(self) -> Path:
        return self.folder / "fresh_cases.csv"

    @property
    def fresh_truth(self) -> Path:
        return self.folder / "fresh_truth.csv"

    @property
    def scores(self) -> Path:
        return self.folder / "fresh_scores.csv"


def step(message: str) -> None:
    print(f"\n== {message}", flush=True)


def generate(files: DemoFiles) -> None:
    """200k historical cases (2021–2024) and 20k fresh ones (2025 H1), with truth."""
    from features.synthetic import GeneratorConfig, write_synthetic

    files.folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    write_synthetic(TRAIN_CASES, files.cases, files.truth, seed=1)
    write_synthetic(
        FRESH_CASES,
        files.fresh,
        files.fresh_truth,
        seed=2,
        config=GeneratorConfig(start="2025-01-01", end="2025-06-30"),
    )
    print(
        f"{TRAIN_CASES:,} labelled cases -> {files.cases}\n"
        f"{FRESH_CASES:,} newer cases -> {files.fresh} ({time.monotonic() - started:.0f} s)"
    )


def train(files: DemoFiles):
    """Train both models on the historical cases and register them."""
    from training.cli import print_outcomes
    from training.train import train as train_models

    result = train_models(files.cases, truth=files.truth)
    print_outcomes(result)
    print(f"\ntrained in {result.seconds:.0f} s (run {result.run_id})")
    return result


def score(files: DemoFiles) -> dict[str, object]:
    """Score the fresh cases with the champions; compare with their true probabilities."""
    import pandas as pd

    from training import evaluate
    from training.score import score_file

    summary = score_file(files.fresh, files.scores)
    print(
        f"scored {summary['rows']:,} cases in {summary['seconds']:.1f} s with "
        f"{summary['stream_model']} and {summary['assets_model']} -> {files.scores}"
    )
    scores = pd.read_csv(files.scores, dtype={"case_id": str})
    labels = pd.read_csv(
        files.fresh,
        usecols=["case_id", "is_complex", "has_recoverable_assets"],
        dtype={"case_id": str},
    )
    truth = pd.read_csv(files.fresh_truth, dtype={"case_id": str})
    joined = scores.merge(labels, on="case_id").merge(truth, on="case_id")
    for label, column, true_column in (
        ("is_complex", "p_complex", "p_complex_true"),
        ("has_recoverable_assets", "p_assets", "p_assets_true"),
    ):
        model = evaluate.binary_metrics(joined[label], joined[column])
        bayes = evaluate.binary_metrics(joined[label], joined[true_column])
        gap = evaluate.gap_to_bayes(model, bayes)
        print(
            f"  {label}: AUC {model['auc']:.4f} (Bayes limit {bayes['auc']:.4f}, "
            f"gap {gap['auc_gap']:.4f}); log loss {model['log_loss']:.4f} "
            f"(limit {bayes['log_loss']:.4f}, +{gap['log_loss_gap_pct']:.2f} %)"
        )
    shares = scores["stream"].value_counts(normalize=True)
    print(
        "  streams: "
        + " · ".join(
            f"{name} {shares.get(name, 0):.1%}" for name in ("simple", "complex", "review")
        )
    )
    return summary


# --------------------------------------------------------------------------
# The service, through the triage command and HTTP
# --------------------------------------------------------------------------


def create_key() -> str:
    """A new API key for the demo, made with ``triage keys create`` (it prints the key)."""
    made = subprocess.run(
        [*TRIAGE, "keys", "create", "--name", f"demo-{int(time.time())}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        raise SystemExit(f"triage keys create failed: {made.stderr.strip()}")
    return made.stdout.strip().splitlines()[-1]


def _port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex((host, port)) != 0


def start_service(url: str) -> subprocess.Popen:
    """`triage serve` as a child process; returns once ``/readyz`` says ready."""
    import httpx

    server = subprocess.Popen(
        [*TRIAGE, "serve", "--host", HOST, "--port", str(PORT)],
        start_new_session=True,  # Ctrl-C reaches it through us, once
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"triage serve exited with code {server.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(1)
    stop(server)
    raise SystemExit("the service did not become ready within 3 minutes")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def send_traffic(url: str, key: str, files: DemoFiles) -> int:
    """Send the newer cases through /triage_batch; returns how many were decided."""
    import httpx

    from features.load import load_cases, records_from_frame

    frame = load_cases(files.fresh).head(TRAFFIC_CASES)
    records = records_from_frame(frame)
    decided = 0
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
        for start in range(0, len(records), BATCH):
            answer = client.post(
                f"{url}/triage_batch", json={"cases": records[start : start + BATCH]}
            )
            answer.raise_for_status()
            decided += len(answer.json()["decisions"])
    return decided


def try_it(url: str, key: str) -> str:
    """A ready-to-paste ``curl`` of the contract's example case, and where the docs are.

    For the end of `make demo`, once ``triage serve`` answers.
    """
    import json
    import shlex

    from features.record import example_case

    body = json.dumps({"case": example_case()}, ensure_ascii=False)
    return "\n".join(
        [
            f"Swagger UI: {url}/   OpenAPI: {url}/docs.json   health: {url}/readyz",
            "Try it:",
            f"  curl -s {url}/triage -H 'Authorization: Bearer {key}' \\",
            f"    -H 'Content-Type: application/json' -d {shlex.quote(body)}",
        ]
    )


def main() -> int:
    """The whole demo; ends serving in the foreground until interrupted."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("training").setLevel(logging.INFO)  # progress of the 4-minute fit
    settings = apply_environment(get_settings())
    url = f"http://{HOST}:{PORT}"
    if not _port_free(HOST, PORT):
        raise SystemExit(f"port {PORT} is taken: stop what runs there or set TRIAGE_DEMO_PORT")
    files = DemoFiles(settings.home / "demo")
    step(f"1/5 generating synthetic cases into {files.folder}")
    generate(files)
    step("2/5 training both models (search within the time budget, about 4 minutes)")
    train(files)
    step("3/5 scoring the newer cases with the champions (triage score)")
    score(files)
    step(f"4/5 starting the service on {url}")
    key = create_key()
    server = start_service(url)
    try:
        step(f"5/5 sending {TRAFFIC_CASES:,} cases through {url}/triage_batch")
        print(f"{send_traffic(url, key, files):,} decisions in the decision log")
        step("the service is running (Ctrl-C stops it)")
        print(try_it(url, key))
        print(f"Dashboard: {url}/dashboard#key={key}")
        print("MLflow runs and the registry: `make mlflow-ui`, then http://127.0.0.1:5000")
        print(f"State directory: {settings.home}", flush=True)
        server.wait()
    except KeyboardInterrupt:
        print("\nstopping the service")
    finally:
        stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
