"""The pointer file: which BentoML model the workers of a `triage serve` should serve now.

`triage serve`'s follower (:mod:`serving.follower`, which has MLflow) watches
the registry; when the ``champion`` or ``challenger`` alias of either model
moves, it imports and checks the new versions and then publishes a new
pointer here.  Each worker (:mod:`serving.live_models`, which has no MLflow)
watches this file and swaps to the tag it names.  The file is small JSON,
replaced atomically (readers see the old pointer or the new one, never half
of one), and it carries the registry's aliases as they are — also when the
versions they point at were refused — and the last refusal, so that a worker
can say in ``/model_info`` what it serves, what the registry says and why
they differ.

Court policies travel the same way: the pointer carries the policy book (the
stream model's valid ``policy_change.*`` tags, see :mod:`models.policy_book`)
and the tags the follower refused, with the reason.  A policy change is a new
pointer with the same ``tag``: the workers swap their book and keep their models.
So does each court's intake (new cases per day, from the decision log), which
turns a policy's review capacity in cases per day into a share
(:mod:`serving.intake`): an operator reads both here, in served-models.json.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.files import write_atomically

__all__ = ["POINTER_ENV", "FileSignature", "ServedPointer", "file_signature", "publish", "read"]

#: Set by `triage serve` for its workers: the pointer file they follow.  Unset (a bare
#: `bentoml serve`, a built Bento), a worker serves its one tag and follows nothing.
POINTER_ENV = "TRIAGE_MODELS_POINTER"


@dataclass(frozen=True)
class ServedPointer:
    """What is published for the workers: one BentoML tag and how it relates to the registry."""

    #: The BentoML model (``triage-models:<version>``) the workers should serve.
    tag: str
    #: The versions in ``tag``: ``{"stream": {"champion": "2", "challenger": "3"}, …}``.
    versions: dict[str, dict[str, str]]
    #: The registry's aliases as they are now: ``{model name: {alias: version}}``.
    registry: dict[str, dict[str, str]]
    #: When ``tag`` was published (ISO-8601 UTC).
    published_at: str
    #: The last set of versions that was refused (``at``, ``versions``, ``error``), if any
    #: since ``tag`` was published.
    last_failure: dict[str, Any] | None = field(default=None)
    #: The policy book: the valid ``policy_change.*`` tags of the stream model, by key.
    policies: dict[str, str] = field(default_factory=dict)
    #: The policy tags refused (``key``, ``error``): not in ``policies``, the old policy applies.
    policies_refused: list[dict[str, str]] = field(default_factory=list)
    #: Each court's intake (new cases per day) from the decision log, measured while a policy
    #: states its review capacity in cases per day (:class:`models.review_capacity.CourtIntake`).
    intake: dict[str, Any] | None = field(default=None)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ServedPointer:
        """Parse a pointer file; ``ValueError`` naming what is wrong."""
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("tag"), str):
            raise ValueError("a pointer file needs a string 'tag'")
        return cls(
            tag=data["tag"],
            versions=dict(data.get("versions") or {}),
            registry=dict(data.get("registry") or {}),
            published_at=str(data.get("published_at") or ""),
            last_failure=data.get("last_failure"),
            policies={str(k): str(v) for k, v in (data.get("policies") or {}).items()},
            policies_refused=list(data.get("policies_refused") or []),
            intake=data.get("intake"),
        )

    def aliases_of(self, name: str, version: str) -> list[str]:
        """The aliases the registry gives ``name`` version ``version`` now, sorted."""
        return sorted(a for a, v in self.registry.get(name, {}).items() if v == version)


def publish(path: str | os.PathLike[str], pointer: ServedPointer) -> None:
    """Replace the pointer file at once (readers see the old one or the whole new one)."""
    write_atomically(path, pointer.to_json() + "\n", durable=True)


def read(path: str | os.PathLike[str]) -> ServedPointer | None:
    """The published pointer; None when there is none yet, ``ValueError`` when it is unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return ServedPointer.from_json(text)
    except (json.JSONDecodeError, TypeError) as error:
        raise ValueError(f"{path}: not a pointer file: {error}") from error


#: What changes when a file is replaced: (inode, size, mtime in ns); None for no file.
FileSignature = tuple[int, int, int] | None


def file_signature(path: str | os.PathLike[str]) -> FileSignature:
    """A cheap fingerprint (one ``stat``) that changes whenever the pointer is republished.

    The inode changes on every atomic replacement, even within one mtime tick.
    """
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)
