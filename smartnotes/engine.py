"""Build the pipeline from settings: load each model once, and only the ones a job needs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anthropic

from pipeline.asr import Transcriber
from pipeline.chat_model import ChatModel
from pipeline.claude import ClaudeExtractor
from pipeline.demo_models import demo_asr_model, demo_summarizer_model
from pipeline.local_extractor import LocalExtractor
from pipeline.local_llm import LocalModel
from pipeline.model_server import ServerModel
from pipeline.process import Pipeline
from pipeline.prompting import Prompts
from pipeline.summarizer import Summarizer, SummaryOptions
from smartnotes.settings import Settings


def claude_client(settings: Settings) -> anthropic.AsyncAnthropic | None:
    """The Messages API client every Claude call of the service uses; None without a key."""
    key = settings.anthropic_api_key
    if key is None:
        return None
    return anthropic.AsyncAnthropic(
        api_key=key.get_secret_value(),
        base_url=settings.anthropic_base_url,
        timeout=settings.extractor_timeout,
        max_retries=settings.extractor_max_retries,
    )


class Engine:
    """Owns the loaded models; the transcriber loads on first use (text calls never need it)."""

    def __init__(
        self, settings: Settings, *, on_claude_usage: Callable[[int, int], None] | None = None
    ) -> None:
        self.settings = settings
        self.on_claude_usage = on_claude_usage
        self._client: anthropic.AsyncAnthropic | None = None
        self.prompts = Prompts.load(settings.prompts_dir)
        self.model = self._chat_model()
        self.pipeline = Pipeline(
            summarizer=Summarizer(
                self.model, self.prompts, SummaryOptions(max_tokens=settings.summary_max_tokens)
            ),
            local_extractor=LocalExtractor(
                self.model, self.prompts, max_tasks_per_part=settings.local_extractor_max_tasks
            ),
            remote_extractor=self._claude(),
            recall_check=settings.recall_check,
            max_call_seconds=settings.max_call_minutes * 60,
        )
        self._transcriber: Transcriber | None = None

    def _chat_model(self) -> ChatModel:
        """The summarizer's model: a model server when one is configured, else llama.cpp here."""
        settings = self.settings
        if settings.summarizer_url:
            key = settings.summarizer_server_key
            return ServerModel(
                settings.summarizer_url,
                n_ctx=settings.summarizer_context,
                model=settings.summarizer_server_model or None,
                api_key=key.get_secret_value() if key else None,
                schema_format=settings.summarizer_server_schema,
            )
        return LocalModel(
            settings.summarizer_model or demo_summarizer_model(),
            n_ctx=settings.summarizer_context,
            n_threads=settings.summarizer_threads,
        )

    def _claude(self) -> ClaudeExtractor | None:
        client = self._client = claude_client(self.settings)
        if client is None:
            return None
        return ClaudeExtractor(
            client,
            self.prompts,
            model=self.settings.extractor_model,
            temperature=self.settings.extractor_temperature,
            on_usage=self.on_claude_usage,
        )

    @property
    def asr_path(self) -> Path:
        return self.settings.asr_model or demo_asr_model()

    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            self._transcriber = Transcriber(
                self.asr_path,
                compute_type=self.settings.asr_compute_type,
                cpu_threads=self.settings.asr_threads,
                language=self.settings.asr_language,
            )
        return self._transcriber

    async def aclose(self) -> None:
        """Close the Claude client inside the event loop that used it."""
        if self._client is not None:
            await self._client.close()

    def close(self) -> None:
        self.model.close()
