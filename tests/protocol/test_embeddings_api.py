"""The embeddings client against an OpenAI-compatible endpoint serving a real model (SmolLM2
through llama.cpp, ``tests/fakes/embeddings_server.py``): batches put back in order, refusals
named with the server's own words, an endpoint down or slow named as such; and the endpoint
itself as strict as OpenAI's."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator

import aiohttp
import llama_cpp
import numpy as np
import pytest
import pytest_asyncio

from smartnotes.search.embeddings_api import (
    MAX_INPUT_CHARS,
    EmbeddingsClient,
    EmbeddingsRefusedError,
    EmbeddingsUnavailableError,
    open_embeddings_client,
)
from smartnotes.settings import SearchSettings
from tests.fakes.embeddings_server import MODEL_NAME, EmbeddingsServer, load_embedding_model

pytestmark = pytest.mark.models
KEY = "sk-embeddings-test"
TEXTS = ["Legal needs the DPA.", "Send annual pricing.", "Ana will call Daniel on Friday."]


@pytest.fixture(scope="module")
def model() -> Iterator[llama_cpp.Llama]:
    loaded = load_embedding_model()
    yield loaded
    loaded.close()


@pytest_asyncio.fixture
async def server(model: llama_cpp.Llama) -> AsyncIterator[EmbeddingsServer]:
    served = EmbeddingsServer(model, key=KEY)
    await served.start()
    yield served
    await served.stop()


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _client(
    http: aiohttp.ClientSession, server: EmbeddingsServer, **options: object
) -> EmbeddingsClient:
    settings: dict[str, object] = {"key": KEY, "batch": 2, "timeout": 60.0, **options}
    return EmbeddingsClient(http, server.base_url + "/v1", MODEL_NAME, **settings)  # type: ignore[arg-type]


async def test_texts_are_embedded_in_batches_and_in_order(
    server: EmbeddingsServer, http: aiohttp.ClientSession
) -> None:
    client = _client(http, server)
    vectors = await client.embed(TEXTS)
    assert vectors.shape == (3, server.dims)
    # Two requests of at most two texts, with the key, the model and floats asked for.
    assert [len(body["input"]) for body in server.accepted] == [2, 1]
    assert {seen.authorization for seen in server.requests} == {f"Bearer {KEY}"}
    assert all(body["model"] == MODEL_NAME for body in server.accepted)
    assert all(body["encoding_format"] == "float" for body in server.accepted)
    # Each row is its own text's vector, whatever batch it went in.
    alone = await client.embed([TEXTS[2]])
    assert np.allclose(alone[0], vectors[2], atol=1e-4)
    assert not np.allclose(vectors[0], vectors[2], atol=1e-4)
    # The model's own size, asked for explicitly, is accepted.
    sized = await _client(http, server, dimensions=server.dims).embed(TEXTS[:1])
    assert sized.shape == (1, server.dims)
    assert server.accepted[-1]["dimensions"] == server.dims
    assert (await client.embed([])).shape[0] == 0


async def test_a_long_text_is_cut_to_what_any_model_takes(
    server: EmbeddingsServer, http: aiohttp.ClientSession
) -> None:
    vectors = await _client(http, server).embed(["DPA " * 5000])
    assert vectors.shape == (1, server.dims)
    assert len(server.accepted[-1]["input"][0]) == MAX_INPUT_CHARS


async def test_refusals_carry_the_servers_words(
    server: EmbeddingsServer, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(EmbeddingsRefusedError, match=r"\(401\): Incorrect API key provided"):
        await _client(http, server, key="sk-wrong").embed(TEXTS[:1])
    with pytest.raises(EmbeddingsRefusedError, match="didn't provide an API key"):
        await _client(http, server, key=None).embed(TEXTS[:1])
    with pytest.raises(EmbeddingsRefusedError, match=r"\(404\): The model `other` does not"):
        await EmbeddingsClient(http, server.base_url, "other", key=KEY).embed(TEXTS[:1])
    with pytest.raises(EmbeddingsRefusedError, match="does not support specifying dimensions"):
        await _client(http, server, dimensions=8).embed(TEXTS[:1])
    assert server.accepted == []


async def test_an_endpoint_down_or_slow_is_unavailable(
    server: EmbeddingsServer, http: aiohttp.ClientSession
) -> None:
    server.delay = 2.0
    with pytest.raises(EmbeddingsUnavailableError, match=r"did not answer within 0\.5 s"):
        await _client(http, server).embed(TEXTS[:1], seconds=0.5)
    server.delay = 0.0
    await server.stop()
    with pytest.raises(EmbeddingsUnavailableError, match="could not be reached"):
        await _client(http, server).embed(TEXTS[:1])


async def test_the_endpoint_refuses_what_openai_refuses(
    server: EmbeddingsServer, http: aiohttp.ClientSession
) -> None:
    url = server.base_url + "/v1/embeddings"
    headers = {"Authorization": f"Bearer {KEY}"}
    refused = [
        ({"model": MODEL_NAME}, 400, "input"),
        ({"input": ["x"]}, 400, "model"),
        ({"model": MODEL_NAME, "input": []}, 400, "input"),
        ({"model": MODEL_NAME, "input": [""]}, 400, "input"),
        ({"model": MODEL_NAME, "input": "x", "encoding_format": "int8"}, 400, "encoding_format"),
        ({"model": MODEL_NAME, "input": "x", "temperature": 0}, 400, None),
    ]
    for body, status, param in refused:
        async with http.post(url, json=body, headers=headers) as answer:
            error = (await answer.json())["error"]
        assert answer.status == status, body
        assert error["type"] == "invalid_request_error"
        assert error["param"] == param, body
        assert error["message"]
    async with http.post(url, data=b"{", headers=headers) as answer:
        assert answer.status == 400
    body = {"model": MODEL_NAME, "input": "Send the DPA.", "encoding_format": "base64"}
    async with http.post(url, json=body, headers=headers) as answer:
        assert answer.status == 200
        found = await answer.json()
    packed = base64.b64decode(found["data"][0]["embedding"])
    assert len(packed) == 4 * server.dims
    assert found["model"] == MODEL_NAME
    assert found["usage"]["prompt_tokens"] == found["usage"]["total_tokens"] > 0


async def test_no_url_no_client() -> None:
    async with open_embeddings_client(SearchSettings()) as client:
        assert client is None
    config = SearchSettings(embeddings_url="http://127.0.0.1:9/v1", embeddings_model=" m ")
    async with open_embeddings_client(config) as client:
        assert client is not None
        assert (client.url, client.model) == ("http://127.0.0.1:9/v1/embeddings", "m")
