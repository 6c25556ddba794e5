"""A worker's court policies, following the pointer file: a new book swaps in between requests.

`triage serve`'s follower publishes the policy book in the pointer file
(:mod:`serving.served_pointer`) beside the models.  When only the policies
changed, the worker keeps its models and swaps its book — one reference
assignment, as with the decider: a request reads :attr:`LivePolicies.current`
once and routes every case of it by that book.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from models.policy_book import PolicyBook
from models.review_capacity import CourtIntake
from serving.served_pointer import ServedPointer

__all__ = ["LivePolicies", "ServedPolicies"]

log = logging.getLogger("bentoml.triage")


@dataclass(frozen=True)
class ServedPolicies:
    """The policy book a worker routes by, the tags it came from and the ones refused."""

    book: PolicyBook = field(default_factory=PolicyBook)
    tags: dict[str, str] = field(default_factory=dict)
    refused: list[dict[str, str]] = field(default_factory=list)
    since: str | None = None
    #: The refusals as the follower published them (what a new pointer is compared with).
    published_refused: list[dict[str, str]] = field(default_factory=list)
    #: The intake as the follower published it (None: not measured).
    intake: dict[str, object] | None = None

    @classmethod
    def of(cls, pointer: ServedPointer) -> ServedPolicies:
        """The book a pointer carries (a tag the follower let through but that does not read
        here is refused here too, and named alike)."""
        book = PolicyBook.from_tags(pointer.policies)
        refused = list(pointer.policies_refused) + [r.to_dict() for r in book.refused]
        intake = None
        if pointer.intake is not None:
            try:
                intake = CourtIntake.from_dict(pointer.intake)
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                refused.append({"key": "intake", "error": f"unreadable intake: {error}"})
        return cls(
            book.with_intake(intake),
            dict(pointer.policies),
            refused,
            _now(),
            list(pointer.policies_refused),
            pointer.intake,
        )

    def info(self) -> dict[str, object]:
        """``/model_info``'s ``policies``: each scope's policy in force, and the refused tags."""
        in_force = {}
        for scope in self.book.scopes():
            change = self.book.own(scope)
            assert change is not None and change.policy is not None  # scopes() holds own ones
            in_force[scope.policy_id] = {
                "version": change.version,
                "set_at": change.time,
                "policy": change.policy.model_dump(),
            }
        intake = self.book.intake
        return {
            "in_force": in_force,
            "refused": self.refused,
            "since": self.since,
            # The window and how many courts were measured; the counts are in served-models.json.
            "intake": None
            if intake is None
            else {
                "window_from": intake.window_from,
                "window_through": intake.window_through,
                "measured_at": intake.measured_at,
                "courts": len(intake.cases),
            },
        }


class LivePolicies:
    """The book requests use now (:attr:`current`), replaced when a pointer brings another."""

    def __init__(self) -> None:
        self.current = ServedPolicies()
        self.swaps = 0

    def follow(self, pointer: ServedPointer) -> bool:
        """Swap to the pointer's book if it differs from the current one; True if swapped."""
        current = self.current
        if current.since is not None and (
            pointer.policies,
            pointer.policies_refused,
            pointer.intake,
        ) == (current.tags, current.published_refused, current.intake):
            return False  # republished for the models or the aliases: the same book
        new = ServedPolicies.of(pointer)
        self.current = new  # the swap: requests that start from now on route by `new`
        if current.since is not None:
            self.swaps += 1
        for entry in new.refused:
            log.error("court policy tag %s refused: %s", entry.get("key"), entry.get("error"))
        log.info(
            "routing by %d court policies (%s)",
            len(new.book.scopes()),
            ", ".join(new.book.resolve_scope(s).label for s in new.book.scopes()) or "defaults",
        )
        return True


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
