"""From the MLflow registry to the BentoML model store: what ``triage serve`` imports.

The registry stays the source of truth.  :func:`prepare_models` resolves the
aliases — ``champion`` of both models, and ``challenger`` where it exists and
differs from the champion — and copies exactly those versions into one
BentoML model, ``triage-models:<version>``, whose version names its contents
(``s3-a3-cs4-…``).  The service's workers load that BentoML model
(:mod:`serving.served_models`), never the registry.

Before a model set is served anywhere it is loaded and warmed up in a
child process (:mod:`serving.model_check`): LightGBM aborts the whole process
on some broken model files (a booster cut short), which no ``except`` can
catch, so neither `triage serve` nor a worker loads a set that has not passed
that check.

This side needs MLflow (the CLI runs it); the workers' side must not import it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import multiprocessing
import multiprocessing.context
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app.settings import TriageSettings, get_settings
from models import registry
from serving.served_models import BENTO_MODEL, FOLLOW_UP_KINDS, KINDS, TRAIN_HINT, NoChampion

log = logging.getLogger("bentoml.triage")


@dataclass(frozen=True)
class ServedVersion:
    """One registered model version chosen for serving."""

    kind: str
    name: str
    version: str
    alias: str
    run_id: str | None = None
    source: str | None = None

    @classmethod
    def of(cls, kind: str, registered: registry.RegisteredVersion) -> ServedVersion:
        """The registered version an alias points at, chosen to serve as ``kind``."""
        return cls(
            kind=kind,
            name=registered.name,
            version=registered.version,
            alias=registered.alias,
            run_id=registered.run_id,
            source=registered.source,
        )


@dataclass(frozen=True)
class ModelSet:
    """What to serve: both champions, and the challengers that differ from them."""

    champions: dict[str, ServedVersion]
    challengers: dict[str, ServedVersion] = field(default_factory=dict)

    def bento_version(self) -> str:
        """The BentoML model version naming these contents, e.g. ``s3-a3-cs4-0f1e2d3c``."""
        parts = [f"s{self.champions['stream'].version}", f"a{self.champions['assets'].version}"]
        for kind, letter in (("stream", "cs"), ("assets", "ca")):
            if kind in self.challengers:
                parts.append(f"{letter}{self.challengers[kind].version}")
        # The terminated-case pair, when served (a set without it is named as before).
        for kind, letter in (("resume", "r"), ("recovery", "y")):
            if kind in self.champions:
                parts.append(f"{letter}{self.champions[kind].version}")
        identity = json.dumps(self.to_metadata()["models"], sort_keys=True).encode()
        parts.append(hashlib.sha256(identity).hexdigest()[:8])
        return "-".join(parts).lower()

    def to_metadata(self) -> dict[str, object]:
        """BentoML model metadata (which refuses None values: absent fields are left out)."""

        def entry(served: ServedVersion) -> dict[str, str]:
            return {k: v for k, v in asdict(served).items() if v is not None}

        models = {k: entry(v) for k, v in self.champions.items()}
        models |= {f"challenger-{k}": entry(v) for k, v in self.challengers.items()}
        return {"models": models}

    def versions(self) -> dict[str, dict[str, str]]:
        """``{kind: {"champion": version, "challenger": version}}`` (challenger where served)."""
        found = {kind: {"champion": served.version} for kind, served in self.champions.items()}
        for kind, served in self.challengers.items():
            found[kind]["challenger"] = served.version
        return found


class ModelsRefused(RuntimeError):
    """A model set failed its check (load and warm-up in a subprocess): it must not be served."""


# --------------------------------------------------------------------------
# Registry side (MLflow)
# --------------------------------------------------------------------------


def resolve_aliases(settings: TriageSettings | None = None) -> ModelSet:
    """The versions the aliases point at now; :class:`NoChampion` when one is missing."""
    settings = settings or get_settings()
    registry.configure_mlflow(settings)
    champions: dict[str, ServedVersion] = {}
    challengers: dict[str, ServedVersion] = {}
    missing = []
    for kind in KINDS:
        name = registry.model_name(kind, settings)
        champion = registry.version_by_alias(name, registry.CHAMPION)
        if champion is None:
            missing.append(name)
            continue
        champions[kind] = ServedVersion.of(kind, champion)
        challenger = registry.version_by_alias(name, registry.CHALLENGER)
        if challenger is not None and challenger.version != champion.version:
            challengers[kind] = ServedVersion.of(kind, challenger)
    if missing:
        raise NoChampion(
            f"no champion of {' and '.join(missing)} in the registry at "
            f"{_safe_uri(settings.resolved_tracking_uri())}: {TRAIN_HINT}"
        )
    return ModelSet(champions=champions | _follow_up_champions(settings), challengers=challengers)


def _follow_up_champions(settings: TriageSettings) -> dict[str, ServedVersion]:
    """The terminated-case champions, both or none: a follow-up list needs the pair.

    Optional: most courts serve new cases only.  Their challengers are not
    shadowed (a follow-up list is not a decision the log compares).
    """
    found: dict[str, ServedVersion] = {}
    for kind in FOLLOW_UP_KINDS:
        champion = registry.version_by_alias(registry.model_name(kind, settings), registry.CHAMPION)
        if champion is None:
            return {}
        found[kind] = ServedVersion.of(kind, champion)
    return found


def _safe_uri(uri: str) -> str:
    """A tracking URI without credentials, for messages."""
    if "@" in uri and "://" in uri:
        scheme, rest = uri.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return uri


def _download(served: ServedVersion, into: Path) -> Path:
    """The stored model files of one version (``booster.txt``, ``model.json``) into a folder.

    Copied, not loaded: loading happens in :func:`check_models`'s subprocess.
    """
    import mlflow

    uri = f"{registry.model_uri(served.name, version=served.version)}/artifacts/"
    uri += registry.MODEL_ARTIFACT
    with tempfile.TemporaryDirectory(prefix="triage-download-") as scratch:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch))
        shutil.copytree(local, into)
    return into


def import_models(
    model_set: ModelSet, fetch: Callable[[ServedVersion, Path], Path] | None = None
) -> str:
    """Copy a model set into the BentoML store (once) and make it ``latest``; returns the tag.

    Idempotent: a set already in the store is reused.  It is re-created only
    when it is not the store's ``latest``, so that ``bentoml build`` (which
    packs ``triage-models:latest``) packs what was served last.  ``fetch``
    writes one version's files into a folder (default: download from MLflow).
    """
    fetch = fetch or _download
    import bentoml
    from bentoml.exceptions import NotFound

    tag = f"{BENTO_MODEL}:{model_set.bento_version()}"
    try:
        existing = bentoml.models.get(tag)
    except NotFound:
        existing = None
    if existing is not None:
        latest = bentoml.models.get(f"{BENTO_MODEL}:latest")
        if latest.tag == existing.tag:
            return str(existing.tag)
        bentoml.models.delete(tag)
    metadata = model_set.to_metadata() | {"imported_at": _now()}
    labels = {f"{kind}_version": served.version for kind, served in model_set.champions.items()} | {
        "owner": "enforcement-triage"
    }
    with bentoml.models.create(tag, labels=labels, metadata=metadata) as stored:
        root = Path(stored.path)
        for kind, served in model_set.champions.items():
            fetch(served, root / kind)
        for kind, served in model_set.challengers.items():
            fetch(served, root / f"challenger-{kind}")
    log.info("imported %s into the BentoML store", tag)
    return tag


_checker: multiprocessing.context.ForkServerContext | None = None


def _check_processes() -> multiprocessing.context.ForkServerContext:
    """Processes forked from a server with the serving stack imported (started on first use)."""
    global _checker
    if _checker is None:
        from serving.model_check import PRELOAD

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        _checker = context
    return _checker


def check_models(tag: str, timeout: float = 300.0) -> None:
    """Load and warm up a stored model set in a child process; :class:`ModelsRefused` if it fails.

    A child, because a broken booster file makes LightGBM abort the process
    that loads it (SIGABRT): the check may die, the caller may not.
    """
    from serving.model_check import check_in_child

    receive, send = multiprocessing.Pipe(duplex=False)
    child = _check_processes().Process(
        target=check_in_child, args=(tag, send), name="triage-model-check", daemon=True
    )
    child.start()
    send.close()
    try:
        said = receive.recv() if receive.poll(timeout) else f"took over {timeout:.0f} s"
    except EOFError:  # the child died without a word
        said = None
    finally:
        receive.close()
    child.join(timeout=10)
    if child.is_alive():
        child.kill()
        child.join()
    code = child.exitcode
    if said is None and code == 0:
        return
    if code is not None and code < 0:
        how = f"the loading process died of {signal.Signals(-code).name}"
    else:
        how = "the loading process failed" + (f" (exit {code})" if code else "")
    raise ModelsRefused(f"{tag}: {how}" + (f": {said}" if said else ""))


@contextlib.contextmanager
def _store_lock() -> Iterator[None]:
    """Hold the BentoML store against other processes importing into it.

    Two services started on one ``TRIAGE_HOME`` (or their followers moving
    to a new champion together) would otherwise both find a set missing and
    both create it: the second fails with "already exists".  ``flock`` is
    released by the kernel when a holder dies, so a killed import blocks no one.
    """
    home = Path(os.environ.get("BENTOML_HOME") or get_settings().bentoml_home)
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".triage-import.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def import_checked(
    model_set: ModelSet, fetch: Callable[[ServedVersion, Path], Path] | None = None
) -> str:
    """Import a model set and check it (:func:`check_models`); the tag, or :class:`ModelsRefused`.

    A refused set is deleted from the BentoML store again, so that nothing
    (not ``bentoml build`` either) picks it up.  One process at a time per
    store: a second service waits, then finds the set imported.
    """
    with _store_lock():
        tag = import_models(model_set, fetch)
        try:
            check_models(tag)
        except ModelsRefused:
            import bentoml

            bentoml.models.delete(tag)
            raise
    return tag


def prepare_models(settings: TriageSettings | None = None) -> tuple[str, ModelSet]:
    """Resolve the aliases, import and check those versions; the BentoML tag and the set."""
    model_set = resolve_aliases(settings)
    return import_checked(model_set), model_set


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
