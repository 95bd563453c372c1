"""A chat model behind an OpenAI-compatible server (llama.cpp's ``llama-server``,
llama-cpp-python's ``llama_cpp.server``, vLLM), in place of llama.cpp in this process.

The server applies the model's chat template; replies stream as server-sent events
(``/v1/chat/completions`` with ``stream: true``); the local extractor's JSON schema goes as
``response_format`` so the server constrains decoding to it. Token counts (the summarizer and
the extractor budget the context with them) come from the server's tokenizer endpoint, whichever
of the known ones it offers; the context size is the one configured, which the server must
have at least.

Calls are synchronous on purpose: the pipeline runs model work in threads, off the event loop,
exactly as with the in-process model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any, Literal

import httpx

from pipeline.chat_model import JoinedChat
from pipeline.errors import ModelError
from pipeline.usage import BusyClock

SchemaFormat = Literal["json_object", "json_schema"]
# Reading a reply: a token every few seconds at worst, even on a loaded CPU server.
READ_TIMEOUT = 120.0


class ServerModel(JoinedChat):
    """The same calls as :class:`pipeline.local_llm.LocalModel`, answered by a server."""

    def __init__(
        self,
        base_url: str,
        *,
        n_ctx: int,
        model: str | None = None,
        api_key: str | None = None,
        schema_format: SchemaFormat = "json_object",
        seed: int = 7,
        role: str = "summarizer",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        root = base_url.rstrip("/")
        self._base = root.removesuffix("/v1")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self._base,
            headers=headers,
            timeout=httpx.Timeout(10.0, read=READ_TIMEOUT),
            transport=transport,
        )
        self.role = role
        self.n_ctx = n_ctx
        self.schema_format = schema_format
        self.seed = seed
        self.busy = BusyClock()
        self._closing = False
        self._model_id = model or self._served_model()
        self.name = _display_name(self._model_id)
        self._count = self._tokenizer()
        self.count_tokens = lru_cache(maxsize=8192)(self._count)

    # What the server offers ---------------------------------------------------------------

    def _served_model(self) -> str:
        try:
            answer = self._http.get("/v1/models")
            answer.raise_for_status()
            models = answer.json()["data"]
            return str(models[0]["id"])
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelError(
                f"the {self.role} model server at {self._base} did not list a model: {exc}"
            ) from exc

    def _tokenizer(self) -> Callable[[str], int]:
        """The first tokenizer endpoint the server answers, as a count of tokens."""
        candidates: list[tuple[str, Callable[[str], dict[str, Any]], Callable[[Any], int]]] = [
            # llama-cpp-python's server
            ("/extras/tokenize/count", lambda t: {"input": t}, lambda a: int(a["count"])),
            # llama.cpp's llama-server
            ("/tokenize", lambda t: {"content": t}, lambda a: len(a["tokens"])),
            # vLLM
            (
                "/tokenize",
                lambda t: {"model": self._model_id, "prompt": t},
                lambda a: int(a["count"]),
            ),
        ]
        for path, body, read in candidates:
            try:
                answer = self._http.post(path, json=body("probe"))
                if answer.status_code == 200 and read(answer.json()) > 0:
                    return self._counter(path, body, read)
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                continue
        raise ModelError(
            f"the {self.role} model server at {self._base} offers no tokenizer endpoint "
            "(/extras/tokenize/count or /tokenize): the context cannot be budgeted"
        )

    def _counter(
        self,
        path: str,
        body: Callable[[str], dict[str, Any]],
        read: Callable[[Any], int],
    ) -> Callable[[str], int]:
        def count(text: str) -> int:
            try:
                answer = self._http.post(path, json=body(text))
                answer.raise_for_status()
                return read(answer.json())
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                raise ModelError(f"{self.name}: tokenizing failed: {exc}") from exc

        return count

    # Generation ---------------------------------------------------------------------------

    def stream_chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None = None,
        repeat_penalty: float = 1.1,
    ) -> Generator[str]:
        """Yield the reply's text pieces as the server sends them."""
        body: dict[str, Any] = {
            "model": self._model_id,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": 0.9,
            # llama.cpp's servers take it; others ignore a field they do not know.
            "repeat_penalty": repeat_penalty,
            # The same answer for the same call, as llama.cpp here gives with its fixed seed.
            "seed": self.seed,
            "stream": True,
        }
        if json_schema is not None:
            body["response_format"] = self._response_format(json_schema)
        try:
            with (
                self.busy.running(),
                self._http.stream("POST", "/v1/chat/completions", json=body) as answer,
            ):
                if answer.status_code != 200:
                    answer.read()
                    raise ModelError(
                        f"{self.name} answered {answer.status_code}: {answer.text[:300]}"
                    )
                for line in answer.iter_lines():
                    if self._closing:
                        raise ModelError(f"{self.name} is shutting down")
                    piece = _piece(line)
                    if piece is _DONE:
                        return
                    if piece:
                        yield str(piece)
        except httpx.HTTPError as exc:
            raise ModelError(f"{self.name} failed: {exc}") from exc

    def _response_format(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self.schema_format == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": True},
            }
        return {"type": "json_object", "schema": schema}

    def close(self, timeout: float = 30.0) -> None:
        self._closing = True
        self._http.close()


_DONE = object()


def _piece(line: str) -> object:
    """The text in one server-sent event line, ``_DONE`` at the end, None for anything else."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return _DONE
    try:
        chunk = json.loads(data)
        error = chunk.get("error")
        content = None if error else chunk["choices"][0]["delta"].get("content")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise ModelError(
            f"the model server sent an event that is not a chat chunk: {data[:200]}"
        ) from None
    if error:
        raise ModelError(f"the model server reported an error: {str(error)[:300]}")
    return content if isinstance(content, str) else None


def _display_name(model_id: str) -> str:
    """A served model's name as runs record it: a file path becomes the file's name."""
    if "/" in model_id and model_id.endswith(".gguf"):
        return PurePosixPath(model_id).stem
    return model_id
