"""OpenAICompatible against a real HTTP server on 127.0.0.1 that speaks /v1/chat/completions."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from engagegen.generation import GenerationError, Generator, OpenAICompatible, ServerError, openai_compat

KEY = "sk-test-SECRET-0123456789"

Handler = Callable[[BaseHTTPRequestHandler, dict[str, Any]], None]


def reply(handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


def completions(handler: BaseHTTPRequestHandler, payload: dict[str, Any], choices: int | None = None) -> None:
    """A well-formed answer: choice i of prompt P reads "P #i (seed S)", returned in reverse index order."""
    prompt = payload["messages"][-1]["content"]
    count = payload.get("n", 1) if choices is None else choices
    items = [
        {"index": i, "message": {"role": "assistant", "content": f"  {prompt} #{i} (seed {payload.get('seed')})\n"}}
        for i in range(count)
    ]
    reply(handler, 200, {"object": "chat.completion", "choices": items[::-1]})


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Handler:
    return lambda handler, payload: reply(handler, status, {"error": {"message": message}}, headers)


def stall(seconds: float) -> Handler:
    def handle(handler: BaseHTTPRequestHandler, payload: dict[str, Any]) -> None:
        time.sleep(seconds)  # the client has given up by now; answering it may fail
        with contextlib.suppress(OSError):
            completions(handler, payload)

    return handle


@dataclass
class FakeServer:
    url: str
    script: list[Handler] = field(default_factory=list)  # handlers for the next requests, then plain answers
    requests: list[dict[str, Any]] = field(default_factory=list)
    expected_key: str | None = None


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out closed its socket: nothing to report."""


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer(url="")

    class ChatCompletions(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            auth = self.headers.get("Authorization")
            fake.requests.append({"path": self.path, "auth": auth, "payload": payload})
            if self.path != "/v1/chat/completions":
                error(404, f"no route {self.path}")(self, payload)
            elif fake.expected_key is not None and auth != f"Bearer {fake.expected_key}":
                # Like some real servers, echo the bad key back: the client must not pass it on.
                error(401, f"Incorrect API key provided: {(auth or '').removeprefix('Bearer ')}")(self, payload)
            elif fake.script:
                fake.script.pop(0)(self, payload)
            else:
                completions(self, payload)

    httpd = QuietServer(("127.0.0.1", 0), ChatCompletions)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The backoff waits the client asks for, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(openai_compat, "_sleep", recorded.append)
    return recorded


def test_samples_payload_and_key_header(server, monkeypatch):
    monkeypatch.setenv("ENGAGEGEN_TEST_KEY", KEY)
    client = OpenAICompatible(server.url + "/", "gpt-4o-mini", api_key_env="ENGAGEGEN_TEST_KEY")
    assert isinstance(client, Generator)
    posts = client.generate(["Write about cats.", "Write about dogs."], n=3, max_new_tokens=20, temperature=0.7, seed=5)
    assert posts == [[f"Write about {pet}. #{i} (seed 5)" for i in range(3)] for pet in ("cats", "dogs")]
    first = server.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == f"Bearer {KEY}"
    assert first["payload"] == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Write about cats."}],
        "n": 3,
        "max_tokens": 20,
        "temperature": 0.7,
        "seed": 5,
    }


