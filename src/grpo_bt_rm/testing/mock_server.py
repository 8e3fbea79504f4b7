"""A local stand-in for the three teacher APIs (OpenAI chat completions, Anthropic Messages, Gemini
generateContent) on 127.0.0.1, with fault injection; used by the tests, the benchmark and offline demos.

    python -m grpo_bt_rm.testing.mock_server --port 8765 --latency 0.2    # then --base_url http://127.0.0.1:8765/v1

Its "judge" is a fixed rule: longer responses score higher (10 words or more get the top score), with optional
hash-based noise. It answers `<item id>` batches with `<answer id>` blocks, in any order you ask for.
Faults speak each provider's wire format: cut-off answers (max_tokens / length / MAX_TOKENS), thinking tokens,
blocked answers (promptFeedback.blockReason, finishReason SAFETY, content_filter, refusal), quota-exhausted
errors (insufficient_quota, per-day QuotaFailure, Anthropic's low credit balance) and retry delays in the body.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from grpo_bt_rm.parsing import format_tag
from grpo_bt_rm.prompts import find_prompt
from grpo_bt_rm.teacher.tasks import format_answer, split_items
from grpo_bt_rm.testing.mock_batches import BatchStore


@dataclass
class Faults:
    """What to inject. `plan` statuses are returned for the first requests, one each, before normal service."""

    plan: list[int] = field(default_factory=list)
    retry_after: float | None = None  # sent with 429/529/503 responses
    always_status: int | None = None  # every request fails with this status
    error_rate: float = 0.0  # random 500s after the plan
    latency_s: float = 0.0
    malformed: str | None = None  # "preamble": chatter around the tag; "garbage": no tag at all; "example": an
    # example tag first ("An ideal reply would earn <s>100</s>. ..."), the real one after
    batch_order: str = "reverse"  # "reverse" | "shuffle" | "keep"
    drop_ids: int = 0  # leave out this many answers from each batch
    noise: float = 0.0  # fraction of items scored by hash instead of by the rule
    api_key: str | None = None  # when set, any other key gets 401 (and the body echoes the key it got)
    cut_at: int | None = None  # answers keep only this many characters and stop at the token limit
    thinking_tokens: int = 0  # thinking tokens reported (and billed as output) per answer
    think: str | None = None  # a reasoning block put before every answer: "<think>{think}</think>\n"
    blocked: str | None = None  # "prompt" (Gemini promptFeedback) or "output" (SAFETY / content_filter / refusal)
    quota: bool = False  # errors say the quota or credit is used up (final, not a rate limit)
    body_retry_delay: float | None = None  # errors carry a retry delay in the body (Gemini RetryInfo, OpenAI text)
    batch_polls: int = 1  # status checks of a batch that still say "in progress" before it ends
    batch_fail: int = 0  # the first this many requests of every batch fail inside it


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog (5) refuses bursts of concurrent connections

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):  # a client that gave up
            super().handle_error(request, client_address)


@dataclass
class Stats:
    """What the mock server saw: request and status counts, tokens, items, arrival times, the last body and
    batches. Update it only under `lock`.
    """
    requests: int = 0
    ok: int = 0
    statuses: dict = field(default_factory=dict)
    input_tokens: int = 0
    output_tokens: int = 0
    items: int = 0
    times: list = field(default_factory=list)  # monotonic arrival time of every request
    last_body: dict | None = None  # the last online request body, as sent
    batches: int = 0  # batches created
    batch_requests: int = 0  # requests received inside batches
    lock: threading.Lock = field(default_factory=threading.Lock)


def judge(text: str, noise: float = 0.0) -> str:
    """The rule judge's answer to one rendered judge prompt (a user turn or one item of a batch).

    The prompt is recognised with `prompts.find_prompt`, so the fake knows its scale and order without reading
    any wording: longer responses score higher (10 words or more get the top of the scale), the tag comes last
    for reason-first prompts and first otherwise. A text no registered prompt rendered is judged whole on 0..100.

    Args:
        text: the request's prompt text.
        noise: fraction of texts scored by a hash of the response instead of by the rule.

    Returns:
        A one-line reason and the score tag, written with `parsing.format_tag`.
    """
    found = find_prompt(text)
    if found is not None:
        spec, _context, response = found
        (low, high), tag_last = spec.score_range, spec.order == "reason_first"
    else:
        low, high, response, tag_last = 0, 100, text, False
    h = int(hashlib.md5(response.encode()).hexdigest(), 16)
    if noise and (h % 1000) / 1000 < noise:
        score = low + (h >> 12) % (high - low + 1)
    else:
        score = low + round((high - low) * min(1.0, len(response.split()) / 10))
    reason = f"The response has {len(response.split())} words and addresses the request."
    return f"{reason}\n{format_tag(score)}" if tag_last else f"{format_tag(score)}\n{reason}"


STOPS = {"openai": ("stop", "length", "content_filter"), "anthropic": ("end_turn", "max_tokens", "refusal"),
         "gemini": ("STOP", "MAX_TOKENS", "SAFETY")}  # (ended by itself, cut off, blocked) per wire format


def route_kind(path: str) -> str | None:
    """Which wire format an online request path speaks."""
    if path.endswith("/chat/completions"):
        return "openai"
    if path.endswith("/messages"):
        return "anthropic"
    return "gemini" if ":generateContent" in path else None


def request_text(kind: str, req: dict) -> str:
    """The prompt text of one request body (online, or one request inside a batch)."""
    if kind == "openai":
        return "\n".join(m["content"] for m in req.get("messages", []) if isinstance(m.get("content"), str))
    if kind == "anthropic":
        return "\n".join(str(m.get("content")) for m in req.get("messages", []))
    return "\n".join(p.get("text", "") for c in req.get("contents", []) for p in c.get("parts", []))


def error_body(kind: str, status: int, message: str, faults: Faults) -> dict:
    """An error body as each provider writes it, with the quota and retry-delay faults applied."""
    if kind == "anthropic":
        etype = {429: "rate_limit_error", 529: "overloaded_error", 401: "authentication_error",
                 400: "invalid_request_error"}
        if faults.quota:
            message = "Your credit balance is too low to access the Anthropic API."
        return {"type": "error", "error": {"type": etype.get(status, "api_error"), "message": message}}
    if kind == "gemini":
        details = []
        if faults.quota:
            details.append({"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                 "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]})
        if faults.body_retry_delay is not None:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                            "retryDelay": f"{faults.body_retry_delay:g}s"})
        status_name = "RESOURCE_EXHAUSTED" if status == 429 else "UNAVAILABLE"
        return {"error": {"code": status, "message": message, "status": status_name, "details": details}}
    if faults.quota:
        return {"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                          "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}
    if faults.body_retry_delay is not None:
        message = f"Rate limit reached. Please try again in {faults.body_retry_delay:g}s."
    return {"error": {"message": message, "type": "error", "code": status}}


def response_body(kind: str, model: str, out: str, tin: int, tout: int, faults: Faults) -> dict:
    """A successful answer in each provider's format; `out` is the text, `tout` its tokens before thinking."""
    ended, cut, blocked = STOPS[kind]
    stop = blocked if faults.blocked else (cut if faults.cut_at is not None else ended)
    think = faults.thinking_tokens
    if kind == "openai":
        return {"id": "cmpl-mock", "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "finish_reason": stop,
                             "message": {"role": "assistant", "content": None if faults.blocked else out}}],
                "usage": {"prompt_tokens": tin, "completion_tokens": tout + think, "total_tokens": tin + tout + think,
                          "completion_tokens_details": {"reasoning_tokens": think}}}
    if kind == "anthropic":
        content = [] if faults.blocked else [{"type": "text", "text": out}]
        return {"id": "msg_mock", "type": "message", "role": "assistant", "model": model, "content": content,
                "stop_reason": stop, "stop_sequence": None,
                "usage": {"input_tokens": tin, "output_tokens": tout + think}}
    usage = {"promptTokenCount": tin, "candidatesTokenCount": tout, "totalTokenCount": tin + tout + think}
    if think:
        usage["thoughtsTokenCount"] = think
    if faults.blocked == "prompt":
        return {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": usage, "modelVersion": model}
    candidate: dict = {"finishReason": stop, "index": 0}
    if not faults.blocked and out:
        candidate["content"] = {"role": "model", "parts": [{"text": out}]}
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model}


