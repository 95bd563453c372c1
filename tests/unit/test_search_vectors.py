"""Ranking by meaning as plain data: vectors stored and compared, two rankings fused, and the
search settings that turn it on."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from smartnotes.search.vectors import RRF_K, fuse, nearest, pack, unit, unpack
from smartnotes.settings import SearchSettings, Settings


def test_vectors_are_stored_as_little_endian_float32_at_unit_length() -> None:
    vector = unit([3.0, 4.0])[0]
    assert vector.tolist() == pytest.approx([0.6, 0.8])
    data = pack(vector)
    assert data == np.array([0.6, 0.8], dtype="<f4").tobytes()
    assert unpack(data).tolist() == pytest.approx([0.6, 0.8])
    # A zero vector matches nothing rather than dividing by zero.
    assert unit([0.0, 0.0]).tolist() == [[0.0, 0.0]]


def test_fusion_orders_by_reciprocal_rank_with_exact_ties() -> None:
    words = ["a", "b", "c"]
    meaning = ["c", "d", "a"]
    # a: 1/61 + 1/63, c: 1/63 + 1/61 (a tie: a has the better single rank in the earlier
    # ranking), b: 1/62, d: 1/62 (a tie: b's ranking comes first).
    assert fuse([words, meaning], limit=10) == ["a", "c", "b", "d"]
    assert fuse([words, meaning], limit=2) == ["a", "c"]
    # Found both ways beats first place one way: 2/(k+3) > 1/(k+1).
    assert fuse([["x", "y", "z"], ["q", "r", "z"]], limit=1) == ["z"]
    assert 2 / (RRF_K + 3) > 1 / (RRF_K + 1)
    assert fuse([[], []], limit=5) == []


def test_nearest_ranks_by_cosine_above_the_threshold() -> None:
    rows = unit([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    candidates = [(n, pack(row)) for n, row in enumerate(rows)]
    # A vector of another length (another model's) is not compared.
    candidates.append((99, pack([1.0, 0.0])))
    query = unit([1, 0.1, 0])[0]
    found = nearest(query, candidates, depth=10, min_similarity=0.3)
    assert [key for key, _ in found] == [0, 1]
    assert found[0][1] == pytest.approx(float(rows[0] @ query))
    assert [k for k, _ in nearest(query, candidates, depth=3, min_similarity=-1)] == [0, 1, 2]
    assert nearest(query, [], depth=3, min_similarity=-1) == []


def test_a_question_sharing_no_word_is_found_by_meaning() -> None:
    """ "security paperwork" shares no word with "Send the signed DPA": the words' ranking has
    nothing, and the fused ranking is the meaning's, the DPA first."""
    segments = {
        1: "Send the signed DPA",
        2: "Send annual pricing",
        3: "Ben walked Ana through the roadmap",
    }
    # Hand-made vectors on axes (legal papers, money, product): the model is not the point.
    vectors = {1: [0.9, 0.1, 0.0], 2: [0.1, 0.9, 0.1], 3: [0.0, 0.2, 0.9]}
    question = unit([1.0, 0.0, 0.1])[0]
    candidates = [(key, pack(unit(v)[0])) for key, v in vectors.items()]
    by_meaning = [key for key, _ in nearest(question, candidates, depth=50, min_similarity=0.3)]
    by_words: list[int] = []
    fused = fuse([by_words, by_meaning], limit=20)
    assert fused == [1]
    assert segments[fused[0]] == "Send the signed DPA"


def test_search_by_meaning_is_off_by_default_and_checked_when_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not Settings(_env_file=None).search.embeddings  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="SMARTNOTES_SEARCH__EMBEDDINGS_MODEL"):
        SearchSettings(embeddings_url="http://127.0.0.1:8000")
    with pytest.raises(ValidationError, match="must start with http"):
        SearchSettings(embeddings_url="127.0.0.1:8000", embeddings_model="m")
    monkeypatch.setenv("SMARTNOTES_SEARCH__EMBEDDINGS_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("SMARTNOTES_SEARCH__EMBEDDINGS_MODEL", "text-embedding-3-small")
    monkeypatch.setenv("SMARTNOTES_SEARCH__EMBEDDINGS_KEY", "sk-secret")
    monkeypatch.setenv("SMARTNOTES_SEARCH__EMBEDDINGS_DIMENSIONS", "256")
    search = Settings(_env_file=None).search  # type: ignore[call-arg]
    assert search.embeddings
    assert search.embeddings_key is not None
    assert search.embeddings_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(search)
    assert search.embeddings_dimensions == 256
