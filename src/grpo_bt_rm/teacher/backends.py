"""Teacher backends: a small registry of async chat clients (anthropic, gemini, openai) with one error contract.

    backend = make_backend("openai", BackendConfig(model="m", api_key=None, base_url="http://127.0.0.1:8000/v1"))
    completion = await backend.complete(system, user, max_tokens=512, temperature=0.0)

A backend raises `TransientError` (retry with backoff) or `FatalError` (stop the run); the runner owns retries,
so every SDK's own retry loop is switched off. Other modules add backends with `register_backend(BackendSpec(...))`.
Every completion carries the provider's own stop reason, whether it was cut off (`truncated`) or withheld
(`blocked`), and its thinking tokens (counted inside `output_tokens`, as every provider bills them).
The tables below say which provider values mean what; docs/teacher.md lists them per provider.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlparse

from grpo_bt_rm.io import InputError
from grpo_bt_rm.registry import Registry

log = logging.getLogger(__name__)

# HTTP statuses worth retrying: timeouts, conflicts, rate limits, server errors and Anthropic's 529 "overloaded".
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")
DUMMY_KEY = "local-no-key"
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")

# Provider stop/finish reasons that mean "cut off at the token limit" and "answer withheld or filtered".
TRUNCATED_STOPS = {
    "anthropic": frozenset({"max_tokens", "model_context_window_exceeded"}),
    "openai": frozenset({"length"}),
    "gemini": frozenset({"MAX_TOKENS"}),
}
BLOCKED_STOPS = {
    "anthropic": frozenset({"refusal"}),
    "openai": frozenset({"content_filter"}),
    "gemini": frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE",
                         "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"}),
}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")  # google.protobuf.Duration in JSON: "40s", "1.5s"
_TRY_AGAIN_RE = re.compile(r"try again in (\d+(?:\.\d+)?)\s*(ms|s)\b", re.IGNORECASE)  # OpenAI's message


class TransientError(Exception):
    """A failure worth retrying; `retry_after` (seconds) is the server's hint when it gave one."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class FatalError(Exception):
    """A failure that retrying cannot fix (bad request, bad key, no permission, unknown model, quota used up)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Completion:
    """One teacher answer with its usage, as every backend reports it.

    Attributes:
        text: the answer text (thinking blocks excluded).
        input_tokens: tokens billed as input, cached tokens included.
        output_tokens: tokens billed as output, thinking tokens included.
        stop_reason: the provider's own value (end_turn, length, MAX_TOKENS, ...).
        truncated: it stopped at the token limit instead of ending by itself.
        blocked: why the provider withheld or filtered the answer (re-asking will not change it), or None.
        thinking_tokens: the part of output_tokens spent thinking; None where the provider does not say.
        cached_input_tokens: the part of input_tokens read from a prompt cache.
    """
    text: str
    input_tokens: int = 0  # everything billed as input, cached tokens included
    output_tokens: int = 0  # everything billed as output, thinking tokens included
    stop_reason: str | None = None  # the provider's own value: end_turn, length, MAX_TOKENS, ...
    truncated: bool = False  # stopped at the token limit instead of ending by itself
    blocked: str | None = None  # why the provider withheld or filtered the answer (it will not change if re-asked)
    thinking_tokens: int | None = None  # the part of output_tokens spent thinking; None = not reported
    cached_input_tokens: int = 0  # the part of input_tokens read from a prompt cache


def finish(backend: str, text: str, stop_reason: str | None, **usage) -> Completion:
    """A Completion whose `truncated`/`blocked` follow the provider's stop reason (see the tables above)."""
    blocked = f"{backend}:{stop_reason}" if stop_reason in BLOCKED_STOPS[backend] else None
    return Completion(text, stop_reason=stop_reason, truncated=stop_reason in TRUNCATED_STOPS[backend],
                      blocked=blocked, **usage)


