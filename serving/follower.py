"""`triage serve`'s follower: the registry's aliases → checked models → the pointer file.

Started by `triage serve` beside the BentoML server (``python -m
serving.follower``), it asks the registry every ``model_poll_seconds``
(``TRIAGE_MODEL_POLL_SECONDS``) which versions ``champion`` and
``challenger`` of both models point at.  When that differs from what is
published, it imports the new set into the BentoML store, checks it in a
subprocess (:func:`serving.model_import.check_models`) and publishes the new
tag in the pointer file (:mod:`serving.served_pointer`), which every worker
follows.  A set that fails is not published: the failure goes to the log and
into the pointer's ``last_failure``, and the workers keep what they serve.

So a promotion, a rollback or a training that moves an alias reaches every
worker within ``model_poll_seconds`` plus the time to import and check the
set here and to load and warm it up in each worker (a few seconds each).

Court policies come in the same look at the registry (they are tags of the
stream model, read by the same ``get_registered_model``): a changed policy
book is published at once in the same pointer, models unchanged, and reaches
the workers within ``model_poll_seconds`` plus their one-second watch.  A
policy tag that is not a valid policy (written around `triage policy set`) is
refused: left out of the published book, so the policy it would have
replaced stays in force, and named with its reason in the log and the
pointer (``/model_info`` shows it).

When some policy in force states its review capacity in cases per day, this
process also measures each court's intake from the decision log (new cases
per day over the last 28 whole days, :mod:`serving.intake`) every
``intake_refresh_seconds`` and publishes it in the same pointer when it
changed (once a day): the workers size those courts' review shares by it
without ever querying the log on a request.

This process has MLflow; the workers do not.  It ends with its parent (the
BentoML arbiter that `triage serve` became).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.settings import TriageSettings, get_settings
from models import registry
from models.policy_book import PolicyBook
from models.review_capacity import CourtIntake
from serving.model_import import ModelSet, import_checked, resolve_aliases
from serving.served_models import BENTO_MODEL, FOLLOW_UP_KINDS, KINDS
from serving.served_pointer import ServedPointer, publish, read

__all__ = ["Follower", "RegistryLook", "registry_look", "registry_view"]

log = logging.getLogger("triage.follower")

#: How long a refused set waits before it is tried again (a registry or disk hiccup heals;
#: a broken booster is refused again, once a minute, not on every poll).
RETRY_SECONDS = 60.0


@dataclass(frozen=True)
class RegistryLook:
    """One look at the registry: every alias of both models, and the stream model's tags."""

    #: ``{name: {alias: version}}``.
    aliases: dict[str, dict[str, str]]
    #: The stream model's registered-model tags (the policy book is among them).
    stream_tags: dict[str, str] = field(default_factory=dict)


