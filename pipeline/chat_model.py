"""What the summarizer and the local extractor need of a chat model: llama.cpp in this
process (``pipeline.local_llm.LocalModel``) or a model server
(``pipeline.model_server.ServerModel``)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Protocol

from pipeline.usage import BusyClock


class ChatModel(Protocol):
    name: str
    n_ctx: int
    # The time spent generating, per calling thread: what a run's usage records.
    busy: BusyClock

    def count_tokens(self, text: str) -> int: ...

    def stream_chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None = None,
        repeat_penalty: float = 1.1,
    ) -> Generator[str]:
        """The reply's text pieces as they are generated; with ``json_schema``, decoding is
        constrained to it."""
        ...

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None = None,
        repeat_penalty: float = 1.1,
    ) -> str: ...

    def close(self, timeout: float = 30.0) -> None: ...


class JoinedChat:
    """``chat`` for a model that streams: the whole reply, from ``stream_chat``'s pieces."""

    def stream_chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None = None,
        repeat_penalty: float = 1.1,
    ) -> Generator[str]:
        raise NotImplementedError

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None = None,
        repeat_penalty: float = 1.1,
    ) -> str:
        return "".join(
            self.stream_chat(
                messages,
                max_tokens=max_tokens,
                temperature=temperature,
                json_schema=json_schema,
                repeat_penalty=repeat_penalty,
            )
        )