@dataclass(frozen=True)
class BackendConfig:
    """How to reach a teacher model.

    Attributes:
        model: the provider's model id.
        api_key: the API key; None for a local server.
        base_url: the API endpoint; None for the provider's default.
        timeout: per-request timeout in seconds.
        thinking_budget: thinking tokens per answer (Anthropic budget_tokens, Gemini thinking_budget), or None.
        reasoning_effort: "low", "medium" or "high" for OpenAI reasoning models, or None.
    """
    model: str
    api_key: str | None
    base_url: str | None = None
    timeout: float = 120.0
    thinking_budget: int | None = None  # thinking tokens per answer (Anthropic budget_tokens, Gemini thinking_budget)
    reasoning_effort: str | None = None  # OpenAI reasoning models: low / medium / high


class Backend(Protocol):
    """The interface every teacher backend implements: `complete` one request, `aclose` the client."""
    async def complete(self, system: str | None, user: str, *, max_tokens: int,
                       temperature: float | None) -> Completion:
        """Ask the model for one answer; the runner owns retries, so the SDK's own are off.

        Args:
            system: the system prompt, or None.
            user: the user message.
            max_tokens: the answer's token budget.
            temperature: sampling temperature; None leaves the provider's default.

        Returns:
            A `Completion` with the text, token usage and the provider's stop reason.

        Raises:
            TransientError: a timeout, connection error, rate limit or 5xx (the runner retries with backoff).
            FatalError: a status that retrying cannot fix (bad request or key, no permission, unknown model, no quota).
        """
        ...

    async def aclose(self) -> None:
        """Close the underlying HTTP client."""
        ...


@dataclass(frozen=True)
class BackendSpec:
    """A registered backend.

    Attributes:
        name: the `--backend` name.
        factory: builds the backend from a `BackendConfig`.
        key_envs: environment variables holding the API key, in order of preference.
        needs_key: whether a remote endpoint requires a key.
    """
    name: str
    factory: Callable[[BackendConfig], Backend]
    key_envs: tuple[str, ...] = ()  # environment variables holding the API key, in order of preference
    needs_key: bool = True


BACKENDS: Registry[BackendSpec] = Registry("teacher backend")


def register_backend(spec: BackendSpec) -> BackendSpec:
    """Add `spec` to `BACKENDS` under its name and return it.

    Raises:
        ValueError: a backend with that name is already registered.
    """
    return BACKENDS.add(spec.name, spec)


def is_local(base_url: str | None) -> bool:
    """Whether `base_url`'s host is this machine (127.0.0.1, localhost, ::1 or 0.0.0.0), where no key is needed.

    >>> is_local("http://127.0.0.1:8000/v1"), is_local("https://api.openai.com/v1"), is_local(None)
    (True, False, False)
    """
    return bool(base_url) and (urlparse(base_url).hostname or "") in LOCAL_HOSTS


def make_backend(name: str, cfg: BackendConfig) -> Backend:
    """Build the backend registered as `name` from `cfg`.

    Raises:
        KeyError: an unknown backend name (the message lists the valid ones).
        InputError: settings the backend does not support (e.g. --thinking_budget for openai).
    """
    return BACKENDS.get(name).factory(cfg)


def parse_retry_after(headers) -> float | None:
    """Seconds from a `retry-after` (or `retry-after-ms`) header; None when absent or unreadable."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
        value = headers.get("retry-after")
        return None if value is None else max(0.0, float(value))
    except (TypeError, ValueError):
        return None  # an HTTP-date or garbage: fall back to our own backoff


def _error_object(body) -> dict:
    """The `error` object of an error body, whichever way the SDK hands it over (whole body or just `error`)."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, dict):
        return {}
    inner = body.get("error")
    return inner if isinstance(inner, dict) else body


def body_retry_delay(body) -> float | None:
    """Seconds the server asked us to wait, from the error body: Gemini's `google.rpc.RetryInfo.retryDelay`
    ("40s") in `error.details`, or OpenAI's "Please try again in 20s" / "in 350ms" message. None when absent."""
    err = _error_object(body)
    for detail in err.get("details") or ():
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            m = _DURATION_RE.match(str(detail.get("retryDelay", "")))
            if m:
                return float(m.group(1))
    m = _TRY_AGAIN_RE.search(str(err.get("message") or ""))
    if m:
        return float(m.group(1)) / (1000.0 if m.group(2).lower() == "ms" else 1.0)
    return None


