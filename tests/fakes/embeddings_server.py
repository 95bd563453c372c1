"""An OpenAI-compatible embeddings endpoint for tests, answering from a real model: the bundled
SmolLM2-135M through llama.cpp in embedding mode (mean pooling), on a loopback port.

Requests are checked as OpenAI documents and enforces them (``POST /v1/embeddings``): a bearer
key when one is set, a known ``model``, an ``input`` of one or more non-empty strings within
the model's context, ``encoding_format`` ``float`` or ``base64``, ``dimensions`` only as the
model's own, no other fields. Refusals use OpenAI's error shape (``{"error": {"message",
"type", "param", "code"}}``) and status codes. Every request that reached the route is
recorded, accepted or not; ``stop`` and ``start(port)`` take the endpoint down and up again on
the same address, as an outage would.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
from aiohttp import web

from pipeline.demo_models import demo_summarizer_model

MODEL_NAME = "smollm2-135m-embed"
CONTEXT = 1024
_FIELDS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})


def load_embedding_model(path: Path | None = None) -> llama_cpp.Llama:
    """SmolLM2 as an embedding model: one vector per text, the mean of its tokens'."""
    return llama_cpp.Llama(
        str(path or demo_summarizer_model()),
        embedding=True,
        pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
        n_ctx=CONTEXT,
        n_batch=CONTEXT,
        n_ubatch=CONTEXT,
        # One thread: the tests' machines are small and busy; more threads spin and wait.
        n_threads=1,
        seed=7,
        verbose=False,
    )


class OpenAIError(Exception):
    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        }


@dataclass
class Seen:
    body: Any
    authorization: str | None
    status: int = 200


@dataclass
class EmbeddingsServer:
    model: llama_cpp.Llama
    name: str = MODEL_NAME
    key: str | None = None
    # Seconds each answer waits first: a slow endpoint, for the clients' timeouts.
    delay: float = 0.0
    requests: list[Seen] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _port: int = 0
    # llama.cpp's context is not to be used by two threads at once.
    _busy: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def accepted(self) -> list[Any]:
        return [seen.body for seen in self.requests if seen.status == 200]

    @property
    def dims(self) -> int:
        return int(self.model.n_embd())

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self._port = server.sockets[0].getsockname()[1]
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _models(self, request: web.Request) -> web.Response:
        try:
            self._authorize(request)
        except OpenAIError as exc:
            return web.json_response(exc.body, status=exc.status)
        entry = {"id": self.name, "object": "model", "created": 0, "owned_by": "tests"}
        return web.json_response({"object": "list", "data": [entry]})

    async def _embeddings(self, request: web.Request) -> web.Response:
        seen = Seen(body=None, authorization=request.headers.get("Authorization"))
        self.requests.append(seen)
        try:
            self._authorize(request)
            try:
                seen.body = body = json.loads(await request.read())
            except ValueError:
                raise OpenAIError(
                    400, "We could not parse the JSON body of your request."
                ) from None
            texts, encoding = self._check(body)
            if self.delay:
                await asyncio.sleep(self.delay)
            async with self._busy:
                vectors, tokens = await asyncio.to_thread(self._embed, texts)
        except OpenAIError as exc:
            seen.status = exc.status
            return web.json_response(exc.body, status=exc.status)
        data = [
            {"object": "embedding", "index": i, "embedding": _encoded(vector, encoding)}
            for i, vector in enumerate(vectors)
        ]
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return web.json_response(
            {"object": "list", "data": data, "model": self.name, "usage": usage}
        )

    def _authorize(self, request: web.Request) -> None:
        if self.key is None:
            return
        given = request.headers.get("Authorization", "")
        if not given.startswith("Bearer ") or not given.removeprefix("Bearer ").strip():
            raise OpenAIError(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if given.removeprefix("Bearer ") != self.key:
            raise OpenAIError(401, "Incorrect API key provided.", code="invalid_api_key")

    def _check(self, body: Any) -> tuple[list[str], str]:
        if not isinstance(body, dict):
            raise OpenAIError(400, "The request body must be a JSON object.")
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            raise OpenAIError(400, f"Unrecognized request argument supplied: {unknown[0]}")
        if "model" not in body:
            raise OpenAIError(400, "you must provide a model parameter", param="model")
        if body["model"] != self.name:
            raise OpenAIError(
                404,
                f"The model `{body['model']}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        if "input" not in body:
            raise OpenAIError(400, "'input' is a required property", param="input")
        given = body["input"]
        texts = [given] if isinstance(given, str) else given
        if (
            not isinstance(texts, list)
            or not texts
            or len(texts) > 2048
            or not all(isinstance(text, str) and text for text in texts)
        ):
            raise OpenAIError(
                400,
                "'$.input' is invalid: give a non-empty string or an array of 1 to 2048 "
                "non-empty strings.",
                param="input",
            )
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise OpenAIError(
                400, f"'{encoding}' is not one of ['float', 'base64']", param="encoding_format"
            )
        dimensions = body.get("dimensions")
        if dimensions is not None and dimensions != self.dims:
            raise OpenAIError(
                400, "This model does not support specifying dimensions.", param="dimensions"
            )
        for text in texts:
            count = len(self.model.tokenize(text.encode("utf-8")))
            if count > CONTEXT:
                raise OpenAIError(
                    400,
                    f"This model's maximum context length is {CONTEXT} tokens, however you "
                    f"requested {count} tokens in your input. Please reduce your input.",
                    param="input",
                )
        return texts, encoding

    def _embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        vectors, tokens = self.model.embed(texts, normalize=True, return_count=True)
        return vectors, int(tokens)


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return vector
