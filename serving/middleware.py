"""The service's own ASGI middlewares: keys, request shape, readiness, field-level errors.

Pure ASGI (no ``BaseHTTPMiddleware``): cheap per request and streaming-safe.
BentoML runs them inside its own metrics, tracing, access-log, timeout and
concurrency middlewares, so refused requests are still counted and logged
(without bodies).  They share one :class:`Gate` with the service instance,
which tells them whether the models are ready and which keys are valid.
"""

from __future__ import annotations

import asyncio
import json
import typing as t
from dataclasses import dataclass

import anyio.to_thread

from serving.json_keys import duplicate_keys, refusal
from serving.keys import KeyChecker

Scope = t.MutableMapping[str, t.Any]
Message = t.MutableMapping[str, t.Any]
Receive = t.Callable[[], t.Awaitable[Message]]
Send = t.Callable[[Message], t.Awaitable[None]]
ASGIApp = t.Callable[[Scope, Receive, Send], t.Awaitable[None]]

JSON_TYPE = "application/json"


@dataclass
class Gate:
    """What the middlewares need to know of the service, set by the service instance."""

    ready: bool = False
    reason: str = "loading the models"
    keys: KeyChecker | None = None
    max_body_bytes: int = 64 << 20
    #: Seconds a client has to send the whole body of a scoring request (408 after).
    body_timeout_s: float = 10.0

    #: Why the decision log cannot be written now (None while it can).  /readyz says 503
    #: meanwhile; the scoring routes stay open (each write is bounded by its budget).
    log_problem: str | None = None

    def not_ready(self, reason: str) -> None:
        self.ready, self.reason = False, reason

    def set_ready(self) -> None:
        self.ready, self.reason = True, "ready"

    def unready_reason(self) -> str | None:
        """Why a load balancer should send no traffic here now, or None (``/readyz`` 200)."""
        return self.reason if not self.ready else self.log_problem


async def send_json(
    send: Send, status: int, body: dict[str, t.Any], headers: t.Iterable[tuple[bytes, bytes]] = ()
) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", JSON_TYPE.encode()),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


