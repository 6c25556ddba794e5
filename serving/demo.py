"""`make demo`: cases → trained models → batch scores → the running service with traffic.

The training part is :mod:`training.demo` (generate, train, score).  Then a
demo API key is made, ``triage serve`` starts on 127.0.0.1:3000, a few
thousand synthetic cases go through ``/triage_batch`` so the decision log and
the dashboard have something to show, and the service keeps running in the
foreground (Ctrl-C stops it) with a ready-to-paste ``curl`` on screen.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

from app.settings import apply_environment, get_settings

HOST = "127.0.0.1"
PORT = int(os.environ.get("TRIAGE_DEMO_PORT", "3000"))
TRAFFIC_CASES = 3_000
BATCH = 500


def _port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex((host, port)) != 0


def start_service(url: str) -> subprocess.Popen:
    """`triage serve` as a child process; returns once ``/readyz`` says ready."""
    import httpx

    server = subprocess.Popen(
        [sys.executable, "-m", "serving.cli", "serve", "--host", HOST, "--port", str(PORT)],
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


def send_traffic(url: str, key: str, files) -> int:
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


def main() -> int:
    """The whole demo; ends serving in the foreground until interrupted."""
    from serving.cli import try_it
    from serving.keys import create_key
    from training import demo

    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("training").setLevel(logging.INFO)  # progress of the 4-minute fit
    settings = apply_environment(get_settings())
    url = f"http://{HOST}:{PORT}"
    if not _port_free(HOST, PORT):
        raise SystemExit(f"port {PORT} is taken: stop what runs there or set TRIAGE_DEMO_PORT")
    files = demo.DemoFiles(settings.home / "demo")
    demo.step(f"1/5 generating synthetic cases into {files.folder}")
    demo.generate(files)
    demo.step("2/5 training both models (search within the time budget, about 4 minutes)")
    demo.train(files)
    demo.step("3/5 scoring the newer cases with the champions (triage score)")
    demo.score(files)
    demo.step(f"4/5 starting the service on {url}")
    key = create_key(settings.keys_file, f"demo-{int(time.time())}")
    server = start_service(url)
    try:
        demo.step(f"5/5 sending {TRAFFIC_CASES:,} cases through {url}/triage_batch")
        print(f"{send_traffic(url, key, files):,} decisions in the decision log")
        demo.step("the service is running (Ctrl-C stops it)")
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
