"""One loaded llama.cpp model, shared by the summarizer and the local task extractor."""

from __future__ import annotations

import json
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

from pipeline.chat_model import JoinedChat
from pipeline.cores import model_threads
from pipeline.errors import ModelError
from pipeline.usage import BusyClock

# A meeting transcript needs room: llama.cpp's 512-token default holds about two minutes of talk.
DEFAULT_CONTEXT = 8192


class LocalModel(JoinedChat):
    """A GGUF chat model in llama.cpp; the chat template comes from the GGUF's own metadata.

    llama.cpp contexts are not thread-safe, so every generation holds ``lock``; callers that
    must go in a given order (the summary before local extraction) sequence themselves.
    """

    def __init__(
        self,
        path: Path,
        *,
        n_ctx: int = DEFAULT_CONTEXT,
        n_threads: int | None = None,
        seed: int = 7,
        role: str = "summarizer",
    ) -> None:
        if not path.exists():
            raise ModelError(f"{role} model not found: {path}")
        if not path.is_file():
            raise ModelError(f"{role} model path is not a file: {path}")
        with path.open("rb") as handle:
            magic = handle.read(4)
        if magic != b"GGUF":
            raise ModelError(f"{role} model is not a GGUF file: {path}")
        from llama_cpp import Llama  # imported here: loading the native library takes time

        try:
            self._llm = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads or model_threads(),
                seed=seed,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"cannot load {role} model {path}: {exc}") from exc
        self.path = path
        self.name = _model_name(self._llm, path)
        self.n_ctx = self._llm.n_ctx()
        self.lock = threading.Lock()
        self.busy = BusyClock()
        self._closing = False
        self._grammars: dict[str, Any] = {}

    @property
    def context_tokens(self) -> int:
        """Tokens in the context now: the last prompt plus what was generated after it."""
        return int(self._llm.n_tokens)

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream_chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: dict[str, Any] | None = None,
        repeat_penalty: float = 1.1,
    ) -> Generator[str]:
        """Yield the reply's text pieces as llama.cpp produces them (holds ``lock``); with
        ``json_schema``, under the grammar llama.cpp makes of it."""
        grammar = self._grammar(json_schema) if json_schema is not None else None
        with self.lock, self.busy.running():
            try:
                chunks = self._llm.create_chat_completion(
                    messages=messages,  # type: ignore[arg-type]
                    max_tokens=max_tokens,
                    temperature=temperature,
                    top_p=0.9,
                    repeat_penalty=repeat_penalty,
                    grammar=grammar,
                    stream=True,
                )
                for chunk in chunks:
                    if self._closing:
                        raise ModelError(f"{self.name} is shutting down")
                    delta: Any = chunk["choices"][0]["delta"]  # type: ignore[index]
                    piece = delta.get("content") if isinstance(delta, dict) else None
                    if isinstance(piece, str) and piece:
                        yield piece
            except (RuntimeError, ValueError) as exc:
                # llama.cpp reports a prompt over the context and decode failures this way.
                raise ModelError(f"{self.name} failed: {exc}") from exc

    def _grammar(self, schema: dict[str, Any]) -> Any:
        """The grammar of ``schema``, made once per schema (it takes a while to build)."""
        key = json.dumps(schema, sort_keys=True)
        grammar = self._grammars.get(key)
        if grammar is None:
            from llama_cpp.llama_grammar import LlamaGrammar

            grammar = self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        return grammar

    def close(self, timeout: float = 30.0) -> None:
        """Free the model once no generation uses it: freeing the context under a running
        decode (a run's thread still going at shutdown) crashes the process."""
        self._closing = True
        if not self.lock.acquire(timeout=timeout):
            # A generation that does not stop: leaking the model beats a crash on the way out.
            return
        try:
            self._llm.close()
        finally:
            self.lock.release()


def _model_name(llm: Any, path: Path) -> str:
    metadata: dict[str, str] = getattr(llm, "metadata", {}) or {}
    return metadata.get("general.name") or path.stem
