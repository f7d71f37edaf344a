"""``OpenAICompatible``: posts from any server speaking the OpenAI chat-completions API.

That covers GPT-4o-class baselines, vLLM and Ollama. Only the standard library is used. The API key
is read from an environment variable at each request and is never stored, logged, or put in an
error message or repr.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import os
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from engagegen.generation.base import GenerationError, ServerError, check_generate_args

__all__ = ["OpenAICompatible"]

logger = logging.getLogger(__name__)

# Indirection so tests can observe the waits without sleeping through them.
_sleep = time.sleep


def _retry_after(headers: Message | None) -> float | None:
    """Seconds the server asked us to wait (``Retry-After`` as seconds or an HTTP date), if it did."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


class OpenAICompatible:
    """A chat-completions server as a :class:`~engagegen.generation.Generator`.

    ``base_url`` is the API root as OpenAI clients take it, usually ending in ``/v1``
    (``https://api.openai.com/v1``, vLLM ``http://localhost:8000/v1``, Ollama
    ``http://localhost:11434/v1``); requests go to ``{base_url}/chat/completions``. The key is
    read from the environment variable ``api_key_env`` at each request and sent as a bearer token;
    when the variable is unset (or ``api_key_env=None``) no key is sent, as local servers expect.

    Each prompt is sent as one user message (in every prompt mode: chat servers have no raw
    completion), asking for ``n`` choices; a server that returns fewer (Ollama returns one) is asked
    again for the rest. HTTP 429 and 5xx answers, refused or dropped connections and timeouts are
    retried up to ``max_retries`` times with exponential backoff from ``backoff`` seconds (with
    jitter, at most ``max_backoff``), waiting as long as a ``Retry-After`` header asks (capped at
    ``max_backoff``). 401/403 and other client errors fail at once with :class:`ServerError`.

    >>> gpt4o = OpenAICompatible("https://api.openai.com/v1", "gpt-4o")
    >>> gpt4o
    OpenAICompatible(base_url='https://api.openai.com/v1', model='gpt-4o', api_key_env='OPENAI_API_KEY')
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout: float = 30.0,
        max_retries: int = 5,
        *,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
    ) -> None:
        if not isinstance(base_url, str):
            raise GenerationError(f"base_url must be a string, got {type(base_url).__name__}")
        parts = urllib.parse.urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise GenerationError(f"base_url {base_url!r} is not an http(s) URL such as https://api.openai.com/v1")
        if parts.username or parts.password:
            raise GenerationError(
                f"base_url must not hold credentials; put the API key in ${api_key_env or 'OPENAI_API_KEY'}"
            )
        if parts.query or parts.fragment:
            raise GenerationError(f"base_url {base_url!r} must not have a query or fragment")
        if not isinstance(model, str) or not model.strip():
            raise GenerationError(f"model must be the server's model name, got {model!r}")
        if api_key_env is not None and (not isinstance(api_key_env, str) or not api_key_env.strip()):
            raise GenerationError(f"api_key_env must name an environment variable or be None, got {api_key_env!r}")
        for name, value in (("timeout", timeout), ("backoff", backoff), ("max_backoff", max_backoff)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise GenerationError(f"{name} must be a positive number of seconds, got {value!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise GenerationError(f"max_retries must be a non-negative integer, got {max_retries!r}")
        self.base_url = base_url.strip().rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self._jitter = random.Random()

    def __repr__(self) -> str:
        return f"OpenAICompatible(base_url={self.base_url!r}, model={self.model!r}, api_key_env={self.api_key_env!r})"

    @property
    def url(self) -> str:
        """Where requests go."""
        return f"{self.base_url}/chat/completions"

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        max_new_tokens: int = 48,
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> list[list[str]]:
        """``n`` replies of the model to each prompt, stripped; ``seed`` is passed on (honoured best-effort)."""
        posts = []
        for prompt in check_generate_args(prompts, n, max_new_tokens, temperature, seed):
            samples: list[str] = []
            while len(samples) < n:
                payload: dict[str, Any] = {
                    "model": self.model,
                    "messages": [{"role": "user", "content": prompt}],
                    "n": n - len(samples),
                    "max_tokens": max_new_tokens,
                    "temperature": float(temperature),
                }
                if seed is not None:  # a refill must not repeat the samples already drawn
                    payload["seed"] = seed + len(samples)
                samples.extend(self._choices(self._post(payload))[: n - len(samples)])
            posts.append(samples)
        return posts

    def _choices(self, answer: Any) -> list[str]:
        choices = answer.get("choices") if isinstance(answer, dict) else None
        if not isinstance(choices, list) or not choices:
            raise ServerError(f"{self.url} answered without any choices")
        texts = []
        for choice in sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0):
            message = choice.get("message") if isinstance(choice, dict) else None
            if not isinstance(message, dict):
                raise ServerError(f"{self.url} answered with a choice that has no message: {str(choice)[:200]}")
            content = message.get("content")
            if content is None:  # a refusal or a tool call: an empty post, but say so
                logger.warning("%s returned a choice without text (refusal: %s)", self.url, message.get("refusal"))
                content = ""
            if not isinstance(content, str):
                raise ServerError(f"{self.url} answered with non-text content of type {type(content).__name__}")
            texts.append(content.strip())
        return texts

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        ceiling = min(self.backoff * 2.0**attempt, self.max_backoff)
        return ceiling * (0.5 + 0.5 * self._jitter.random())

    def _post(self, payload: dict[str, Any]) -> Any:
        body = json.dumps(payload).encode("utf-8")
        attempts = self.max_retries + 1
        attempt = 0
        while True:
            key = os.environ.get(self.api_key_env, "").strip() if self.api_key_env else ""
            headers = {"Content-Type": "application/json", "Accept": "application/json"}
            if key:
                headers["Authorization"] = f"Bearer {key}"
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            retry_after = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read()
            except urllib.error.HTTPError as err:
                detail = self._error_detail(err, key)
                if err.code in (401, 403):
                    raise ServerError(self._rejected_message(err.code, bool(key), detail)) from None
                if err.code != 429 and err.code < 500:
                    raise ServerError(f"{self.url} answered HTTP {err.code}: {detail}") from None
                reason, retry_after = f"HTTP {err.code} ({detail})", _retry_after(err.headers)
            except (TimeoutError, urllib.error.URLError, ConnectionError, http.client.HTTPException) as err:
                cause = err.reason if isinstance(err, urllib.error.URLError) else err
                timed_out = isinstance(cause, TimeoutError)
                reason = f"timed out after {self.timeout:g} s" if timed_out else f"connection failed ({cause})"
            else:
                try:
                    return json.loads(raw)
                except ValueError:
                    raise ServerError(f"{self.url} answered with invalid JSON: {raw[:200]!r}") from None
            if attempt + 1 == attempts:
                raise ServerError(f"request to {self.url} failed after {attempts} attempt(s): {reason}")
            delay = self._delay(attempt, retry_after)
            attempt += 1
            logger.warning(
                "%s: %s; retrying in %.2f s (attempt %d of %d)", self.url, reason, delay, attempt + 1, attempts
            )
            _sleep(delay)

    def _error_detail(self, err: urllib.error.HTTPError, key: str) -> str:
        """The server's error message, shortened, with the key blanked out should the server echo it."""
        try:
            raw = err.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            raw = ""
        finally:
            err.close()
        try:
            detail = json.loads(raw)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            detail = raw.strip() or (err.reason if isinstance(err.reason, str) else "") or "no details"
        detail = str(detail)[:300]
        return detail.replace(key, "***") if key else detail

    def _rejected_message(self, status: int, sent_key: bool, detail: str) -> str:
        if self.api_key_env is None:
            return (
                f"{self.url} refused the request (HTTP {status}: {detail}); no API key is sent because api_key_env=None"
            )
        if not sent_key:
            unset = f"no API key was sent because ${self.api_key_env} is not set"
            return f"{self.url} refused the request (HTTP {status}): {unset}"
        return f"{self.url} rejected the API key in ${self.api_key_env} (HTTP {status}); check that variable"