class MockServer:
    """A local OpenAI-compatible chat-completions (and Batch API) server on 127.0.0.1 with injectable faults.

    Args:
        faults: latency, errors, malformed or cut answers and batch misbehaviour to inject (default none).
        port: the port; 0 picks a free one.
    """
    def __init__(self, faults: Faults | None = None, port: int = 0):
        self.faults = faults or Faults()
        self.stats = Stats()
        self._rng = random.Random(0)
        self.batches = BatchStore(self)
        self.httpd = _Server(("127.0.0.1", port), self._handler())
        self.port = self.httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The server's base URL, `http://127.0.0.1:<port>` (the OpenAI base_url adds `/v1`)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MockServer:
        """Serve in a daemon thread; returns the server."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and close its socket."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- request handling ---------------------------------------------------------------------------------

    def _fault(self) -> int | None:
        f = self.faults
        with self.stats.lock:
            self.stats.requests += 1
            self.stats.times.append(time.monotonic())
            if f.always_status:
                return f.always_status
            if f.plan:
                return f.plan.pop(0)
            if f.error_rate and self._rng.random() < f.error_rate:
                return 500
        return None

    def answer(self, text: str) -> str:
        """The answer text for one request's user text: a tag per item (or one tag), then the
        configured faults (reordered or dropped ids, a preamble or garbage, a think block, a cut).
        """
        f = self.faults
        items = split_items(text)
        if not items:
            out = judge(text, f.noise)
            with self.stats.lock:
                self.stats.items += 1
        else:
            blocks = [(iid, judge(body, f.noise)) for iid, body in items]
            if f.batch_order == "reverse":
                blocks.reverse()
            elif f.batch_order == "shuffle":
                random.Random(len(text)).shuffle(blocks)
            blocks = blocks[f.drop_ids:]
            with self.stats.lock:
                self.stats.items += len(blocks)
            out = "\n".join(format_answer(iid, f"\n{body}\n") for iid, body in blocks)
        if f.malformed == "preamble":
            out = f"Sure! Here is my careful evaluation.\n\n{out}\n\nI hope this helps."
        elif f.malformed == "garbage":
            out = "I would rather not give a number."
        elif f.malformed == "example":
            out = f"An ideal reply would earn {format_tag(100)}. This one is plainer, so the final score is\n{out}"
        if f.think is not None:
            out = f"<think>{f.think}</think>\n{out}"
        if f.cut_at is not None:
            out = out[:f.cut_at]
        return out

    def answer_body(self, kind: str, req: dict) -> dict:
        """A successful answer to one request body (online, or one request inside a batch), counted in the stats.

        Args:
            kind: the wire format, "openai", "anthropic" or "gemini".
            req: the request body as the client sent it.

        Returns:
            The provider's response body (JSON object) carrying `self.answer` of the request's prompt text.
        """
        text = request_text(kind, req)
        out = self.answer(text)
        tin, tout = max(1, len(text) // 4), max(1, len(out) // 4)
        with self.stats.lock:
            self.stats.ok += 1
            self.stats.input_tokens += tin
            self.stats.output_tokens += tout + self.faults.thinking_tokens
        return response_body(kind, req.get("model") or "mock", out, tin, tout, self.faults)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def setup(self):
                super().setup()
                # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the client's
                # delayed ACK adds ~40 ms to every response.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _send(self, status: int, body: dict, headers: dict | None = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _key(self) -> str | None:
                auth = self.headers.get("authorization", "")
                if auth.lower().startswith("bearer "):
                    return auth[7:]
                return self.headers.get("x-api-key") or self.headers.get("x-goog-api-key")

            def _error(self, kind: str, status: int, message: str):
                headers = {}
                if server.faults.retry_after is not None and status in (429, 503, 529):
                    headers["retry-after"] = str(server.faults.retry_after)
                with server.stats.lock:
                    server.stats.statuses[status] = server.stats.statuses.get(status, 0) + 1
                self._send(status, error_body(kind, status, message, server.faults), headers)

            def _batch_route(self, method: str) -> bool:
                length = int(self.headers.get("content-length") or 0)
                self._raw = self.rfile.read(length) if length else b""
                got = server.batches.handle(method, self.path.split("?")[0], self._raw, self.headers)
                if got is None:
                    return False
                status, body = got
                if isinstance(body, (bytes, str)):
                    data = body.encode() if isinstance(body, str) else body
                    self.send_response(status)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:
                    self._send(status, body)
                return True

            def do_GET(self):  # noqa: N802
                if not self._batch_route("GET"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self):  # noqa: N802
                if self._batch_route("POST"):
                    return
                req = json.loads(self._raw or b"{}")
                server.stats.last_body = req
                path = self.path.split("?")[0]
                kind = route_kind(path)
                if kind is None:
                    self._send(404, {"error": {"message": f"no route {path}"}})
                    return
                if server.faults.latency_s:
                    time.sleep(server.faults.latency_s)
                want = server.faults.api_key
                got = self._key()
                if want is not None and got != want:
                    self._error(kind, 401, f"invalid api key: {got}")
                    return
                status = server._fault()
                if status is not None:
                    self._error(kind, status, "injected failure")
                    return
                if kind == "gemini":
                    req = {**req, "model": path.rsplit("/", 1)[-1].split(":")[0]}
                body = server.answer_body(kind, req)
                self._send(200, body)

        return Handler


def main(argv: list[str] | None = None) -> int:
    """Run the mock server in the foreground until interrupted; prints its URL; returns 0."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port; printed at start)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds to wait before each answer")
    p.add_argument("--noise", type=float, default=0.0, help="fraction of items scored at random (by hash)")
    p.add_argument("--error_rate", type=float, default=0.0, help="fraction of requests answered with HTTP 500")
    args = p.parse_args(argv)
    server = MockServer(Faults(latency_s=args.latency, noise=args.noise, error_rate=args.error_rate), args.port)
    print(f"mock teacher API on {server.url} (OpenAI base_url {server.url}/v1)", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
