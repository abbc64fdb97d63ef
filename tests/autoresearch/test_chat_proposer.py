"""The chat-model proposer against a real chat completions server on 127.0.0.1: whatever the
server or the model does, the loop gets a proposal or a refusal with a short reason that never
holds the API key."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from magnet_market.autoresearch import (
    Autoresearch,
    ConfigurationError,
    Ledger,
    ProposalRejectedError,
    Record,
)
from magnet_market.autoresearch.chat import API_KEY_ENV, ChatProposer, ChatTarget, chat_target

from .test_proposers import _ctx

KEY = "sk-SECRET-0123456789abcdef"
GOOD = {"changes": {"optim.lr": 0.005}, "description": "a lower lr"}


@dataclass
class Reply:
    """What the server answers to one request."""

    body: bytes = b""
    status: int = 200
    hold: bool = False  # answer only once the test releases the server
    length: bool = True  # send a Content-Length (else the body runs to the connection's close)


def completion(content: str | None, **message: Any) -> Reply:
    """A chat completion whose first choice's message holds ``content`` (and ``message``)."""
    choice = {"index": 0, "message": {"role": "assistant", "content": content, **message}}
    return Reply(json.dumps({"object": "chat.completion", "choices": [choice]}).encode())


@dataclass
class Server:
    """A scripted chat completions server: the i-th request gets ``replies[i]``."""

    address: str  # 127.0.0.1:port
    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def proposer(self, suffix: str = "#qwen2.5:7b", **kwargs: Any) -> ChatProposer:
        return ChatProposer(f"chat:http://{self.address}/v1{suffix}", **kwargs)


@pytest.fixture(autouse=True)
def _no_proxy_no_key(monkeypatch) -> None:
    """Requests go straight to 127.0.0.1, with a key only where a test sets one."""
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(API_KEY_ENV, raising=False)


@pytest.fixture
def server() -> Iterator[Server]:
    state: Server

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": json.loads(raw)}
            )
            reply = state.replies[len(state.requests) - 1]
            if reply.hold:
                state.release.wait(timeout=30)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                if reply.length:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:  # the client gave up (its timeout) and closed the connection
                pass

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the tests read the requests from ``state``."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = Server(address=f"127.0.0.1:{httpd.server_port}")
    # a short poll: shutdown() waits for the next one
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def refusal(proposer: ChatProposer) -> str:
    """The reason ``proposer`` gives for refusing to propose (checked short: it is logged)."""
    with pytest.raises(ProposalRejectedError) as refused:
        proposer.propose(_ctx("lr"))
    reason = str(refused.value)
    assert len(reason) < 400
    return reason


def test_a_good_reply_is_a_proposal_from_a_request_holding_the_phase_and_best(
    server, monkeypatch
) -> None:
    monkeypatch.setenv(API_KEY_ENV, KEY)
    server.replies = [completion(json.dumps(GOOD))]
    proposal = server.proposer().propose(_ctx("lr"))
    assert proposal is not None
    assert proposal.changes == {"optim.lr": 0.005}
    assert proposal.description == "optim.lr=0.005 (a lower lr)"

    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    body = request["body"]
    assert KEY not in json.dumps(body)
    assert body["model"] == "qwen2.5:7b"
    assert body["response_format"] == {"type": "json_object"}
    assert body["temperature"] == 0.2
    system, user = body["messages"]
    assert system["role"] == "system" and '"changes"' in system["content"]
    facts = json.loads(user["content"])
    assert facts["phase"] == "lr" and facts["direction"] == "maximize"
    assert facts["knobs"] == {"optim.lr": {"kind": "float", "low": 1e-3, "high": 1e-2, "log": True}}
    assert facts["best"]["id"] == 0 and facts["best"]["metric"] == 0.95
    assert facts["best"]["config"]["optim.lr"] == 0.003
    assert [r["status"] for r in facts["history"]] == ["keep"]
    assert set(facts["history"][0]) == {"id", "phase", "status", "metric", "changes", "description"}


def test_without_a_key_or_model_neither_is_sent_and_a_full_endpoint_is_used_as_is(
    server,
) -> None:
    server.replies = [completion(json.dumps(GOOD))]
    proposer = server.proposer("/chat/completions")
    assert proposer.propose(_ctx("lr")).changes == {"optim.lr": 0.005}
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert "Authorization" not in request["headers"]
    assert "model" not in request["body"]


def test_the_history_in_a_request_is_the_most_recent_sixty(server) -> None:
    ctx = _ctx("lr")
    history = [
        Record(
            id=i,
            parent=0,
            phase="lr",
            status="discard",
            description=f"experiment {i} " + "x" * 1000,
            config=ctx.best.config,
            metric=0.9,
        )
        for i in range(1, 101)
    ]
    server.replies = [completion(json.dumps(GOOD))]
    server.proposer().propose(dataclasses.replace(ctx, history=[ctx.best, *history]))
    facts = json.loads(server.requests[0]["body"]["messages"][1]["content"])
    assert [r["id"] for r in facts["history"]] == list(range(41, 101))
    assert facts["older_experiments_not_shown"] == 41
    assert max(len(r["description"]) for r in facts["history"]) == 200


