"""Strict input on a real server: bytes over a socket, as a client that gets it wrong sends them.

A real `bentoml serve` of the service (the command `triage serve` runs) on a
free loopback port, on the session's models in the BentoML store, with a short
request read timeout (2 s) so that a stalled body is answered 408 long before
the 60 s traffic timeout would answer 504.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from features.record import example_case
from serving.cli import serve_command
from tests.serving.conftest import AUTH, KEY, free_port, wait_until_serving

pytestmark = pytest.mark.slow

READ_TIMEOUT = 2


@dataclass(frozen=True)
class Served:
    url: str
    log: Path


@pytest.fixture(scope="module")
def served(serving_home, models_tag, tmp_path_factory):
    """The service on a free port, and the file its output goes to."""
    home = tmp_path_factory.mktemp("strict-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "MLFLOW_"))}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the server makes its own
    env |= {
        "TRIAGE_HOME": str(home),
        "TRIAGE_API_KEYS": KEY,
        "TRIAGE_MODELS_TAG": models_tag,
        "TRIAGE_REQUEST_READ_TIMEOUT": str(READ_TIMEOUT),
        "BENTOML_HOME": str(serving_home / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "TMPDIR": str(tmp_path_factory.mktemp("strict-tmp")),
    }
    port = free_port()
    log = home / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            serve_command("127.0.0.1", port),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process, log)
        yield Served(url, log)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture
def server(served) -> str:
    return served.url


def post_raw(url: str, path: str, body: bytes) -> httpx.Response:
    headers = {**AUTH, "Content-Type": "application/json"}
    return httpx.post(f"{url}{path}", content=body, headers=headers, timeout=30)


def case_json(**changes: object) -> str:
    return json.dumps(example_case() | changes, ensure_ascii=False)


# --- duplicate keys: 400 naming the key and where it is ---------------------------------


def test_a_case_id_written_twice_is_a_400_naming_it(server):
    body = case_json().replace('"case_id":', '"case_id": "first", "case_id":', 1)
    answer = post_raw(server, "/triage", f'{{"case": {body}}}'.encode())
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith("duplicate JSON key 'case_id' in case")
    assert [f["field"] for f in answer.json()["fields"]] == ["case.case_id"]


def test_a_case_written_twice_is_a_400(server):
    case = case_json()
    answer = post_raw(server, "/triage", f'{{"case": {case}, "case": {case}}}'.encode())
    assert answer.status_code == 400, answer.text
    assert answer.json()["fields"][0]["loc"] == ["case"]


def test_an_amount_written_twice_in_the_fourth_case_of_a_batch_is_a_400_naming_it(server):
    cases = [case_json(case_id=f"c{i}") for i in range(5)]
    cases[3] = cases[3].replace('"claim_amount":', '"claim_amount": 1.0, "claim_amount":', 1)
    answer = post_raw(server, "/triage_batch", f'{{"cases": [{", ".join(cases)}]}}'.encode())
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith("duplicate JSON key 'claim_amount' in cases.3")
    assert answer.json()["fields"][0]["loc"] == ["cases", 3, "claim_amount"]


def test_the_same_body_without_the_duplicate_is_decided(server):
    answer = post_raw(server, "/triage", f'{{"case": {case_json()}}}'.encode())
    assert answer.status_code == 200, answer.text


# --- the record's text rules: 422 naming the field --------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "kind"),
    [
        ({"court_id": "44<305"}, "case.court_id", "court_id_characters"),
        ({"court_id": "44\x00305"}, "case.court_id", "court_id_characters"),
        ({"case_id": "(2024)粤0305执\x07号"}, "case.case_id", "control_character"),
        ({"case_id": "(2024)粤0305执\u202e号"}, "case.case_id", "control_character"),
    ],
)
def test_text_outside_the_records_rule_is_a_422_naming_the_field(server, changes, field, kind):
    # json.dumps writes NUL and BEL as \u0000 and \u0007: what a JSON client sends.
    answer = post_raw(server, "/triage", json.dumps({"case": example_case() | changes}).encode())
    assert answer.status_code == 422, answer.text
    assert [(f["field"], f["type"]) for f in answer.json()["fields"]] == [(field, kind)]
    value = next(iter(changes.values()))
    assert value not in answer.text and json.dumps(value)[1:-1] not in answer.text


# --- a stalled body: 408, connection closed, long before the traffic timeout -----------


def _stall(url: str, head: bytes, first_part: bytes) -> tuple[bytes, bytes]:
    """Send ``head`` and ``first_part`` of a body, then nothing: the answer, and what follows."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as connection:
        # Not an assertion on time: a bound on how long a broken server can hang the test
        # (the traffic timeout, 60 s, would answer 504 well within it).
        connection.settimeout(120)
        connection.sendall(head + first_part)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            assert chunk, f"closed without an answer: {received!r}"
            received += chunk
        answer, _, rest = received.partition(b"\r\n\r\n")
        while chunk := connection.recv(65536):
            rest += chunk  # until the server closes the connection
        return answer, rest


def _head(path: str, *headers: str) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {KEY}",
        "Content-Type: application/json",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize("path", ["/triage", "/triage_batch"])
def test_a_body_that_stops_coming_is_a_408_and_the_connection_is_closed(server, path):
    body = f'{{"case": {case_json()}}}'.encode()
    answer, rest = _stall(server, _head(path, f"Content-Length: {len(body)}"), body[:100])
    status_line, *headers = answer.decode("latin-1").split("\r\n")
    assert status_line.startswith("HTTP/1.1 408"), answer
    assert "connection: close" in [h.lower() for h in headers]
    assert json.loads(rest) == {"error": f"request body not received within {READ_TIMEOUT} seconds"}


def test_a_chunked_body_that_stops_coming_is_a_408(server):
    body = f'{{"case": {case_json()}}}'.encode()
    first_chunk = f"{100:x}\r\n".encode() + body[:100] + b"\r\n"
    answer, _ = _stall(server, _head("/triage", "Transfer-Encoding: chunked"), first_chunk)
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_after_stalled_bodies_the_service_still_decides(server):
    test_a_body_that_stops_coming_is_a_408_and_the_connection_is_closed(server, "/triage")
    answer = post_raw(server, "/triage", f'{{"case": {case_json()}}}'.encode())
    assert answer.status_code == 200, answer.text
    assert httpx.get(f"{server}/readyz", timeout=5).status_code == 200


def test_the_refused_values_reach_no_log(served):
    """Runs last: the refusals above were made, and none of their values is in the log."""
    text = served.log.read_text(encoding="utf-8", errors="replace")
    # The access log has a line per refusal (without its body).
    assert all(f"status={status}" in text for status in (400, 408, 422)), text[-3000:]
    for value in ("44<305", "44\x00305", "执\x07号", "执\u202e号", '"first"'):
        assert value not in text