def quota_exhausted(body) -> str | None:
    """Why a 429 is final rather than a rate limit: OpenAI `insufficient_quota` (no credit), or a Gemini
    RESOURCE_EXHAUSTED whose QuotaFailure names a per-day quota. None for an ordinary rate limit."""
    err = _error_object(body)
    if "insufficient_quota" in (err.get("code"), err.get("type")):
        return "insufficient_quota (no credit left: check the plan and billing)"
    if err.get("status") == "RESOURCE_EXHAUSTED":
        for detail in err.get("details") or ():
            if not (isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.QuotaFailure")):
                continue
            for v in detail.get("violations") or ():
                quota = f"{v.get('quotaId', '')} {v.get('quotaMetric', '')}" if isinstance(v, dict) else ""
                if "PerDay" in quota:
                    return f"per-day quota {quota.split()[0]} used up (it resets daily; or raise the quota)"
    return None


def classify_status(status: int | None, message: str, headers=None, body=None) -> Exception:
    """TransientError or FatalError for an HTTP error, with the server's retry hint (header, else body)."""
    if status == 429:
        final = quota_exhausted(body)
        if final:
            return FatalError(f"HTTP 429 {final}: {message}", status)
    if status is None or status in RETRY_STATUSES or not 400 <= status < 500:
        hint = parse_retry_after(headers)
        return TransientError(f"HTTP {status}: {message}", status, body_retry_delay(body) if hint is None else hint)
    hint = {401: " (check the API key)", 403: " (the key lacks permission)", 404: " (check --model/--base_url)"}
    return FatalError(f"HTTP {status}{hint.get(status, '')}: {message}", status)


# --- OpenAI-compatible (OpenAI, vLLM, sglang, any local server) ----------------------------------------------


class OpenAIBackend:
    """The OpenAI chat-completions API and any compatible server (vLLM, sglang).

    Reasoning models (`REASONING_PREFIXES`: o1, o3, o4, gpt-5) get `max_completion_tokens`, others `max_tokens`.

    Raises:
        InputError: `cfg.thinking_budget` is set (the OpenAI API has none; use reasoning_effort).
    """
    def __init__(self, cfg: BackendConfig):
        import openai
        from openai.types.chat import ChatCompletion

        self._openai = openai
        self._completion_type = ChatCompletion
        self.model = cfg.model
        # OpenAI's reasoning models take only `max_completion_tokens`; local servers know `max_tokens` best.
        name = cfg.model.rsplit("/", 1)[-1].lower()
        self._budget_field = "max_completion_tokens" if name.startswith(REASONING_PREFIXES) else "max_tokens"
        self.reasoning_effort = cfg.reasoning_effort
        if cfg.thinking_budget is not None:
            raise InputError("--thinking_budget: the OpenAI API has no thinking-token budget; use "
                             "--reasoning_effort low|medium|high (reasoning models), or the server's own setting")
        self.client = openai.AsyncOpenAI(api_key=cfg.api_key, base_url=cfg.base_url, max_retries=0,
                                         timeout=cfg.timeout)

    def body(self, system, user, *, max_tokens, temperature) -> dict:
        """The chat-completions request body (online, and each line of a batch input file)."""
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        body = {"model": self.model, "messages": messages, self._budget_field: max_tokens}
        if temperature is not None:
            body["temperature"] = temperature
        if self.reasoning_effort:
            body["reasoning_effort"] = self.reasoning_effort
        return body

    async def complete(self, system, user, *, max_tokens, temperature):
        """`Backend.complete` over the OpenAI-compatible `/chat/completions` endpoint."""
        oa = self._openai
        body = self.body(system, user, max_tokens=max_tokens, temperature=temperature)
        try:
            # The client's generic POST, as `chat.completions.create` uses it, minus that method's typed-params
            # transform: for plain string messages it changes nothing and costs ~3 ms of CPU per request, which
            # caps throughput at high concurrency (see docs/bench_teacher.md).
            resp = await self.client.post("/chat/completions", body=body, cast_to=self._completion_type)
        except oa.APIStatusError as e:
            raise classify_status(e.status_code, _short(e.message), e.response.headers, e.body) from None
        except (oa.APITimeoutError, oa.APIConnectionError) as e:
            raise TransientError(f"{type(e).__name__}: {_short(str(e))}") from None
        return openai_completion(resp)

    async def aclose(self):
        """Close the async OpenAI client."""
        await self.client.close()


def openai_completion(resp) -> Completion:
    """A ChatCompletion (online or from a batch output line) as a Completion. completion_tokens already counts
    reasoning tokens; completion_tokens_details says how many of them there were."""
    choice = resp.choices[0] if resp.choices else None
    text = (choice.message.content or "") if choice else ""
    usage = resp.usage
    details = getattr(usage, "completion_tokens_details", None)
    cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None)
    return finish("openai", text, choice.finish_reason if choice else None,
                  input_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                  output_tokens=getattr(usage, "completion_tokens", 0) or 0,
                  thinking_tokens=getattr(details, "reasoning_tokens", None), cached_input_tokens=cached or 0)


