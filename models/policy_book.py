"""Court policies as the registry keeps them: who set what, when, why; which one applies.

Policies are set for a scope — the whole country (the national default), a
province, or one court — and each change is one entry (:class:`PolicyChange`)
with the policy, the one it replaced, who, when, why and by which command.
The entries are stored as tags of the stream model's registered model
(``policy_change.<time>.<scope>.<nonce>``, one JSON object each; see
:mod:`models.policy_store`), beside its alias history: they travel with the
registry, two people setting policies at once both keep their entry, and
whoever reads the registered model — `triage serve`'s follower does on every
poll — gets every policy in the same call.

:class:`PolicyBook` is what those tags say, read without I/O:
:meth:`PolicyBook.resolve` gives the policy in force for a court (the court's
own, else its province's, else the national default, else the built-in
:data:`models.policy.DEFAULT_POLICY`) with where it comes from and its version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Final, Literal

from features.record import PROVINCES
from models.policy import DEFAULT_POLICY, CourtPolicy, PolicyError, parse_policy

if TYPE_CHECKING:
    from models.review_capacity import CourtIntake

__all__ = [
    "POLICY_TAG_PREFIX",
    "PolicyBook",
    "PolicyChange",
    "PolicyScope",
    "RefusedChange",
    "ResolvedPolicy",
    "scope_of",
]

POLICY_TAG_PREFIX: Final = "policy_change."
#: MLflow's SQL schema stores tag values as VARCHAR(5000) (see models.registry).
POLICY_VALUE_LIMIT: Final = 5000
_FIELD_LIMITS: Final = {"reason": 1500, "actor": 200, "command": 300}
_COURT = re.compile(r"[A-Za-z0-9]{6}")
_PROVINCE_CODES: Final = frozenset(code.code for code in PROVINCES)

ScopeKind = Literal["national", "province", "court"]


@dataclass(frozen=True, order=True)
class PolicyScope:
    """Whom a policy is for: the country, one province (GB/T 2260 code) or one court."""

    kind: ScopeKind
    code: str = ""

    @property
    def policy_id(self) -> str:
        """``national``, ``province:44`` or ``court:440305``: how responses and logs name it."""
        return self.kind if self.kind == "national" else f"{self.kind}:{self.code}"

    @property
    def tag_part(self) -> str:
        """The scope inside a tag key (no colons: MLflow refuses them on Windows)."""
        return self.kind if self.kind == "national" else f"{self.kind}-{self.code}"

    @classmethod
    def from_id(cls, policy_id: str) -> PolicyScope:
        kind, _, code = policy_id.partition(":")
        if kind == "national" and not code:
            return cls("national")
        if kind == "province":
            return scope_of(province=code)
        if kind == "court":
            return scope_of(court=code)
        raise PolicyError(f"scope: unknown policy scope {policy_id!r}")


NATIONAL: Final = PolicyScope("national")


def scope_of(*, court: str | None = None, province: str | None = None) -> PolicyScope:
    """The scope of a court or a province (neither: national); :class:`PolicyError` if bad.

    A court code is 6 ASCII letters or digits whose first two are its
    province's code (the case-record contract), so a court's province is
    never given separately.
    """
    if court is not None and province is not None:
        raise PolicyError(
            "court, province: give one of them (a court's province is its code's first two)"
        )
    if court is not None:
        if not _COURT.fullmatch(court):
            raise PolicyError(f"court: must be 6 ASCII letters or digits, got {court!r}")
        if court[:2] not in _PROVINCE_CODES:
            raise PolicyError(
                f"court: its first two characters must be a province code (GB/T 2260), got {court!r}"
            )
        return PolicyScope("court", court)
    if province is not None:
        if province not in _PROVINCE_CODES:
            raise PolicyError(
                f"province: must be a two-digit province code (GB/T 2260, 11 … 65), got {province!r}"
            )
        return PolicyScope("province", province)
    return NATIONAL


@dataclass(frozen=True)
class PolicyChange:
    """One change of a scope's policy (``policy`` None: its own policy withdrawn).

    ``previous`` is the policy that was in force for the scope before the
    change — its own, or the one it inherited — and ``previous_source`` says
    which (``province:44 v2``, ``national (built-in default)``).
    """

    time: str
    scope: PolicyScope
    policy: CourtPolicy | None
    previous: CourtPolicy | None
    reason: str
    actor: str | None = None
    command: str | None = None
    previous_source: str | None = None
    version: int = 0  # 1, 2 … within the scope, oldest first; set when the book is read

    def to_json(self) -> str:
        """The tag value: bounded fields, within MLflow's tag value limit."""
        document: dict[str, object] = {
            "time": self.time,
            "scope": self.scope.policy_id,
            "policy": None if self.policy is None else self.policy.model_dump(),
            "previous": None if self.previous is None else self.previous.model_dump(),
            "previous_source": self.previous_source,
            "actor": _bounded(self.actor, _FIELD_LIMITS["actor"]),
            "command": _bounded(self.command, _FIELD_LIMITS["command"]),
            "reason": _bounded(self.reason, _FIELD_LIMITS["reason"]) or "",
        }
        # JSON escapes can lengthen a text up to six times: shorten the reason until it fits.
        while len(value := json.dumps(document, ensure_ascii=False)) > POLICY_VALUE_LIMIT:
            reason = str(document["reason"])
            document["reason"] = reason[: max(len(reason) // 2, 1) - 1] + "…"
        return value

    @classmethod
    def from_json(cls, value: str) -> PolicyChange:
        document = json.loads(value)
        policy, previous = document.get("policy"), document.get("previous")
        return cls(
            time=str(document["time"]),
            scope=PolicyScope.from_id(str(document["scope"])),
            # A field added later takes its default; a policy edited into something invalid
            # is refused naming its field (parse_policy), as `triage policy set` would.
            policy=None if policy is None else parse_policy(policy),
            previous=None if previous is None else CourtPolicy.model_validate(previous),
            reason=str(document.get("reason") or ""),
            actor=document.get("actor"),
            command=document.get("command"),
            previous_source=document.get("previous_source"),
        )

    @property
    def label(self) -> str:
        """``court:440305 v3``."""
        return f"{self.scope.policy_id} v{self.version}"


def _bounded(text: str | None, limit: int) -> str | None:
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class ResolvedPolicy:
    """The policy in force for a court: the policy, the scope it is set for, its version.

    ``version`` 0 with the national scope is the built-in default (nothing stored).
    """

    policy: CourtPolicy
    scope: PolicyScope
    version: int
    change: PolicyChange | None = None

    @property
    def policy_id(self) -> str:
        return self.scope.policy_id

    @property
    def label(self) -> str:
        """``court:440305 v3``, or ``national (built-in default)``."""
        if self.version == 0:
            return "national (built-in default)"
        return f"{self.policy_id} v{self.version}"


@dataclass(frozen=True)
class RefusedChange:
    """A ``policy_change.*`` tag that is not a valid policy change, and why (naming the field)."""

    key: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "error": self.error}


@dataclass(frozen=True)
class PolicyBook:
    """Every policy change, oldest first, as the registry's tags record them.

    ``refused`` lists the tags that did not read as a valid change: they are
    not in the book (the policy they would have replaced stays in force), and
    whoever reads the book says so — `triage serve` in its log and ``/model_info``.

    ``intake`` is each court's recent intake measured from the decision log
    (None: not measured), with which a ``review_per_day`` capacity becomes a
    share (:mod:`models.review_capacity`); it travels with the book because
    it is what, besides the policies, decides a court's thresholds.
    """

    changes: tuple[PolicyChange, ...] = ()
    refused: tuple[RefusedChange, ...] = ()
    intake: CourtIntake | None = field(default=None, compare=False)

    def with_intake(self, intake: CourtIntake | None) -> PolicyBook:
        """The same book with ``intake`` to size per-day capacities by."""
        return replace(self, intake=intake)

    def uses_review_per_day(self) -> bool:
        """Whether any policy in force states its capacity in cases per day (intake needed)."""
        return any(
            (own := self.own(scope)) is not None
            and own.policy is not None
            and own.policy.review_per_day is not None
            for scope in self.scopes()
        )

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> PolicyBook:
        """The book of a registered model's tags (other tags are ignored).

        A tag that does not read as a valid policy change (written by hand,
        around `triage policy set`'s checks) is refused — kept in
        :attr:`refused` with the reason — rather than taking every court's
        routing down with it.
        """
        found: list[tuple[str, PolicyChange]] = []
        refused: list[RefusedChange] = []
        for key, value in sorted(tags.items()):
            if not key.startswith(POLICY_TAG_PREFIX):
                continue
            try:
                found.append((key, PolicyChange.from_json(value)))
            except json.JSONDecodeError as error:
                refused.append(RefusedChange(key, f"not JSON: {error}"))
            except KeyError as error:
                refused.append(RefusedChange(key, f"{error.args[0]}: missing"))
            except (ValueError, TypeError, AttributeError) as error:
                refused.append(RefusedChange(key, str(error) or type(error).__name__))
        found.sort(key=lambda item: (item[1].time, item[0]))
        numbered: list[PolicyChange] = []
        counts: dict[PolicyScope, int] = {}
        for _, change in found:
            counts[change.scope] = counts.get(change.scope, 0) + 1
            numbered.append(_with_version(change, counts[change.scope]))
        return cls(tuple(numbered), tuple(refused))

    def accepted_tags(self, tags: Mapping[str, str]) -> dict[str, str]:
        """The policy tags of ``tags`` this book was read from and kept (refused ones left out)."""
        refused = {r.key for r in self.refused}
        return {
            key: value
            for key, value in sorted(tags.items())
            if key.startswith(POLICY_TAG_PREFIX) and key not in refused
        }

    def history(self, scope: PolicyScope | None = None) -> list[PolicyChange]:
        """Changes of one scope (every scope when None), oldest first."""
        return [c for c in self.changes if scope is None or c.scope == scope]

    def own(self, scope: PolicyScope) -> PolicyChange | None:
        """The scope's latest change when it holds a policy of its own, else None."""
        history = self.history(scope)
        if not history or history[-1].policy is None:
            return None
        return history[-1]

    def resolve(self, court: str | None = None, *, province: str | None = None) -> ResolvedPolicy:
        """The policy in force for ``court`` (or ``province``, or the nation).

        Most specific first: the court's own, its province's (the court
        code's first two characters), the national default, the built-in
        default.  Codes are not checked here (a case's court_id was checked
        by the contract); an unknown code simply has no policy of its own.
        """
        scopes: list[PolicyScope] = []
        if court is not None:
            scopes.append(PolicyScope("court", court))
            province = province or court[:2]
        if province is not None:
            scopes.append(PolicyScope("province", province))
        scopes.append(NATIONAL)
        for scope in scopes:
            change = self.own(scope)
            if change is not None:
                assert change.policy is not None  # own() returns only changes with a policy
                return ResolvedPolicy(change.policy, scope, change.version, change)
        return ResolvedPolicy(DEFAULT_POLICY, NATIONAL, 0)

    def resolve_scope(self, scope: PolicyScope) -> ResolvedPolicy:
        """The policy in force for a scope (a province: its own, else the national)."""
        if scope.kind == "court":
            return self.resolve(scope.code)
        if scope.kind == "province":
            return self.resolve(province=scope.code)
        return self.resolve()

    def scopes(self) -> list[PolicyScope]:
        """Every scope holding a policy of its own now."""
        return sorted({c.scope for c in self.changes if self.own(c.scope) is not None})


def _with_version(change: PolicyChange, version: int) -> PolicyChange:
    return replace(change, version=version)
