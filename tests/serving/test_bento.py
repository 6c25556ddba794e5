"""`bentoml build` at the repository root gives a Bento that serves offline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from features.record import example_case
from tests.serving.conftest import AUTH, KEY, free_port, wait_until_serving

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
#: Any attempt to reach the network fails: the Bento must build and serve offline.
OFFLINE = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
}


@pytest.fixture(scope="module")
def env(serving_home, models_tag, tmp_path_factory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "MLFLOW_"))}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("PYTHONPATH", None)
    return (
        env
        | OFFLINE
        | {
            "BENTOML_HOME": str(serving_home / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "true",
            "TRIAGE_HOME": str(tmp_path_factory.mktemp("bento-home")),
            "TRIAGE_API_KEYS": KEY,
            "TMPDIR": str(tmp_path_factory.mktemp("bento-tmp")),
        }
    )


@pytest.fixture(scope="module")
def bento(env) -> Path:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("bentoml")), "build", "--output", "tag"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    tag = done.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    name, version = tag.split(":")
    return Path(env["BENTOML_HOME"]) / "bentos" / name / version


def test_the_bento_holds_the_code_the_models_and_no_mlflow(bento, models_tag):
    info = yaml.safe_load((bento / "bento.yaml").read_text())
    (service,) = info["services"]
    assert [m["tag"] for m in service["models"]] == [models_tag]
    source = bento / "src"
    for package in ("app", "features", "models", "serving"):
        assert (source / package / "__init__.py").exists()
    assert (source / "features" / "synthetic").is_dir() or (
        source / "features" / "synthetic.py"
    ).exists()
    assert (source / "serving" / "templates" / "drift_report.html").exists()
    # A worker carries the model, not the training stack.
    for left_out in ("training", "tests", "benchmarks"):
        assert not (source / left_out).exists(), left_out
    requirements = (bento / "env" / "python" / "requirements.txt").read_text()
    assert "lightgbm==" in requirements and "mlflow" not in requirements


def test_the_workers_never_import_mlflow_or_training(env, models_tag):
    script = (
        "import sys\n"
        "from _bentoml_impl.loader import load\n"
        "load('serving.worker:TriageService', standalone_load=True)\n"  # as a worker does
        "from serving.served_models import load_models\n"
        "from serving.decider import Decider\n"
        f"Decider(load_models({models_tag!r})).warm_up()\n"
        "roots = {name.split('.')[0] for name in sys.modules}\n"
        "print(sorted(roots & {'mlflow', 'training', 'optuna', 'matplotlib'}))\n"
        # What a worker's start leaves out (serving.lean_imports).
        "left_out = ('sklearn.model_selection', 'scipy.stats.', 'scipy.special.')\n"
        "print(sorted(name for name in sys.modules if name.startswith(left_out)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.splitlines() == ["[]", "[]"], done.stderr[-2000:]


def test_the_bento_serves_offline(env, bento, models_tag):
    port = free_port()
    name, version = bento.parent.name, bento.name
    with open(Path(env["TRIAGE_HOME"]) / "serve.log", "wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("bentoml")), "serve", f"{name}:{version}"]
            + ["--port", str(port)],
            cwd=env["TRIAGE_HOME"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_serving(url, process, Path(env["TRIAGE_HOME"]) / "serve.log", timeout=120)
            answer = httpx.post(f"{url}/triage", json={"case": example_case()}, headers=AUTH)
            assert answer.status_code == 200, answer.text
            info = httpx.get(f"{url}/model_info", headers=AUTH).json()
            assert info["bento_model"] == models_tag
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    assert (Path(env["TRIAGE_HOME"]) / "decisions.db").exists()
