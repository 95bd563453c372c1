"""The summarizer and the local extractor through a real OpenAI-compatible model server:
llama-cpp-python's own ``llama_cpp.server`` with the bundled SmolLM2, on a loopback port.

Greedy decoding (temperature 0) makes the server's reply and llama.cpp's in this process the
same text for the same prompt: the chat template is applied on the server's side, from the
same GGUF, so any difference would be ours.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from pipeline.demo_models import demo_summarizer_model
from pipeline.errors import ModelError
from pipeline.formats import parse_transcript_text
from pipeline.local_extractor import LocalExtractor
from pipeline.local_llm import LocalModel
from pipeline.model_server import ServerModel
from pipeline.prompting import Prompts
from pipeline.summarizer import Summarizer, SummaryOptions
from smartnotes.settings import Settings
from tests.api_client import running_api
from tests.integration.test_api_review import REP, UPLOAD
from tests.integration.test_models import CONTEXT, SAMPLES
from tests.seed import seed_user

pytestmark = pytest.mark.models

MESSAGES = [
    {"role": "system", "content": "You write short meeting notes."},
    {"role": "user", "content": "Daniel asked for a revised quote by Friday. Summarize."},
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("model-server") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(demo_summarizer_model())]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"]
    command += ["--n_threads", "1", "--seed", "7"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "NO_PROXY": "*"}
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not _answers(url):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, (
                f"the model server did not start:\n{log.read_text()}"
            )
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v1/models", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def served(server_url: str) -> Iterator[ServerModel]:
    model = ServerModel(f"{server_url}/v1", n_ctx=4096)
    yield model
    model.close()


def test_the_server_streams_what_llama_cpp_here_writes(
    served: ServerModel, local_model: LocalModel
) -> None:
    assert served.name == local_model.path.stem
    text = "Daniel Okafor asked for the annual pricing by Friday."
    assert served.count_tokens(text) == local_model.count_tokens(text)
    pieces = list(served.stream_chat(MESSAGES, max_tokens=40, temperature=0.0))
    assert len(pieces) > 5, "the reply came in one piece: not streamed"
    here = local_model.chat(MESSAGES, max_tokens=40, temperature=0.0)
    assert "".join(pieces) == here


def test_the_local_extractor_gets_schema_constrained_json_from_the_server(
    served: ServerModel, prompts: Prompts
) -> None:
    transcript = parse_transcript_text((SAMPLES / "sales_call.vtt").read_text())
    tasks = LocalExtractor(served, prompts, max_tasks_per_part=4).extract_sync(transcript, CONTEXT)
    assert tasks, "the extractor found no task in a call full of them"
    assert all(task.title for task in tasks)


def test_a_summary_streams_through_the_server(served: ServerModel, prompts: Prompts) -> None:
    transcript = parse_transcript_text((SAMPLES / "sales_call.vtt").read_text())
    tokens: list[str] = []
    summary = Summarizer(served, prompts, SummaryOptions(max_tokens=64)).summarize(
        transcript, on_token=tokens.append
    )
    assert summary.strip()
    assert len(tokens) > 5
    assert "".join(tokens).strip() == summary.strip()


def test_a_server_without_a_model_or_a_tokenizer_is_named(server_url: str) -> None:
    with pytest.raises(ModelError, match="did not list a model"):
        ServerModel("http://127.0.0.1:9/v1", n_ctx=4096)

    def no_tokenizer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        return httpx.Response(404)

    with pytest.raises(ModelError, match="no tokenizer endpoint"):
        ServerModel(server_url, n_ctx=4096, transport=httpx.MockTransport(no_tokenizer))
    with pytest.raises(ValueError, match="must start with http"):
        Settings(summarizer_url="127.0.0.1:8000")


async def test_a_call_is_processed_with_the_model_on_a_server(
    server_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        summarizer_url=f"{server_url}/v1",
        summarizer_context=4096,
        summary_max_tokens=32,
        workers=1,
        # No Claude key: the local extractor runs, on the server too.
        anthropic_api_key=None,
        summarizer_server_key=SecretStr("unused-by-this-server"),
    )
    async with running_api(settings) as api:
        await seed_user(api.service.sessions, *REP, name="Maria Chen")
        # The demo call: the bundled model summarizes it without copying lines.
        upload = {**UPLOAD, "transcript": (SAMPLES / "sales_call.vtt").read_text()}
        status, created = await api.call("POST", "/api/runs", as_user=REP, json_body=upload)
        assert status == 202, created
        view = await api.wait_for(
            created["run_id"], REP, lambda v: v["status"] in ("needs_review", "failed")
        )
    assert view["status"] == "needs_review", view["error"]
    assert view["summary"]["text"]
    assert view["extractor"]["name"] == "local"
    assert view["extractor"]["model"] == demo_summarizer_model().stem