@pytest.mark.parametrize(
    "content",
    [
        'Sure! Here is my proposal:\n```json\n{"changes": {"optim.lr": 0.005}}\n```\nGood luck.',
        '```\n{"changes": {"optim.lr": 0.005}}\n```',
        'I would set {lr} lower: {"changes": {"optim.lr": 0.005}} and see. {not json}',
        '<think>maybe {"changes": {"optim.lr": 0.009}}?</think>{"changes": {"optim.lr": 0.005}}',
        '  {"changes": {"optim.lr": 0.005}}\n',
    ],
    ids=["fenced-with-prose", "bare-fence", "braces-in-prose", "think-block", "plain"],
)
def test_the_json_object_is_found_inside_fences_and_prose(server, content) -> None:
    server.replies = [completion(content)]
    assert server.proposer().propose(_ctx("lr")).changes == {"optim.lr": 0.005}


def test_a_model_refusal_is_a_refused_proposal(server) -> None:
    server.replies = [
        completion(None, refusal="I can't help with tuning this model."),
        completion("I'm sorry, I cannot suggest a change."),
    ]
    assert refusal(server.proposer()) == (
        "chat model refused: I can't help with tuning this model."
    )
    assert refusal(server.proposer()) == (
        "chat model reply holds no JSON object: I'm sorry, I cannot suggest a change."
    )


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(b"<html>Bad gateway</html>"), "chat server reply is not JSON: <html>Bad gateway"),
        (Reply(b'{"object": "error"}'), 'chat server reply has no "choices": {"object"'),
        (Reply(b'{"choices": []}'), 'chat server reply has no "choices"'),
        (Reply(b'{"choices": [{"index": 0}]}'), 'has no "message" in its first choice'),
        (
            Reply(b'{"choices": [{"message": {"content": ""}, "finish_reason": "length"}]}'),
            'has no message "content" (finish_reason length)',
        ),
        (completion('{"changes": {"optim.lr": 0.005,}}'), "proposer reply is not JSON"),
        (completion('{"description": "lower"}'), 'proposer reply needs a "changes" object'),
        (
            completion('{"changes": {"model.hidden": 64}}'),
            "phase 'lr' sweeps only ['optim.lr'], not 'model.hidden'",
        ),
        (completion('{"changes": {"optim.lr": 0.5}}'), "0.5 is outside [0.001, 0.01]"),
        (completion('{"changes": {"optim.lr": 0.003}}'), "is the current best"),
    ],
    ids=[
        "body-not-json",
        "no-choices",
        "empty-choices",
        "no-message",
        "no-content",
        "content-not-json",
        "no-changes",
        "other-phase",
        "out-of-range",
        "current-best",
    ],
)
def test_a_malformed_reply_is_refused_with_a_specific_reason(server, reply, reason) -> None:
    server.replies = [reply]
    assert reason in refusal(server.proposer())


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (
            500,
            json.dumps({"error": {"message": f"bad header Authorization: Bearer {KEY}"}}),
            "answered HTTP 500: bad header Authorization: Bearer ***",
        ),
        (401, "x" * 190 + f" {KEY} " + "y" * 100, "answered HTTP 401: xxx"),
        (
            404,
            json.dumps({"error": 'model "qwen2.5:7b" not found, try pulling it first'}),
            'answered HTTP 404: model "qwen2.5:7b" not found, try pulling it first',
        ),
    ],
    ids=["echoed-key", "key-at-the-cut", "ollama-error"],
)
def test_an_http_error_names_its_status_and_never_the_key(
    server, monkeypatch, status, body, reason
) -> None:
    monkeypatch.setenv(API_KEY_ENV, KEY)
    server.replies = [Reply(body.encode(), status=status)]
    said = refusal(server.proposer())
    assert reason in said
    assert "SECRET" not in said and "sk-" not in said


def test_a_silent_server_is_refused_at_the_timeout(server) -> None:
    server.replies = [Reply(completion(json.dumps(GOOD)).body, hold=True)]
    assert refusal(server.proposer(timeout=0.5)) == (
        f"chat server {server.address} gave no reply within 0.5 s"
    )