class AuthMiddleware:
    """401 unless ``Authorization: Bearer <key>`` carries a known key; open paths excepted.

    Everything is closed by default (unknown paths too): only health, metrics
    and the API documentation are open.
    """

    def __init__(
        self,
        app: ASGIApp,
        gate: Gate,
        open_paths: t.Iterable[str],
        open_prefixes: t.Iterable[str] = (),
    ) -> None:
        self.app = app
        self.gate = gate
        self.open_paths = frozenset(open_paths)
        self.open_prefixes = tuple(open_prefixes)

    def _is_open(self, path: str) -> bool:
        return path in self.open_paths or path.startswith(self.open_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_open(scope["path"]):
            return await self.app(scope, receive, send)
        value = (_header(scope, b"authorization") or b"").decode("latin-1")
        scheme, _, presented = value.partition(" ")
        keys = self.gate.keys
        if scheme.lower() != "bearer" or keys is None or not keys.check(presented.strip()):
            return await send_json(
                send,
                401,
                {"error": "unauthorized: send `Authorization: Bearer <key>` with a valid key"},
                [(b"www-authenticate", b'Bearer realm="triage"')],
            )
        return await self.app(scope, receive, send)


class RequestGuardMiddleware:
    """On the scoring routes: 503 until ready, 415 unless JSON, 413 above the size limit,
    408 when the body does not arrive in time, 400 for a key written twice.

    Only ``application/json`` is read: BentoML would otherwise pick a
    deserialiser from the Content-Type (multipart forms, and pickle on
    non-entry services).  A declared Content-Length above the limit is refused
    at once; otherwise the whole body is read here (up to the limit, within
    :attr:`Gate.body_timeout_s`), checked for duplicate keys and replayed to
    the app.  ``/readyz`` answers 503 with the reason while the models are not
    ready or the decision log cannot be written.
    """

    def __init__(
        self,
        app: ASGIApp,
        gate: Gate,
        api_paths: t.Iterable[str],
        gated_paths: t.Iterable[str] = (),
        readyz_path: str = "/readyz",
    ) -> None:
        self.app = app
        self.gate = gate
        self.api_paths = frozenset(api_paths)
        self.gated_paths = frozenset(gated_paths) | self.api_paths
        self.readyz_path = readyz_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path == self.readyz_path and (unready := self.gate.unready_reason()) is not None:
            return await send_json(send, 503, {"ready": False, "reason": unready})
        if path not in self.gated_paths:
            return await self.app(scope, receive, send)
        if not self.gate.ready:
            return await send_json(
                send,
                503,
                {"error": f"not ready: {self.gate.reason}"},
                [(b"retry-after", b"5")],
            )
        if path not in self.api_paths or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        content_type = (_header(scope, b"content-type") or b"").decode("latin-1")
        if content_type.split(";")[0].strip().lower() != JSON_TYPE:
            return await send_json(
                send, 415, {"error": "unsupported media type: send Content-Type: application/json"}
            )
        limit = self.gate.max_body_bytes
        too_large = {"error": f"request body larger than {limit} bytes"}
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return await send_json(send, 400, {"error": "malformed Content-Length"})
            if declared > limit:
                return await send_json(send, 413, too_large)
        # The body is read here, whole, then replayed: raising from a wrapped receive
        # would not work (BentoML turns it into a 500).
        timeout = self.gate.body_timeout_s
        try:
            # asyncio's own timeout (the server's loop is asyncio): a third of the cost
            # of anyio.fail_after's cancel scope, on every request.
            async with asyncio.timeout(timeout):
                body = await _read_body(receive, limit)
        except _TooLarge:
            return await send_json(send, 413, too_large)
        except TimeoutError:
            # The client's fault, answered before BentoML's traffic timeout (a 504) would
            # be; the connection is closed since the rest of the body may still come.
            return await send_json(
                send,
                408,
                {"error": f"request body not received within {timeout:g} seconds"},
                [(b"connection", b"close")],
            )
        if body is None:  # the client went away
            return
        if len(body) > _INLINE_CHECK_BYTES:
            # A 10,000-case batch takes ~0.2 s to scan: off the event loop.
            duplicates = await anyio.to_thread.run_sync(duplicate_keys, body)
        else:
            duplicates = duplicate_keys(body)
        if duplicates:
            return await send_json(send, 400, refusal(duplicates))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


#: Bodies up to this size are checked for duplicate keys on the event loop (~30 µs
#: for one case); larger ones in a worker thread.
_INLINE_CHECK_BYTES = 256 << 10


class _TooLarge(Exception):
    """The body went over the size limit while it was read."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body; None if the client disconnected; :class:`_TooLarge` above ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def field_errors(
    detail: list[dict[str, t.Any]], body: bytes | None = None
) -> tuple[int, dict[str, t.Any]]:
    """Status and body for pydantic's error list: which field, what was wrong.

    Malformed JSON is a 400; anything else (types, codes, ranges, missing or
    unknown fields, personal data, cross-field rules) is a 422.  With the
    request ``body``, an error about ``cases.N`` also names that case's
    ``case_id`` (a case number, not personal data), so the desk finds the case.
    """
    from serving.schemas import describe_errors

    fields = describe_errors(detail)
    if body is not None:
        _name_cases(fields, body)
    if fields and all(f["type"] == "json_invalid" for f in fields):
        return 400, {"error": "malformed JSON", "fields": fields}
    n = len(fields)
    return 422, {"error": f"{n} invalid field{'s' if n != 1 else ''}", "fields": fields}


def _name_cases(fields: list[dict[str, t.Any]], body: bytes) -> None:
    """Add ``case_id`` to each field error of ``cases.N`` whose case carries a text one."""
    if not any(f["loc"][:1] == ["cases"] for f in fields):
        return
    try:
        cases = json.loads(body).get("cases")
    except (ValueError, AttributeError):
        return
    if not isinstance(cases, list):
        return
    for found in fields:
        loc = found["loc"]
        if len(loc) < 2 or loc[0] != "cases" or not isinstance(loc[1], int):
            continue
        case = cases[loc[1]] if 0 <= loc[1] < len(cases) else None
        case_id = case.get("case_id") if isinstance(case, dict) else None
        # Only a case number that could be valid: the value goes back to the client as is.
        if isinstance(case_id, str) and 0 < len(case_id) <= 100 and case_id.isprintable():
            found["case_id"] = case_id


class FieldErrorsMiddleware:
    """Turns BentoML's validation 400 into 422 with one entry per field.

    BentoML answers a pydantic ``ValidationError`` with 400
    ``{"error": "...", "detail": [errors without input values]}``; only those
    small bodies of the scoring routes are buffered and rewritten.  On
    ``named_paths`` the request body is kept meanwhile, so that an error
    about a case names its ``case_id`` (the body is read again only then).
    """

    def __init__(
        self, app: ASGIApp, api_paths: t.Iterable[str], named_paths: t.Iterable[str] = ()
    ) -> None:
        self.app = app
        self.api_paths = frozenset(api_paths)
        self.named_paths = frozenset(named_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.api_paths:
            return await self.app(scope, receive, send)
        held: Message | None = None
        chunks: list[bytes] = []
        received: list[bytes] | None = None
        if scope["path"] in self.named_paths:
            received = []
            upstream = receive

            async def receive() -> Message:
                message = await upstream()
                if message["type"] == "http.request":
                    received.append(message.get("body", b""))
                return message

        async def rewriting_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and message["status"] == 400:
                held = message
                return
            if held is None:
                return await send(message)
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            status = 400
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if isinstance(data, dict) and isinstance(data.get("detail"), list):
                request = None if received is None else b"".join(received)
                status, rewritten = field_errors(data["detail"], request)
                body = json.dumps(rewritten, ensure_ascii=False).encode("utf-8")
            headers = [(k, v) for k, v in held["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**held, "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, rewriting_send)
