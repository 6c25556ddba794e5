"""Small registered models for the service tests: `triage train`'s own job, on a tiny budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from training.config import SearchConfig, TrainingConfig

#: A search small enough for tests (a few seconds for both models), without the card's
#: charts (half a small run's time; tests/training checks them).
FAST = TrainingConfig(
    search=SearchConfig(n_trials=1, time_budget_seconds=4, max_rounds=150), figures=False
)

ROOT = Path(__file__).resolve().parents[2]


def register_models(*, seed: int = 3, n: int = 2500) -> dict[str, str]:
    """Train and register both models as `triage train` does, on synthetic cases.

    Each version carries the metadata training writes — its run, data
    windows, test metrics and reference profile.  Uses the MLflow store of
    the current TRIAGE_HOME.  Returns ``{kind: version}``.
    """
    from features.synthetic import write_synthetic
    from training.train import train

    with tempfile.TemporaryDirectory(prefix="triage-fixture-") as scratch:
        data = Path(scratch) / f"cases-{seed}.csv"
        write_synthetic(n, data, seed=seed)
        return train(data, config=FAST).versions


def pin_aliases(versions: dict[str, str], *aliases: str) -> None:
    """Point ``aliases`` of both models at ``versions``, whatever the gate decided."""
    from models import registry

    for kind, version in versions.items():
        for alias in aliases:
            registry.move_alias(registry.model_name(kind), alias, version, "test")


def service_env(home: Path, scratch: Path, api_key: str) -> dict[str, str]:
    """The environment of a `triage serve` subprocess on its own TRIAGE_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "MLFLOW_"))}
    env |= {
        "TRIAGE_HOME": str(home),
        "TRIAGE_API_KEYS": api_key,
        "BENTOML_HOME": str(home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "PYTHONPATH": str(ROOT),
        # BentoML leaves socket and client folders in the temporary directory.
        "TMPDIR": str(scratch),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the server makes its own
    return env


def register_champion_and_challenger(
    env: dict[str, str], *, terminated: bool = False
) -> dict[str, dict[str, str]]:
    """Champions (seed 3) and a differing challenger (seed 8), registered in a subprocess.

    A subprocess, because MLflow keeps its tracking URI per process and the
    registry must be the one of ``env``'s TRIAGE_HOME.  With ``terminated``,
    the terminated-case pair too (:func:`register_terminated`'s, in the same
    process: its imports are paid once), under ``"terminated"``.
    """
    script = (
        "import json\n"
        "from app.settings import apply_environment\n"
        "apply_environment()\n"
        "from tests.serving.registry_fixture import pin_aliases, register_models\n"
        "champion = register_models(seed=3)\n"
        "challenger = register_models(seed=8)\n"
        "pin_aliases(champion, 'champion')\n"
        "pin_aliases(challenger, 'challenger')\n"
        "found = {'champion': champion, 'challenger': challenger}\n"
        + (_TERMINATED_SCRIPT.format(n=TERMINATED_N, seed=TERMINATED_SEED) if terminated else "")
        + "print(json.dumps(found))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


#: The terminated-case pair of the tests: small (seconds to train), enough to rank; training
#: needs 100 recovered cases, ~3 % of the generated ones (2,000 cases had 59).
TERMINATED_N, TERMINATED_SEED = 4000, 5
_TERMINATED_SCRIPT = (
    "import tempfile\n"
    "from pathlib import Path\n"
    "from features.synthetic.terminated import write_terminated\n"
    "from training.terminated import train_terminated\n"
    "from tests.serving.registry_fixture import FAST, pin_aliases\n"
    "with tempfile.TemporaryDirectory(prefix='triage-fixture-') as scratch:\n"
    "    data = Path(scratch) / 'terminated.csv'\n"
    "    write_terminated({n}, data, seed={seed})\n"
    "    terminated = train_terminated(data, config=FAST).versions\n"
    "pin_aliases(terminated, 'champion')\n"
    "found = dict(found, terminated=terminated)\n"
)


def register_terminated(env: dict[str, str]) -> dict[str, str]:
    """Champions of `triage-resume` and `triage-recovery`, trained small and registered.

    `triage train --kind terminated`'s own job on a tiny budget, in a
    subprocess for ``env``'s registry (as :func:`register_champion_and_challenger`);
    the champion alias is pinned whatever the gate made of such small models.
    """
    script = (
        "import json\n"
        "from app.settings import apply_environment\n"
        "apply_environment()\n"
        "found = {}\n"
        + _TERMINATED_SCRIPT.format(n=TERMINATED_N, seed=TERMINATED_SEED)
        + "print(json.dumps(found['terminated']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
