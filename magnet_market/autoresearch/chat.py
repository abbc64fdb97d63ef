"""A chat model as the proposer: ``chat:URL[#MODEL]``.

Ollama, llama.cpp's server and vLLM all serve the OpenAI chat completions protocol, so one small
client lets a local (or hosted) model pick each change without an agent program around it. The
model gets the same facts a command proposer gets (phase knobs, best, history) and its reply is
decoded by the same rules (``proposers._decode_reply``) and checked against the search space.

Every failure (server unreachable or silent, an HTTP error, a reply that is not a proposal) is a
:class:`ProposalRejectedError`: the loop records it as a refused proposal and the model sees the
reason in the next request's history. The API key comes from ``MAGNET_CHAT_API_KEY`` only, never
from the proposer string (which ``run.json`` keeps), and is scrubbed from every text a reason
quotes, since reasons go to the ledger, the log and the dashboard.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

import httpx

from magnet_market.autoresearch.errors import ConfigurationError, ProposalRejectedError
from magnet_market.autoresearch.proposers import (
    Ending,
    Proposal,
    ProposalContext,
    proposal_facts,
    proposal_from_reply,
)

PREFIX = "chat:"
API_KEY_ENV = "MAGNET_CHAT_API_KEY"
_ENDPOINT = "/chat/completions"
_MAX_RESPONSE_BYTES = 1 << 20  # the whole HTTP reply: a proposal is a few knobs
_HISTORY = 60  # most recent experiments in a request, so the prompt stays bounded
_HISTORY_NOTE = 200  # characters of each experiment's description in a request
_SNIPPET = 200  # characters of a server's text quoted in a reason
_MAX_STARTS = 100  # opening braces tried when a JSON object hides in prose
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)  # reasoning models' scratchpad

_SYSTEM = (
    "You tune a machine-learning experiment by proposing ONE change at a time to the current "
    "best configuration. Change only knobs of the current phase, each to a value of the knob's "
    "type inside its declared range (low..high, explored on a log scale when log is true) or "
    "exactly one of its choices; do not propose the current best again. Learn from the "
    'history: "keep" rows improved the metric, "discard" rows did not, "crash" rows failed or '
    "were refused (the description says why). Reply with a JSON object "
    '{"changes": {"<knob>": <value>}, "description": "<one-line rationale>"} and nothing else.'
)


@dataclass(frozen=True)
class ChatTarget:
    """Where a chat proposer posts: the chat completions endpoint and the model (None: the
    server's own; llama.cpp ignores the field and vLLM then serves its first model, but Ollama
    needs one)."""

    url: str
    model: str | None

    @property
    def server(self) -> str:
        """``host:port`` of the endpoint: what reasons name (never the full URL)."""
        url = httpx.URL(self.url)
        host = f"[{url.host}]" if ":" in url.host else url.host
        return f"{host}:{url.port or (443 if url.scheme == 'https' else 80)}"


def chat_target(proposer: str) -> ChatTarget:
    """The endpoint and model of ``chat:URL[#MODEL]``; URL is the API base (``.../v1``) or the
    full ``.../chat/completions`` endpoint. A :class:`ConfigurationError` if it cannot be used."""
    usage = f"write {PREFIX}http://127.0.0.1:11434/v1#MODEL"
    if not proposer.startswith(PREFIX):
        raise ConfigurationError(f"proposer {proposer!r} is not a chat proposer; {usage}")
    base, hash_sign, model = proposer.removeprefix(PREFIX).strip().partition("#")
    if not base:
        raise ConfigurationError(f"the chat proposer names no URL; {usage}")
    if hash_sign and not model.strip():
        raise ConfigurationError(f"the chat proposer names no model after '#'; {usage}")
    try:
        url = httpx.URL(base)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(f"the chat proposer URL is invalid ({exc}); {usage}") from None
    if url.scheme not in ("http", "https"):
        raise ConfigurationError(
            f"the chat proposer URL must be http or https, got {url.scheme or 'no'} scheme; {usage}"
        )
    if not url.host:
        raise ConfigurationError(f"the chat proposer URL names no host; {usage}")
    if url.userinfo:  # the proposer string is kept in run.json
        raise ConfigurationError(
            f"the chat proposer URL must not hold credentials; put the API key in {API_KEY_ENV}"
        )
    path = url.path.rstrip("/")
    if not path.endswith(_ENDPOINT):
        path += _ENDPOINT
    return ChatTarget(url=str(url.copy_with(path=path)), model=model.strip() or None)


class ChatProposer:
    """Asks an OpenAI-compatible chat completions server for each change.

    Args:
        proposer: ``chat:URL[#MODEL]`` (see :func:`chat_target`).
        timeout: seconds the server may take to connect, and may stay silent while it answers.
    """

    def __init__(self, proposer: str, *, timeout: float = 120.0) -> None:
        self.target = chat_target(proposer)
        self.timeout = timeout
        key = os.environ.get(API_KEY_ENV, "").strip()
        if key and not (key.isascii() and key.isprintable() and " " not in key):
            raise ConfigurationError(f"{API_KEY_ENV} must be printable ASCII without spaces")
        self._key = key or None

    def request(self, ctx: ProposalContext) -> dict[str, Any]:
        """The chat completions request body (the key goes in a header, never here)."""
        recent = ctx.history[-_HISTORY:]
        facts: dict[str, Any] = {
            **proposal_facts(ctx),
            "history": [
                {
                    "id": r.id,
                    "phase": r.phase,
                    "status": r.status,
                    "metric": r.metric,
                    "changes": r.changes,
                    "description": r.description[:_HISTORY_NOTE],
                }
                for r in recent
            ],
        }
        if len(ctx.history) > len(recent):
            facts["older_experiments_not_shown"] = len(ctx.history) - len(recent)
        body: dict[str, Any] = {
            "messages": [
                {"role": "system", "content": _SYSTEM},
                {"role": "user", "content": json.dumps(facts, separators=(",", ":"))},
            ],
            "temperature": 0.2,
            "response_format": {"type": "json_object"},
            "stream": False,
        }
        if self.target.model is not None:
            body["model"] = self.target.model
        return body

    def propose(self, ctx: ProposalContext) -> Proposal | None:
        content = self._content(self._post(self.request(ctx)))
        found = _json_text(content)
        if found is None:
            raise ProposalRejectedError(
                f"chat model reply holds no JSON object: {self._quote(content)}"
            )
        return proposal_from_reply(found.encode(), ctx)

    def should_prune(self, proposal: Proposal, k: int, value: float) -> bool:
        return False

    def finish(self, proposal: Proposal, ending: Ending, value: float | None) -> None:
        """The model sees every outcome in the history of its next request."""

    def _post(self, body: dict[str, Any]) -> bytes:
        """The server's reply to ``body`` (a refusal if it cannot be had)."""
        server = self.target.server
        # identity: the size cap counts what the server sends, not what a gzip bomb inflates to
        headers = {"Accept-Encoding": "identity"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        try:
            with (
                httpx.Client(timeout=self.timeout) as client,
                client.stream("POST", self.target.url, json=body, headers=headers) as response,
            ):
                data, status = self._read(response), response.status_code
        except httpx.TimeoutException:
            raise ProposalRejectedError(
                f"chat server {server} gave no reply within {self.timeout:g} s"
            ) from None
        except httpx.ConnectError as exc:
            raise ProposalRejectedError(
                f"cannot reach chat server {server}: {self._quote(str(exc))}"
            ) from None
        except httpx.HTTPError as exc:
            raise ProposalRejectedError(
                f"chat server {server} failed: {type(exc).__name__}: {self._quote(str(exc))}"
            ) from None
        if not 200 <= status < 300:
            raise ProposalRejectedError(
                f"chat server {server} answered HTTP {status}: {self._quote(_error_message(data))}"
            )
        return data

    def _read(self, response: httpx.Response) -> bytes:
        """The body, refused past :data:`_MAX_RESPONSE_BYTES` (declared or sent)."""
        too_long = ProposalRejectedError(
            f"chat server {self.target.server} sent a reply over {_MAX_RESPONSE_BYTES} bytes "
            f"(HTTP {response.status_code}); a proposal is a few knobs"
        )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > _MAX_RESPONSE_BYTES:
            raise too_long
        data = bytearray()
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) > _MAX_RESPONSE_BYTES:
                raise too_long
        return bytes(data)

    def _content(self, data: bytes) -> str:
        """``choices[0].message.content`` of a chat completion (a refusal if there is none)."""
        try:
            reply = json.loads(data)
        except (ValueError, RecursionError):  # not UTF-8 or not JSON, too deep
            raise ProposalRejectedError(
                f"chat server reply is not JSON: {self._quote(data.decode(errors='replace'))}"
            ) from None
        choices = reply.get("choices") if isinstance(reply, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ProposalRejectedError(
                f'chat server reply has no "choices": {self._quote(data.decode(errors="replace"))}'
            )
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise ProposalRejectedError('chat server reply has no "message" in its first choice')
        if message.get("refusal"):
            raise ProposalRejectedError(
                f"chat model refused: {self._quote(str(message['refusal']))}"
            )
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            why = choices[0].get("finish_reason")
            raise ProposalRejectedError(
                'chat server reply has no message "content"'
                + (f" (finish_reason {self._quote(str(why))})" if why else "")
            )
        return content

    def _quote(self, text: str) -> str:
        """``text`` fit for a reason: the key scrubbed (before the cut, so no part of it is
        left at the end), on one line, at most :data:`_SNIPPET` characters."""
        if self._key:
            for form in (self._key, json.dumps(self._key)[1:-1]):
                text = text.replace(form, "***")
        text = " ".join(text.split())
        return text if len(text) <= _SNIPPET else text[: _SNIPPET - 3] + "..."


def _error_message(data: bytes) -> str:
    """The message of an error reply: ``{"error": {"message": ...}}`` (OpenAI, vLLM,
    llama.cpp), ``{"error": "..."}`` (Ollama), else the body as text."""
    text = data.decode(errors="replace")
    try:
        error = json.loads(text).get("error")
    except (ValueError, RecursionError, AttributeError):  # not JSON, too deep, not an object
        return text
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return str(error) if error else text


def _json_text(content: str) -> str | None:
    """The JSON object in a model's reply, which may wrap it in fences, prose or a ``<think>``
    block: the first candidate (fenced blocks, then the whole reply, each from its first ``{``
    to its last ``}``) that decodes as an object, else the first object with ``"changes"``
    starting at some ``{`` (prose with braces of its own around the object). When none is
    found, the outermost braces, for :func:`_decode_reply` to say what is wrong with them;
    None if there are no braces at all."""
    text = _THINK.sub("", content)
    outermost = None
    for candidate in [*_FENCE.findall(text), text]:
        start, end = candidate.find("{"), candidate.rfind("}")
        if 0 <= start < end:
            span = candidate[start : end + 1]
            outermost = outermost or span
            if _is_object(span):
                return span
    decoder = json.JSONDecoder()
    for i, match in enumerate(re.finditer("{", text)):
        if i == _MAX_STARTS:
            break
        try:
            value, end = decoder.raw_decode(text, match.start())
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict) and "changes" in value:
            return text[match.start() : end]
    return outermost


def _is_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False