# --- Anthropic Messages API --------------------------------------------------------------------------------


class AnthropicBackend:
    """The Anthropic Messages API; a thinking budget is added on top of the answer's max_tokens."""
    def __init__(self, cfg: BackendConfig):
        import anthropic

        self._anthropic = anthropic
        self.model = cfg.model
        self.thinking_budget = cfg.thinking_budget
        self.client = anthropic.AsyncAnthropic(api_key=cfg.api_key, base_url=cfg.base_url, max_retries=0,
                                               timeout=cfg.timeout)

    def params(self, system, user, *, max_tokens, temperature) -> dict:
        """The Messages request parameters (online, and each request of a Message Batch)."""
        params: dict = {"model": self.model, "max_tokens": max_tokens, "messages": [{"role": "user", "content": user}]}
        if system:
            params["system"] = system
        if temperature is not None:
            params["temperature"] = temperature
        if self.thinking_budget:  # max_tokens counts thinking too: the answer keeps its own --max_tokens
            params["thinking"] = {"type": "enabled", "budget_tokens": self.thinking_budget}
            params["max_tokens"] += self.thinking_budget
        return params

    async def complete(self, system, user, *, max_tokens, temperature):
        """`Backend.complete` over the Anthropic Messages API; a thinking budget is added to max_tokens."""
        an = self._anthropic
        kwargs = self.params(system, user, max_tokens=max_tokens, temperature=temperature)
        if "temperature" in kwargs:  # this SDK version has no `temperature` keyword; the wire field still works
            kwargs["extra_body"] = {"temperature": kwargs.pop("temperature")}
        try:
            resp = await self.client.messages.create(**kwargs)
        except an.APIStatusError as e:
            raise classify_status(e.status_code, _short(e.message), e.response.headers, e.body) from None
        except (an.APITimeoutError, an.APIConnectionError) as e:
            raise TransientError(f"{type(e).__name__}: {_short(str(e))}") from None
        return anthropic_completion(resp)

    async def aclose(self):
        """Close the async Anthropic client."""
        await self.client.close()


def anthropic_completion(msg) -> Completion:
    """A Message (online or from a batch result) as a Completion. Only `text` blocks are the answer: `thinking`
    blocks are not. output_tokens already counts thinking; Anthropic does not say how many of them there were.
    input_tokens excludes cache reads and writes, which are billed as input too."""
    text = "".join(getattr(block, "text", "") for block in msg.content or () if getattr(block, "type", "") == "text")
    u = msg.usage
    read = getattr(u, "cache_read_input_tokens", None) or 0
    written = getattr(u, "cache_creation_input_tokens", None) or 0
    return finish("anthropic", text, msg.stop_reason, input_tokens=(u.input_tokens or 0) + read + written,
                  output_tokens=u.output_tokens or 0, thinking_tokens=None, cached_input_tokens=read)


# --- Google Gemini (google-genai) --------------------------------------------------------------------------