def test_a_closed_port_is_refused_naming_the_host_and_port(monkeypatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, KEY)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    said = refusal(ChatProposer(f"chat:http://127.0.0.1:{port}/v1#m"))
    assert said.startswith(f"cannot reach chat server 127.0.0.1:{port}: ")
    assert "refused" in said.lower()
    assert "SECRET" not in said


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
def test_an_oversized_reply_is_refused(server, declared) -> None:
    server.replies = [Reply(b" " * (2 << 20) + completion("{}").body, length=declared)]
    assert refusal(server.proposer()) == (
        f"chat server {server.address} sent a reply over 1048576 bytes (HTTP 200); "
        "a proposal is a few knobs"
    )


OLLAMA = "http://127.0.0.1:11434/v1/chat/completions"


@pytest.mark.parametrize(
    ("proposer", "url", "model", "server"),
    [
        ("chat:http://127.0.0.1:11434/v1#qwen2.5:7b", OLLAMA, "qwen2.5:7b", "127.0.0.1:11434"),
        ("chat:http://127.0.0.1:11434/v1/", OLLAMA, None, "127.0.0.1:11434"),
        ("chat:http://127.0.0.1:11434/v1/chat/completions", OLLAMA, None, "127.0.0.1:11434"),
        (
            "chat: https://api.example.com/v1#hf.co/org/m:Q4 ",
            "https://api.example.com/v1/chat/completions",
            "hf.co/org/m:Q4",
            "api.example.com:443",
        ),
        ("chat:http://[::1]:8080", "http://[::1]:8080/chat/completions", None, "[::1]:8080"),
        (
            "chat:http://127.0.0.1:8000/v1?api-version=1#m",
            "http://127.0.0.1:8000/v1/chat/completions?api-version=1",
            "m",
            "127.0.0.1:8000",
        ),
    ],
)
def test_chat_target_is_the_endpoint_and_the_model(proposer, url, model, server) -> None:
    assert chat_target(proposer) == ChatTarget(url=url, model=model)
    assert chat_target(proposer).server == server


@pytest.mark.parametrize(
    ("proposer", "reason"),
    [
        ("tpe", "'tpe' is not a chat proposer"),
        ("chat:", "the chat proposer names no URL"),
        ("chat:#qwen", "the chat proposer names no URL"),
        ("chat:http://127.0.0.1:11434/v1#", "names no model after '#'"),
        ("chat:ftp://127.0.0.1/v1", "must be http or https, got ftp scheme"),
        ("chat:127.0.0.1:11434/v1", "must be http or https"),
        ("chat:http:///v1", "the chat proposer URL names no host"),
        ("chat:http://user:sk-x@127.0.0.1/v1", f"put the API key in {API_KEY_ENV}"),
    ],
)
def test_an_unusable_chat_proposer_is_a_configuration_error(proposer, reason) -> None:
    with pytest.raises(ConfigurationError) as error:
        chat_target(proposer)
    assert reason in str(error.value)
    assert "sk-x" not in str(error.value)


def test_an_unusable_api_key_is_a_configuration_error_that_does_not_quote_it(
    monkeypatch,
) -> None:
    monkeypatch.setenv(API_KEY_ENV, "sk-SECRET with space")
    with pytest.raises(ConfigurationError) as error:
        ChatProposer("chat:http://127.0.0.1:11434/v1#m")
    assert str(error.value) == f"{API_KEY_ENV} must be printable ASCII without spaces"


def test_it_never_prunes_and_finish_is_a_no_op(server) -> None:
    server.replies = [completion(json.dumps(GOOD))]
    proposer = server.proposer()
    proposal = proposer.propose(_ctx("lr"))
    assert proposer.should_prune(proposal, 1, 0.0) is False
    proposer.finish(proposal, "complete", 0.9)
    assert len(server.requests) == 1


def test_a_loop_with_a_chat_proposer_runs_what_the_model_proposes_and_logs_its_refusals(
    server, tmp_path, tiny_space, tiny_settings
) -> None:
    """``--proposer chat:URL#MODEL`` end to end: one experiment the model proposed, one it
    refused, both in the ledger."""
    server.replies = [
        completion(json.dumps({"changes": {"optim.lr": 0.02}, "description": "try higher"})),
        completion(None, refusal="I cannot help with that"),
        completion(json.dumps({"changes": {"model.hidden": 64}, "description": "wider"})),
        completion(json.dumps({"changes": {"model.hidden": 128}, "description": "wider yet"})),
    ]
    settings = dataclasses.replace(tiny_settings, proposer=f"chat:http://{server.address}/v1#m")
    Autoresearch(settings, tmp_path, space=tiny_space).run()
    rows = Ledger(tmp_path).records()
    assert [r.phase for r in rows] == ["baseline", "lr", "lr", "width", "width"]
    assert rows[1].changes == {"optim.lr": 0.02} and rows[1].description.startswith(
        "optim.lr=0.02 (try higher)"
    )
    assert rows[2].status == "crash" and "I cannot help with that" in rows[2].description
    assert [r["body"]["model"] for r in server.requests] == ["m"] * 4