def registry_look(settings: TriageSettings) -> RegistryLook:
    """The aliases of both models (and of the terminated-case pair where registered) and the
    stream model's tags, one call per model."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    view: dict[str, dict[str, str]] = {}
    tags: dict[str, str] = {}
    for kind in (*KINDS, *FOLLOW_UP_KINDS):
        name = registry.model_name(kind, settings)
        try:
            model = client.get_registered_model(name)
        except MlflowException:
            if kind in KINDS:
                view[name] = {}  # no such model (yet): resolving the set says so
            # The optional pair, never trained here: the view stays what it was without it.
            continue
        view[name] = {str(a): str(v) for a, v in sorted(model.aliases.items())}
        if kind == "stream":
            tags = {str(k): str(v) for k, v in (model.tags or {}).items()}
    return RegistryLook(view, tags)


def registry_view(settings: TriageSettings) -> dict[str, dict[str, str]]:
    """Every alias of both models as the registry has it now: ``{name: {alias: version}}``."""
    return registry_look(settings).aliases


def published_policies(tags: dict[str, str]) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The policy book to publish (valid policy tags) and the refused tags with their reasons."""
    book = PolicyBook.from_tags(tags)
    return book.accepted_tags(tags), [r.to_dict() for r in book.refused]


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _age_seconds(moment: str) -> float:
    try:
        then = dt.datetime.strptime(moment, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return float("inf")
    return (dt.datetime.now(dt.UTC) - then).total_seconds()


class Follower:
    """One look at the registry at a time (:meth:`follow_once`); the I/O is injectable."""

    def __init__(
        self,
        settings: TriageSettings,
        pointer_path: Path,
        *,
        view: Callable[[TriageSettings], dict[str, dict[str, str]]] | None = None,
        look: Callable[[TriageSettings], RegistryLook] = registry_look,
        resolve: Callable[[TriageSettings], ModelSet] = resolve_aliases,
        import_set: Callable[[ModelSet], str] = import_checked,
        retry_seconds: float = RETRY_SECONDS,
        measure: Callable[[], CourtIntake] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.pointer_path = pointer_path
        # Tests may give the aliases alone (``view``): no policies then.
        self._look = look if view is None else (lambda settings: RegistryLook(view(settings)))
        self._resolve = resolve
        self._import = import_set
        self.retry_seconds = retry_seconds
        self._measure = measure if measure is not None else self._measure_from_log
        self._clock = clock
        self._intake: CourtIntake | None = None
        self._intake_at: float | None = None
        self._log: Any = None  # the decision log, opened on the first measurement

    def _measure_from_log(self) -> CourtIntake:
        from serving.decision_log import DecisionLog
        from serving.intake import measure_intake

        if self._log is None:
            self._log = DecisionLog(self.settings.resolved_decision_log_url()).create()
        return measure_intake(self._log, dt.datetime.now(dt.UTC).date())

    def intake(self, policies: dict[str, str]) -> dict[str, Any] | None:
        """The intake to publish: measured anew every ``intake_refresh_seconds`` (None when no
        policy in force needs it).  A failed measurement keeps the last one."""
        if not PolicyBook.from_tags(policies).uses_review_per_day():
            self._intake, self._intake_at = None, None
            return None
        now = self._clock()
        due = self._intake_at is None or now - self._intake_at >= (
            self.settings.intake_refresh_seconds
        )
        if due:
            try:
                measured = self._measure()
            except Exception as error:  # the log locked or gone for a moment: the last one holds
                log.warning(
                    "could not measure the courts' intake: %s: %s", type(error).__name__, error
                )
            else:
                if measured != self._intake:
                    log.info(
                        "measured the intake of %d courts over %s..%s",
                        len(measured.cases),
                        measured.window_from,
                        measured.window_through,
                    )
                    self._intake = measured
            self._intake_at = now
        return None if self._intake is None else self._intake.to_dict()

    def follow_once(self) -> str:
        """Compare the registry with the pointer and act; what happened, in a word.

        ``unchanged``, ``policies`` (only the policy book changed: published,
        the served set stays), ``aliases`` (the view was republished: the
        served set stays), ``published`` (a new set for the workers) or
        ``refused`` (the models; a refused policy tag is only left out of the book).
        """
        look = self._look(self.settings)
        view = look.aliases
        policies, policies_refused = published_policies(look.stream_tags)
        intake = self.intake(policies)
        current = read(self.pointer_path)
        if current is not None:
            self._log_refused_policies(current, policies_refused)
        same_policies = current is not None and (
            current.policies,
            current.policies_refused,
            current.intake,
        ) == (policies, policies_refused, intake)
        if current is not None and current.registry == view and not self._retry_due(current):
            if same_policies:
                return "unchanged"
            publish(
                self.pointer_path,
                replace(
                    current, policies=policies, policies_refused=policies_refused, intake=intake
                ),
            )
            log.info("published the court policies for the workers (%d changes)", len(policies))
            return "policies"
        book = (policies, policies_refused, intake)
        try:
            model_set = self._resolve(self.settings)
        except Exception as error:  # no champion any more, registry gone: keep serving
            return self._refused(current, view, None, error, book)
        tag = f"{BENTO_MODEL}:{model_set.bento_version()}"
        if current is not None and current.tag == tag:
            publish(
                self.pointer_path,
                replace(
                    current,
                    registry=view,
                    last_failure=None,
                    policies=policies,
                    policies_refused=policies_refused,
                    intake=intake,
                ),
            )
            return "aliases"
        try:
            tag = self._import(model_set)
        except Exception as error:
            return self._refused(current, view, model_set, error, book)
        publish(
            self.pointer_path,
            ServedPointer(
                tag=tag,
                versions=model_set.versions(),
                registry=view,
                published_at=_now(),
                policies=policies,
                policies_refused=policies_refused,
                intake=intake,
            ),
        )
        log.info("published %s for the workers: %s", tag, _describe(model_set))
        return "published"

    @staticmethod
    def _log_refused_policies(current: ServedPointer, refused: list[dict[str, str]]) -> None:
        """Each newly refused policy tag, once (it stays refused until someone replaces it)."""
        known = {r.get("key") for r in current.policies_refused}
        for entry in refused:
            if entry["key"] not in known:
                log.error(
                    "refused court policy tag %s (the policy it would replace stays in force): %s",
                    entry["key"],
                    entry["error"],
                )

    def _retry_due(self, current: ServedPointer) -> bool:
        failure = current.last_failure
        return failure is not None and _age_seconds(str(failure.get("at"))) >= self.retry_seconds

    def _refused(
        self,
        current: ServedPointer | None,
        view: dict[str, dict[str, str]],
        model_set: ModelSet | None,
        error: Exception,
        book: tuple[dict[str, str], list[dict[str, str]], dict[str, Any] | None],
    ) -> str:
        message = f"{type(error).__name__}: {error}"
        failure = {
            "at": _now(),
            "versions": None if model_set is None else model_set.versions(),
            "registry": view,
            "error": message,
        }
        kept = "nothing published yet" if current is None else f"{current.tag} keeps serving"
        log.error("refused the registry's new models (%s): %s", kept, message)
        if current is not None:
            # The models are refused, not the policies: the book is published all the same.
            publish(
                self.pointer_path,
                replace(
                    current,
                    registry=view,
                    last_failure=failure,
                    policies=book[0],
                    policies_refused=book[1],
                    intake=book[2],
                ),
            )
        return "refused"


def _describe(model_set: ModelSet) -> str:
    return "; ".join(
        f"{kind} " + ", ".join(f"{alias} v{v}" for alias, v in aliases.items())
        for kind, aliases in model_set.versions().items()
    )


def _die_with(parent: int) -> None:
    """Ask Linux to end this process when its parent ends (prctl PR_SET_PDEATHSIG)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the loop below notices the new parent instead
    if os.getppid() != parent:  # the parent ended before the request took effect
        sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    """Follow the registry until the parent process (the BentoML arbiter) ends."""
    from app.settings import apply_environment

    parser = argparse.ArgumentParser(prog="python -m serving.follower")
    parser.add_argument("--parent", type=int, required=True, help="end when this process ends")
    args = parser.parse_args(argv)
    _die_with(args.parent)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s triage serve: %(message)s", stream=sys.stderr
    )
    settings = apply_environment(get_settings())
    registry.configure_mlflow(settings)
    follower = Follower(settings, settings.served_models_file)
    log.info(
        "following the registry every %g s (%s)",
        settings.model_poll_seconds,
        settings.served_models_file,
    )
    try:
        while os.getppid() == args.parent:
            time.sleep(settings.model_poll_seconds)
            try:
                follower.follow_once()
            except Exception:  # the registry unreachable for a moment: try again next poll
                log.exception("could not follow the registry this time")
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
