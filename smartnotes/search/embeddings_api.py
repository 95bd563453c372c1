"""A client for an OpenAI-compatible embeddings endpoint: ``POST {base}/v1/embeddings``.

The request is OpenAI's documented one (``{"model", "input": [...], "encoding_format":
"float"}``, plus ``dimensions`` when configured), sent in batches; an answer's
``data[i].embedding`` are put back in input order by their ``index``. Errors from aiohttp and
from the server are translated here, and only here::

    EmbeddingsError                  texts left without their vectors; the message says why
    ├── EmbeddingsUnavailableError   no usable answer: connection refused, timeout, 429, 5xx
    ├── EmbeddingsRefusedError       a 4xx (bad key, unknown model, input too long), with the
    │                                server's own message
    └── EmbeddingsAnswerError        an answer not of the documented shape (count, indexes,
                                     dimensions, numbers)

There are no retries here: what could not be embedded is found again by the index's
reconciliation, and a search goes on by words alone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import numpy as np
import numpy.typing as npt

from smartnotes.settings import SearchSettings

# About 500 tokens of English: within every embedding model's context. A longer note is
# embedded by its start; the full-text index still has all of it.
MAX_INPUT_CHARS = 2000
CONNECT_TIMEOUT = 5.0


class EmbeddingsError(Exception):
    """Texts could not be embedded; the message names the endpoint and the reason."""


class EmbeddingsUnavailableError(EmbeddingsError):
    """The endpoint did not answer usefully (down, slow, overloaded); worth trying later."""


class EmbeddingsRefusedError(EmbeddingsError):
    """The endpoint refused the request: a configuration to fix (key, model, dimensions)."""


class EmbeddingsAnswerError(EmbeddingsError):
    """The endpoint answered something other than the documented embeddings shape."""


class EmbeddingsClient:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        model: str,
        *,
        key: str | None = None,
        dimensions: int | None = None,
        batch: int = 32,
        timeout: float = 30.0,
    ) -> None:
        self._http = http
        self.url = base_url.rstrip("/").removesuffix("/v1") + "/v1/embeddings"
        self.model = model
        self.dimensions = dimensions
        self.batch = batch
        self.timeout = timeout
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}

    async def embed(
        self, texts: Sequence[str], *, seconds: float | None = None
    ) -> npt.NDArray[np.float32]:
        """One row per text, in order; every row of the same length (``dimensions`` when
        configured). ``seconds``: the time one request may take, the configured one by
        default."""
        rows: list[npt.NDArray[np.float32]] = []
        for start in range(0, len(texts), self.batch):
            chunk = texts[start : start + self.batch]
            found = await self._request(chunk, seconds or self.timeout)
            if rows and found.shape[1] != rows[0].shape[1]:
                raise EmbeddingsAnswerError(
                    f"{self.url} answered vectors of {found.shape[1]} dimensions after "
                    f"{rows[0].shape[1]} in the same call"
                )
            rows.append(found)
        if not rows:
            return np.zeros((0, self.dimensions or 0), dtype=np.float32)
        return np.concatenate(rows)

    async def _request(self, texts: Sequence[str], seconds: float) -> npt.NDArray[np.float32]:
        body: dict[str, Any] = {
            "model": self.model,
            "input": [text[:MAX_INPUT_CHARS] for text in texts],
            "encoding_format": "float",
        }
        if self.dimensions is not None:
            body["dimensions"] = self.dimensions
        limits = aiohttp.ClientTimeout(total=seconds, connect=min(CONNECT_TIMEOUT, seconds))
        try:
            async with self._http.post(
                self.url, json=body, headers=self._headers, timeout=limits
            ) as answer:
                status = answer.status
                payload = await answer.read()
        except TimeoutError as exc:
            raise EmbeddingsUnavailableError(
                f"{self.url} did not answer within {seconds:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise EmbeddingsUnavailableError(f"{self.url} could not be reached: {exc}") from exc
        if status == 429 or status >= 500:
            raise EmbeddingsUnavailableError(f"{self.url} answered {status}: {_reason(payload)}")
        if status >= 400:
            raise EmbeddingsRefusedError(
                f"{self.url} refused the request ({status}): {_reason(payload)}"
            )
        return self._vectors(payload, len(texts))

    def _vectors(self, payload: bytes, count: int) -> npt.NDArray[np.float32]:
        try:
            data = json.loads(payload)["data"]
            by_index = {int(item["index"]): item["embedding"] for item in data}
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingsAnswerError(
                f"{self.url} answered without data[].index and data[].embedding: {exc}"
            ) from exc
        if sorted(by_index) != list(range(count)) or len(data) != count:
            raise EmbeddingsAnswerError(
                f"{self.url} answered {len(data)} embedding(s) for {count} input(s)"
            )
        rows = [by_index[i] for i in range(count)]
        if not all(isinstance(row, list) and row for row in rows):
            raise EmbeddingsAnswerError(f"{self.url} answered embeddings that are not lists")
        lengths = {len(row) for row in rows}
        if len(lengths) != 1:
            raise EmbeddingsAnswerError(f"{self.url} answered vectors of different lengths")
        try:
            vectors = np.array(rows, dtype=np.float32)
        except (ValueError, TypeError) as exc:
            raise EmbeddingsAnswerError(f"{self.url} answered embeddings of non-numbers") from exc
        if not np.isfinite(vectors).all():
            raise EmbeddingsAnswerError(f"{self.url} answered an embedding with NaN or infinity")
        if self.dimensions is not None and vectors.shape[1] != self.dimensions:
            raise EmbeddingsAnswerError(
                f"{self.url} answered {vectors.shape[1]} dimensions, {self.dimensions} asked"
            )
        return vectors


def _reason(payload: bytes) -> str:
    """The server's own words: OpenAI's ``{"error": {"message"}}``, or the start of the body."""
    try:
        body = json.loads(payload)
    except ValueError:
        return payload[:200].decode("utf-8", "replace").strip() or "no message"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:500]
    if isinstance(error, str) and error:
        return error[:500]
    return json.dumps(body)[:200]


@asynccontextmanager
async def open_embeddings_client(config: SearchSettings) -> AsyncIterator[EmbeddingsClient | None]:
    """The configured client, its connections closed with it; None when none is configured."""
    if not config.embeddings:
        yield None
        return
    key = config.embeddings_key.get_secret_value() if config.embeddings_key else None
    async with aiohttp.ClientSession() as http:
        yield EmbeddingsClient(
            http,
            config.embeddings_url,
            config.embeddings_model.strip(),
            key=key,
            dimensions=config.embeddings_dimensions,
            batch=config.embeddings_batch,
            timeout=config.embeddings_timeout,
        )
