"""Duplicate keys in a JSON request body: which key, and where.

JSON leaves an object with a key twice undefined; the parser behind the API
(pydantic's) keeps the last value, so ``{"case_id": "a", "case_id": "b"}``
would be decided as ``b`` while the client's own record may say ``a``.  What
the client meant is ambiguous, so the service refuses such a body before it
is read as a request.

The check is on the hot path (every ``POST /triage``): one pass of the C JSON
scanner with a hook per object that keeps nothing, about 30 µs for one case.
Only a body that has a duplicate is read a second time, to say where.
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass

#: Most duplicates one answer lists (a body may repeat a key in every case of a batch).
MAX_REPORTED = 20
#: Longest key quoted back to the client (keys are the client's text, of any length).
MAX_KEY_SHOWN = 100


class _Duplicate(Exception):
    """Raised by the fast pass at the first object that repeats a key."""


def _refuse_duplicates(pairs: list[tuple[str, t.Any]]) -> None:
    # Nothing is kept: the body is parsed again by the API's own parser.
    if len(pairs) != len(dict(pairs)):
        raise _Duplicate


class _Pairs(list[tuple[str, t.Any]]):
    """An object of the slow pass: its pairs as written, duplicates included."""


# Made once: ``json.loads(..., object_pairs_hook=...)`` builds a decoder per call (~10 µs).
_FAST_PASS = json.JSONDecoder(object_pairs_hook=_refuse_duplicates)
_SLOW_PASS = json.JSONDecoder(object_pairs_hook=_Pairs)


@dataclass(frozen=True)
class DuplicateKey:
    """A key written twice (or more) in one JSON object; ``loc`` ends with the key."""

    loc: tuple[str | int, ...]

    @property
    def key(self) -> str:
        return _shown(str(self.loc[-1]))

    @property
    def field(self) -> str:
        """The dotted path of the key, as the API's field errors name fields (``cases.3.case_id``)."""
        return ".".join(_shown(str(part)) for part in self.loc)

    @property
    def where(self) -> str:
        """The object that holds the key: ``the body``, ``case``, ``cases.3``."""
        return ".".join(_shown(str(part)) for part in self.loc[:-1]) or "the body"


def _shown(text: str) -> str:
    return text if len(text) <= MAX_KEY_SHOWN else text[:MAX_KEY_SHOWN] + "…"


def duplicate_keys(body: bytes) -> list[DuplicateKey]:
    """Every key repeated within one object of a JSON document, in document order.

    ``[]`` when there is none, and also when ``body`` is not JSON the standard
    parser reads (malformed, too deeply nested): the API's parser then
    refuses it with its own words.
    """
    try:
        # JSON over HTTP is UTF-8 (RFC 8259), and the API's parser reads nothing else.
        text = body.decode("utf-8")
        _FAST_PASS.decode(text)
    except _Duplicate:
        pass
    except (ValueError, RecursionError):
        return []
    else:
        return []
    try:
        # The first pass stopped at the duplicate: what follows it may still be malformed.
        return _locate(_SLOW_PASS.decode(text))
    except (ValueError, RecursionError):
        return []


def _locate(document: t.Any) -> list[DuplicateKey]:
    """The duplicates of a document parsed into :class:`_Pairs`, depth first in order."""
    found: list[DuplicateKey] = []
    # An explicit stack: the document may be nested as deep as the parser allowed.
    stack: list[tuple[tuple[str | int, ...], t.Any]] = [((), document)]
    while stack and len(found) < MAX_REPORTED:
        loc, node = stack.pop()
        children: list[tuple[tuple[str | int, ...], t.Any]] = []
        if isinstance(node, _Pairs):
            seen: set[str] = set()
            reported: set[str] = set()
            for key, value in node:
                if key in seen and key not in reported:
                    reported.add(key)
                    found.append(DuplicateKey((*loc, key)))
                seen.add(key)
                children.append(((*loc, key), value))
        elif isinstance(node, list):
            children = [((*loc, i), item) for i, item in enumerate(node)]
        stack.extend(reversed(children))
    return found[:MAX_REPORTED]


def refusal(duplicates: list[DuplicateKey]) -> dict[str, t.Any]:
    """The 400 body for a request with duplicate keys, shaped like the API's field errors."""
    first = duplicates[0]
    return {
        "error": f"duplicate JSON key {first.key!r} in {first.where}: "
        "each key may appear once per object",
        "fields": [
            {
                "field": duplicate.field,
                "loc": [_shown(p) if isinstance(p, str) else p for p in duplicate.loc],
                "type": "duplicate_key",
                "message": "key appears more than once in the same object",
            }
            for duplicate in duplicates
        ],
    }