def test_no_key_is_sent_when_the_variable_is_unset(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert OpenAICompatible(server.url, "llama3").generate(["hi"]) == [["hi #0 (seed None)"]]
    assert server.requests[0]["auth"] is None and "seed" not in server.requests[0]["payload"]


def test_server_returning_fewer_choices_is_asked_again(server):
    server.script = [lambda h, p: completions(h, p, choices=1)] * 3  # like Ollama: one choice whatever n is
    [posts] = OpenAICompatible(server.url, "llama3", api_key_env=None).generate(["hi"], n=3, seed=7)
    assert posts == ["hi #0 (seed 7)", "hi #0 (seed 8)", "hi #0 (seed 9)"]
    assert [r["payload"]["n"] for r in server.requests] == [3, 2, 1]


def test_429_then_success_honours_retry_after(server, waits, caplog):
    server.script = [error(429, "slow down", {"Retry-After": "7"})]
    with caplog.at_level(logging.WARNING, logger="engagegen.generation"):
        posts = OpenAICompatible(server.url, "m", api_key_env=None).generate(["hi"])
    assert posts == [["hi #0 (seed None)"]] and len(server.requests) == 2
    assert waits == [7.0]
    assert "HTTP 429" in caplog.text and "retrying" in caplog.text


def test_500s_then_success_back_off_exponentially(server, waits):
    server.script = [error(500, "boom"), error(503, "overloaded")]
    client = OpenAICompatible(server.url, "m", api_key_env=None, backoff=1.0)
    assert client.generate(["hi"]) == [["hi #0 (seed None)"]]
    assert len(waits) == 2 and 0.5 <= waits[0] <= 1.0 and 1.0 <= waits[1] <= 2.0


def test_persistent_5xx_gives_up_after_max_retries(server, waits):
    server.script = [error(502, "bad gateway")] * 3
    with pytest.raises(ServerError, match=r"failed after 3 attempt\(s\): HTTP 502 \(bad gateway\)"):
        OpenAICompatible(server.url, "m", api_key_env=None, max_retries=2).generate(["hi"])
    assert len(server.requests) == 3 and len(waits) == 2


def test_bad_key_is_a_clear_error_that_never_shows_the_key(server, monkeypatch, caplog):
    server.expected_key = "sk-the-right-one"
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    client = OpenAICompatible(server.url, "gpt-4o")
    with caplog.at_level(logging.DEBUG), pytest.raises(ServerError) as failure:
        client.generate(["hi"])
    message = str(failure.value)
    assert "rejected the API key in $OPENAI_API_KEY (HTTP 401)" in message
    assert len(server.requests) == 1  # not retried
    everything = message + repr(failure.value) + "".join(traceback.format_exception(failure.value)) + caplog.text
    assert KEY not in everything and KEY not in repr(client)


def test_missing_key_is_named_when_the_server_wants_one(server, monkeypatch):
    server.expected_key = "sk-the-right-one"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ServerError, match=r"no API key was sent because \$OPENAI_API_KEY is not set"):
        OpenAICompatible(server.url, "gpt-4o").generate(["hi"])


def test_other_client_errors_fail_at_once_with_the_server_message(server, waits):
    server.script = [error(400, "max_tokens is too large")]
    with pytest.raises(ServerError, match="HTTP 400: max_tokens is too large"):
        OpenAICompatible(server.url, "m", api_key_env=None).generate(["hi"])
    assert waits == [] and len(server.requests) == 1
    with pytest.raises(ServerError, match="HTTP 404: no route /v2/chat/completions"):
        OpenAICompatible(server.url.replace("/v1", "/v2"), "m", api_key_env=None).generate(["hi"])


def test_echoed_key_is_blanked_in_server_messages(server, monkeypatch, waits):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.script = [error(400, f"bad request from key {KEY}")]
    with pytest.raises(ServerError) as failure:
        OpenAICompatible(server.url, "m").generate(["hi"])
    assert KEY not in str(failure.value) and "***" in str(failure.value)


def test_timeout_then_success(server, waits, caplog):
    server.script = [stall(1.0)]
    with caplog.at_level(logging.WARNING, logger="engagegen.generation"):
        posts = OpenAICompatible(server.url, "m", api_key_env=None, timeout=0.2).generate(["hi"])
    assert posts == [["hi #0 (seed None)"]] and len(waits) == 1
    assert "timed out after 0.2 s" in caplog.text


def test_timeouts_every_time_is_a_clear_error(server, waits):
    server.script = [stall(1.0), stall(1.0)]
    with pytest.raises(ServerError, match=r"failed after 2 attempt\(s\): timed out after 0.2 s"):
        OpenAICompatible(server.url, "m", api_key_env=None, timeout=0.2, max_retries=1).generate(["hi"])


def test_refused_connection_is_retried_then_reported(waits):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ServerError, match=r"failed after 3 attempt\(s\): connection failed"):
        OpenAICompatible(f"http://127.0.0.1:{port}/v1", "m", api_key_env=None, max_retries=2).generate(["hi"])
    assert len(waits) == 2


def test_malformed_answers_are_server_errors(server):
    server.script = [
        lambda h, p: reply(h, 200, {"choices": []}),
        lambda h, p: reply(h, 200, {"choices": [{"index": 0}]}),
    ]
    client = OpenAICompatible(server.url, "m", api_key_env=None)
    with pytest.raises(ServerError, match="without any choices"):
        client.generate(["hi"])
    with pytest.raises(ServerError, match="has no message"):
        client.generate(["hi"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_url": "localhost:8000/v1"}, "not an http"),
        ({"base_url": "https://user:pw@api.example.com/v1"}, "must not hold credentials"),
        ({"model": " "}, "model must be"),
        ({"timeout": 0}, "timeout must be a positive"),
        ({"max_retries": -1}, "max_retries must be"),
        ({"api_key_env": ""}, "api_key_env must name"),
    ],
)
def test_bad_configuration(kwargs, message):
    with pytest.raises(GenerationError, match=message):
        OpenAICompatible(**{"base_url": "http://127.0.0.1:9/v1", "model": "m", **kwargs})
