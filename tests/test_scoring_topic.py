"""Topic alignment and the shared MiniLM embedder (loads the real bundled model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scoring_models import make_tiny_encoder

from engagegen.scoring import Embedder, ScoringError, ScoringWarning, TopicAlignment, reused_embeddings

pytestmark = pytest.mark.slow
DATA = Path(__file__).parent / "data"


def read_topic_set() -> tuple[list[str], np.ndarray]:
    rows = [line.split("\t", 1) for line in (DATA / "scoring_topic_cats.tsv").read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]
    return [text for _, text in rows], np.array([label == "on" for label, _ in rows])


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    pos, neg = scores[labels], scores[~labels]
    return float(((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg)))


def test_on_topic_posts_separate_from_off_topic_ones():
    texts, on = read_topic_set()
    assert on.sum() >= 20 and (~on).sum() >= 20
    similarity = TopicAlignment("cats").details(texts).similarity
    auc = roc_auc(on, similarity)
    lowest_on, highest_off = similarity[on].min(), similarity[~on].max()
    print(f"\ntopic 'cats': ROC-AUC {auc:.3f}; on-topic cosine {similarity[on].mean():.3f} mean, {lowest_on:.3f} min; "
          f"off-topic {similarity[~on].mean():.3f} mean, {highest_off:.3f} max; any threshold in "
          f"({highest_off:.3f}, {lowest_on:.3f}) separates them")
    assert auc >= 0.95
    assert lowest_on > highest_off


def test_score_is_floored_cosine_and_keywords_add_once():
    plain = TopicAlignment("cats")
    with_kw = TopicAlignment("cats", keywords=["cat", "kitten"], keyword_bonus=0.1)
    texts = ["My cat naps all day.", "My cat cat cat cat naps.", "Interest rates rose again.", "Two kittens!"]
    d = with_kw.details(texts)
    assert d.keyword.tolist() == [True, True, False, True]  # plural forms match
    np.testing.assert_allclose(d.score, np.minimum(np.clip(d.similarity, 0, 1) + 0.1 * d.keyword, 1))
    np.testing.assert_allclose(plain.score(texts), np.clip(d.similarity, 0, 1), atol=1e-6)
    # stuffing the keyword earns the bonus once, no more
    assert d.score[1] - np.clip(d.similarity[1], 0, 1) == pytest.approx(0.1)


def test_required_keywords():
    scorer = TopicAlignment("cats", keywords=["cat"], keyword_mode="require")
    result = scorer.evaluate(["Felines are lovely companions.", "My cat is lovely."])
    assert result.values[0] == 0.0 and result.reasons[0] == "no keyword"
    assert result.values[1] > 0.3


def test_empty_text_and_bad_configuration():
    result = TopicAlignment("cats").evaluate(["", "cats"])
    assert result.values[0] == 0.0 and result.reasons[0] == "empty text"
    with pytest.raises(ScoringError, match="topic"):
        TopicAlignment(" ")
    with pytest.raises(ScoringError, match="keyword_mode"):
        TopicAlignment("cats", keywords=["cat"], keyword_mode="maybe")
    with pytest.raises(ScoringError, match="list of words"):
        TopicAlignment("cats", keywords="cat")


def test_embedder_is_shared_and_normalised_and_reuses_only_inside_a_block(monkeypatch: pytest.MonkeyPatch):
    shared = Embedder.shared()
    assert TopicAlignment("cats").embedder is shared
    assert Embedder.shared() is shared is Embedder.shared(precision=shared.precision)  # "auto" resolved
    texts = ["A cat on a mat.", "A dog in a fog.", "A cat on a mat."]
    vectors = shared.encode(texts)
    assert vectors.shape == (3, shared.dimension) == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    alone = shared.encode(["A dog in a fog."])[0]
    forwards = []
    forward = Embedder._forward
    monkeypatch.setattr(Embedder, "_forward", lambda self, model, todo, progress: forwards.append(todo) or forward(self, model, todo, progress))
    with reused_embeddings():
        first = shared.encode(["A long sentence about a dog sitting in a thick fog.", "A dog in a fog."])
        with reused_embeddings():  # nested: the same block
            np.testing.assert_array_equal(shared.encode(["A dog in a fog."])[0], first[1])  # taken as it was
    assert len(forwards) == 1
    # after the block nothing is kept: embedded alone again, as the first time, whatever came between
    np.testing.assert_array_equal(shared.encode(["A dog in a fog."])[0], alone)
    assert len(forwards) == 2


def test_bfloat16_embeddings_match_float32():
    texts = ["My cat sleeps all day in the sun.", "The central bank raised rates.", "Cats! 😻"]
    fast = Embedder(precision="bfloat16").encode(texts)
    exact = Embedder(precision="float32").encode(texts)
    cosine = (fast * exact).sum(axis=1)
    assert cosine.min() > 0.999


def test_text_over_the_token_limit_warns():
    with pytest.warns(ScoringWarning, match="256-token limit"):
        Embedder.shared().encode(["cats " * 400])


def test_embedder_errors():
    with pytest.raises(ScoringError, match="precision"):
        Embedder(precision="int4")
    with pytest.raises(ScoringError, match="no such folder"):
        Embedder("/no/such/model").encode(["x"])
    with pytest.raises(TypeError, match="position 1"):
        Embedder.shared().encode(["ok", None])


def test_embeddings_match_sentence_transformers():
    """The embedder reads the sentence-transformers folder with transformers alone; its float32
    embeddings equal the ones sentence-transformers 6.3 computed (stored: stripped text, empty text,
    accents and emoji, a text over the 256-token limit)."""
    reference = json.loads((DATA / "minilm_reference.json").read_text(encoding="utf-8"))
    with pytest.warns(ScoringWarning, match="256-token limit"):
        vectors = Embedder(precision="float32").encode(reference["texts"])
    np.testing.assert_allclose(vectors, np.array(reference["embeddings"], dtype=np.float32), atol=2e-6)


def write_sentence_folder(folder: Path, modules: list[str], pooling: dict[str, bool]) -> Path:
    """A sentence-transformers folder around a tiny BERT encoder (random weights, the MiniLM tokenizer)."""
    make_tiny_encoder(folder)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")
    layout = [{"idx": i, "name": str(i), "path": "" if i == 0 else f"{i}_{kind}", "type": f"sentence_transformers.models.{kind}"}
              for i, kind in enumerate(modules)]
    (folder / "modules.json").write_text(json.dumps(layout), encoding="utf-8")
    return folder


@pytest.mark.parametrize("mode", ["cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens"])
def test_pooling_modes_of_a_sentence_folder(tmp_path: Path, mode: str):
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = write_sentence_folder(tmp_path, ["Transformer", "Pooling", "Normalize"], {f"pooling_mode_{mode}": True})
    texts = ["A cat.", "  A cat sat on the warm mat all day.  "]
    vectors = Embedder(folder, precision="float32").encode(texts)
    tokenizer, encoder = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder)
    with torch.no_grad():
        for text, vector in zip(texts, vectors):  # each text alone: no padding to mask
            tokens = encoder(**tokenizer(text.strip(), return_tensors="pt")).last_hidden_state[0]
            pooled = {"cls_token": tokens[0], "mean_tokens": tokens.mean(0), "max_tokens": tokens.max(0).values,
                      "mean_sqrt_len_tokens": tokens.sum(0) / len(tokens) ** 0.5}[mode]
            np.testing.assert_allclose(vector, torch.nn.functional.normalize(pooled, dim=0).numpy(), atol=1e-5)


def test_plain_encoder_folder_is_mean_pooled(tmp_path: Path):
    pooled = write_sentence_folder(tmp_path / "st", ["Transformer", "Pooling"], {"pooling_mode_mean_tokens": True})
    plain = make_tiny_encoder(tmp_path / "plain")
    texts = ["A cat.", "Two dogs and a cat in the sun."]
    np.testing.assert_allclose(Embedder(plain, precision="float32").encode(texts),
                               Embedder(pooled, precision="float32").encode(texts), atol=1e-6)


def test_sentence_folders_engagegen_cannot_read_are_refused(tmp_path: Path):
    dense = write_sentence_folder(tmp_path / "dense", ["Transformer", "Pooling", "Dense"], {"pooling_mode_mean_tokens": True})
    with pytest.raises(ScoringError, match="this model has Transformer, Pooling, Dense"):
        Embedder(dense).encode(["x"])
    weighted = write_sentence_folder(tmp_path / "weighted", ["Transformer", "Pooling"],
                                     {"pooling_mode_weightedmean_tokens": True, "pooling_mode_mean_tokens": False})
    with pytest.raises(ScoringError, match="pooling weightedmean_tokens is not supported"):
        Embedder(weighted).encode(["x"])
    broken = write_sentence_folder(tmp_path / "broken", ["Transformer", "Pooling"], {})
    (broken / "modules.json").write_text("[{", encoding="utf-8")
    with pytest.raises(ScoringError, match="modules.json: cannot read"):
        Embedder(broken).encode(["x"])