class GeminiBackend:
    """Google Gemini through google-genai; a thinking budget is added on top of the answer's max tokens."""
    def __init__(self, cfg: BackendConfig):
        from google import genai
        from google.genai import types

        self._genai, self._types = genai, types
        self.model = cfg.model
        self.thinking_budget = cfg.thinking_budget
        # attempts=1 switches off the SDK's own retries (and its implicit sleep on connection errors).
        http = types.HttpOptions(base_url=cfg.base_url, timeout=int(cfg.timeout * 1000),
                                 retry_options=types.HttpRetryOptions(attempts=1))
        self.client = genai.Client(api_key=cfg.api_key, http_options=http)

    def config(self, system, *, max_tokens, temperature):
        """The GenerateContentConfig (online, and each inlined request of a batch job)."""
        thinking = None
        if self.thinking_budget is not None:  # max_output_tokens counts thinking too: the answer keeps its budget
            thinking = self._types.ThinkingConfig(thinking_budget=self.thinking_budget)
            max_tokens += self.thinking_budget
        return self._types.GenerateContentConfig(system_instruction=system or None, max_output_tokens=max_tokens,
                                                 temperature=temperature, thinking_config=thinking)

    async def complete(self, system, user, *, max_tokens, temperature):
        """`Backend.complete` over Gemini `generate_content`; a thinking budget is added to max_tokens."""
        import httpx

        errors = self._genai.errors
        config = self.config(system, max_tokens=max_tokens, temperature=temperature)
        transient: tuple[type[BaseException], ...] = (httpx.TimeoutException, httpx.TransportError,
                                                      asyncio.TimeoutError, ConnectionError)
        try:
            import aiohttp

            transient += (aiohttp.ClientError,)
        except ImportError:  # pragma: no cover
            pass
        try:
            resp = await self.client.aio.models.generate_content(model=self.model, contents=user, config=config)
        except errors.APIError as e:
            headers = getattr(getattr(e, "response", None), "headers", None)
            raise classify_status(e.code, _short(str(e.message or e.status or "")), headers,
                                  getattr(e, "details", None)) from None
        except transient as e:
            raise TransientError(f"{type(e).__name__}: {_short(str(e))}") from None
        return gemini_completion(resp)

    async def aclose(self):
        """Close the client's async session, where this SDK version has one."""
        aclose = getattr(self.client.aio, "aclose", None)
        if aclose is not None:
            await aclose()


def _enum_name(value) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def gemini_completion(resp) -> Completion:
    """A GenerateContentResponse as a Completion. Thought parts are not the answer (`resp.text` skips them);
    thinking tokens (`thoughts_token_count`) are billed as output, so they are added to output_tokens."""
    usage = resp.usage_metadata
    thoughts = getattr(usage, "thoughts_token_count", None)
    tokens = {"input_tokens": getattr(usage, "prompt_token_count", 0) or 0,
              "output_tokens": (getattr(usage, "candidates_token_count", 0) or 0) + (thoughts or 0),
              "thinking_tokens": thoughts, "cached_input_tokens": getattr(usage, "cached_content_token_count", 0) or 0}
    feedback = getattr(resp, "prompt_feedback", None)
    block = _enum_name(getattr(feedback, "block_reason", None))
    if block:  # the prompt itself was blocked: no candidates at all
        return Completion("", stop_reason=f"prompt_blocked:{block}", blocked=f"gemini:prompt:{block}", **tokens)
    candidates = resp.candidates or []
    stop = _enum_name(candidates[0].finish_reason) if candidates else None
    try:
        text = resp.text or ""
    except ValueError:  # no text part
        text = ""
    return finish("gemini", text, stop, **tokens)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


register_backend(BackendSpec("anthropic", AnthropicBackend, ("ANTHROPIC_API_KEY",)))
register_backend(BackendSpec("gemini", GeminiBackend, ("GEMINI_API_KEY", "GOOGLE_API_KEY")))
register_backend(BackendSpec("openai", OpenAIBackend, ("OPENAI_API_KEY",)))


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret (API key) replaced by `***`."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text
