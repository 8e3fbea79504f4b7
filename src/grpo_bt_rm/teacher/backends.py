"""Teacher backends: a small registry of async chat clients (anthropic, gemini, openai) with one error contract.

    backend = make_backend("openai", BackendConfig(model="m", api_key=None, base_url="http://127.0.0.1:8000/v1"))
    completion = await backend.complete(system, user, max_tokens=512, temperature=0.0)

A backend raises `TransientError` (retry with backoff) or `FatalError` (stop the run); the runner owns retries,
so every SDK's own retry loop is switched off. Other modules add backends with `register_backend(BackendSpec(...))`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlparse

from grpo_bt_rm.registry import Registry

log = logging.getLogger(__name__)

# HTTP statuses worth retrying: timeouts, conflicts, rate limits, server errors and Anthropic's 529 "overloaded".
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")
DUMMY_KEY = "local-no-key"
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


class TransientError(Exception):
    """A failure worth retrying; `retry_after` (seconds) is the server's hint when it gave one."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class FatalError(Exception):
    """A failure that retrying cannot fix (bad request, bad key, no permission, unknown model)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class BackendConfig:
    model: str
    api_key: str | None
    base_url: str | None = None
    timeout: float = 120.0


class Backend(Protocol):
    async def complete(self, system: str | None, user: str, *, max_tokens: int,
                       temperature: float | None) -> Completion:
        ...

    async def aclose(self) -> None:
        ...


@dataclass(frozen=True)
class BackendSpec:
    name: str
    factory: Callable[[BackendConfig], Backend]
    key_envs: tuple[str, ...] = ()  # environment variables holding the API key, in order of preference
    needs_key: bool = True


BACKENDS: Registry[BackendSpec] = Registry("teacher backend")


def register_backend(spec: BackendSpec) -> BackendSpec:
    return BACKENDS.add(spec.name, spec)


def is_local(base_url: str | None) -> bool:
    return bool(base_url) and (urlparse(base_url).hostname or "") in LOCAL_HOSTS


def make_backend(name: str, cfg: BackendConfig) -> Backend:
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


def classify_status(status: int | None, message: str, headers=None) -> Exception:
    if status is not None and status in RETRY_STATUSES:
        return TransientError(f"HTTP {status}: {message}", status, parse_retry_after(headers))
    if status is not None and 400 <= status < 500:
        hint = {401: " (check the API key)", 403: " (the key lacks permission)", 404: " (check --model/--base_url)"}
        return FatalError(f"HTTP {status}{hint.get(status, '')}: {message}", status)
    return TransientError(f"HTTP {status}: {message}", status, parse_retry_after(headers))


# --- OpenAI-compatible (OpenAI, vLLM, sglang, any local server) ----------------------------------------------


class OpenAIBackend:
    def __init__(self, cfg: BackendConfig):
        import openai
        from openai.types.chat import ChatCompletion

        self._openai = openai
        self._completion_type = ChatCompletion
        self.model = cfg.model
        # OpenAI's reasoning models take only `max_completion_tokens`; local servers know `max_tokens` best.
        name = cfg.model.rsplit("/", 1)[-1].lower()
        self._budget_field = "max_completion_tokens" if name.startswith(REASONING_PREFIXES) else "max_tokens"
        self.client = openai.AsyncOpenAI(api_key=cfg.api_key, base_url=cfg.base_url, max_retries=0,
                                         timeout=cfg.timeout)

    async def complete(self, system, user, *, max_tokens, temperature):
        oa = self._openai
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        try:
            body = {"model": self.model, "messages": messages, self._budget_field: max_tokens}
            if temperature is not None:
                body["temperature"] = temperature
            # The client's generic POST, as `chat.completions.create` uses it, minus that method's typed-params
            # transform: for plain string messages it changes nothing and costs ~3 ms of CPU per request, which
            # caps throughput at high concurrency (see docs/bench_teacher.md).
            resp = await self.client.post("/chat/completions", body=body, cast_to=self._completion_type)
        except oa.APIStatusError as e:
            raise classify_status(e.status_code, _short(e.message), e.response.headers) from None
        except (oa.APITimeoutError, oa.APIConnectionError) as e:
            raise TransientError(f"{type(e).__name__}: {_short(str(e))}") from None
        text = (resp.choices[0].message.content or "") if resp.choices else ""
        usage = resp.usage
        return Completion(text, getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0)

    async def aclose(self):
        await self.client.close()


# --- Anthropic Messages API --------------------------------------------------------------------------------


class AnthropicBackend:
    def __init__(self, cfg: BackendConfig):
        import anthropic

        self._anthropic = anthropic
        self.model = cfg.model
        self.client = anthropic.AsyncAnthropic(api_key=cfg.api_key, base_url=cfg.base_url, max_retries=0,
                                               timeout=cfg.timeout)

    async def complete(self, system, user, *, max_tokens, temperature):
        an = self._anthropic
        kwargs: dict = {"system": system} if system else {}
        if temperature is not None:  # this SDK version has no `temperature` keyword; the wire field still works
            kwargs["extra_body"] = {"temperature": temperature}
        try:
            resp = await self.client.messages.create(model=self.model, max_tokens=max_tokens,
                                                     messages=[{"role": "user", "content": user}], **kwargs)
        except an.APIStatusError as e:
            raise classify_status(e.status_code, _short(e.message), e.response.headers) from None
        except (an.APITimeoutError, an.APIConnectionError) as e:
            raise TransientError(f"{type(e).__name__}: {_short(str(e))}") from None
        text = "".join(getattr(block, "text", "") for block in resp.content)
        return Completion(text, resp.usage.input_tokens or 0, resp.usage.output_tokens or 0)

    async def aclose(self):
        await self.client.close()


# --- Google Gemini (google-genai) --------------------------------------------------------------------------


class GeminiBackend:
    def __init__(self, cfg: BackendConfig):
        from google import genai
        from google.genai import types

        self._genai, self._types = genai, types
        self.model = cfg.model
        # attempts=1 switches off the SDK's own retries (and its implicit sleep on connection errors).
        http = types.HttpOptions(base_url=cfg.base_url, timeout=int(cfg.timeout * 1000),
                                 retry_options=types.HttpRetryOptions(attempts=1))
        self.client = genai.Client(api_key=cfg.api_key, http_options=http)

    async def complete(self, system, user, *, max_tokens, temperature):
        import httpx

        errors = self._genai.errors
        config = self._types.GenerateContentConfig(system_instruction=system or None, max_output_tokens=max_tokens,
                                                   temperature=temperature)
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
            raise classify_status(e.code, _short(str(e.message or e.status or "")), headers) from None
        except transient as e:
            raise TransientError(f"{type(e).__name__}: {_short(str(e))}") from None
        try:
            text = resp.text or ""
        except ValueError:  # blocked / no text part
            text = ""
        usage = resp.usage_metadata
        return Completion(text, getattr(usage, "prompt_token_count", 0) or 0,
                          getattr(usage, "candidates_token_count", 0) or 0)

    async def aclose(self):
        aclose = getattr(self.client.aio, "aclose", None)
        if aclose is not None:
            await aclose()


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
