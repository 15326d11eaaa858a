"""Cross-modal retrieval: the index, its search, and Recall@K on held-out pairs."""

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import FunctionTransformer

from mmsent.fusion import CrossModalProjector
from mmsent.retrieval import CrossModalIndex, pair_ranks, plot_recall_at_k, recall_at_k, retrieval_scores
from mmsent.retrieval._metrics import _true_pair_ranks

STACK = FunctionTransformer(np.vstack)


def topical_posts(n=120, seed=0, rng_maps=None, noise=0.3):
    """Posts whose text and image are two noisy views of the same 6-d topic."""
    maps = rng_maps or np.random.default_rng(42)
    to_text, to_image = maps.normal(size=(6, 15)), maps.normal(size=(6, 12))
    rng = np.random.default_rng(seed)
    topic = rng.normal(size=(n, 6))
    text = topic @ to_text + noise * rng.normal(size=(n, 15))
    image = topic @ to_image + noise * rng.normal(size=(n, 12))
    return pd.DataFrame({"text": list(text), "image": list(image)}, index=[f"post{i}" for i in range(n)])


def index_for(method="cca", **params):
    projector = CrossModalProjector(method, n_components=6, svd_components=20)
    return CrossModalIndex(STACK, STACK, projector=projector, **params)


def test_search_finds_each_posts_partner_in_both_directions():
    posts = topical_posts()
    index = index_for().fit(posts)
    scores, found = index.search(posts["text"], modality="text", k=5)
    assert (found[:, 0] == np.arange(len(posts))).mean() > 0.9
    assert (np.diff(scores, axis=1) <= 0).all()  # best first
    _, found = index.search(posts["image"], modality="image", k=5)
    assert (index.text_ids_[found[:, 0]] == posts.index.to_numpy()).mean() > 0.9


def test_scores_are_cosines_in_the_shared_space():
    posts = topical_posts(n=40)
    index = index_for().fit(posts)
    scores, found = index.search(posts["text"][:3], modality="text", k=40)
    t = index.projector_.transform_text(np.vstack(posts["text"][:3]))
    v = index.projector_.transform_image(np.vstack(posts["image"]))
    cosine = (t / np.linalg.norm(t, axis=1, keepdims=True)) @ (v / np.linalg.norm(v, axis=1, keepdims=True)).T
    np.testing.assert_allclose(scores, np.sort(cosine, axis=1)[:, ::-1])
    np.testing.assert_allclose(np.take_along_axis(cosine, found, axis=1), scores)


def test_held_out_pairs_rank_well_with_alignment_and_at_random_without():
    posts, held_out = topical_posts(seed=0), topical_posts(seed=1)
    results = {method: retrieval_scores(pair_ranks(index_for(method).fit(posts), held_out)) for method in
               ("cca", "pls", "none")}
    for method in ("cca", "pls"):
        assert (results[method]["recall@10"] > 0.8).all()
    # The two views' own SVD directions are unrelated: about the random ranking's K / n.
    assert (results["none"]["recall@10"] < 3 * results["none"]["random_recall@10"]).all()


def test_ranks_by_hand():
    similarity = np.array([[0.9, 0.1, 0.5], [0.95, 0.2, 0.3], [0.0, 0.1, 0.1]])
    assert _true_pair_ranks(similarity).tolist() == [1, 3, 2]  # a tie counts against the true partner
    assert _true_pair_ranks(similarity.T).tolist() == [2, 1, 3]
    assert recall_at_k([1, 3, 2], 2) == pytest.approx(2 / 3)
    table = retrieval_scores({"text_to_image": [1, 3, 2, 8]}, ks=(1, 5))
    assert table.loc["text_to_image"].to_dict() == {
        "recall@1": 0.25, "recall@5": 0.75, "median_rank": 2.5, "n_candidates": 4.0,
        "random_recall@1": 0.25, "random_recall@5": 1.0,
    }


def test_posts_lacking_a_modality_stay_out_of_its_index():
    posts = topical_posts(n=60)
    posts.loc["post3", "image"] = None
    posts.loc["post7", "text"] = "  "
    index = index_for().fit(posts)
    assert "post3" not in index.image_ids_ and "post3" in index.text_ids_
    assert "post7" not in index.text_ids_ and len(index.text_ids_) == 59
    # post3's text is indexed although its pair was not used to learn the space.
    _, found = index.search(posts["image"][["post9"]], modality="image", k=1)
    assert index.text_ids_[found[0, 0]] == "post9"
    ranks = pair_ranks(index, posts)
    assert len(ranks["text_to_image"]) == 58


def test_string_items_are_kept_for_display_and_k_is_capped():
    posts = pd.DataFrame({"text": ["a b", "b c", "c d", "d e"], "image": ["x.png", "y.png", "z.png", "w.png"]})
    numbers = FunctionTransformer(lambda column: np.array([[hash(v) % 7, len(v)] for v in column], float))
    index = CrossModalIndex(numbers, numbers, projector=CrossModalProjector(n_components=2)).fit(posts)
    assert index.image_items_.tolist() == ["x.png", "y.png", "z.png", "w.png"]
    scores, found = index.search(["a b"], modality="text", k=10)
    assert found.shape == (1, 4)
    with pytest.raises(ValueError, match="modality must be one of"):
        index.search(["a b"], modality="audio")
    with pytest.raises(ValueError, match="positive integer"):
        index.search(["a b"], modality="text", k=0)


def test_default_featurizers_on_posts(posts):
    texts, _ = posts
    index = CrossModalIndex(projector=CrossModalProjector(n_components=2, svd_components=8)).fit(texts)
    scores, found = index.search(texts["text"][:2], modality="text", k=3)
    assert found.shape == (2, 3) and np.isfinite(scores).all()


def test_recall_plot():
    ranks = {"cca": {"text_to_image": [1, 2, 30], "image_to_text": [5, 1, 2]}}
    figure = plot_recall_at_k(ranks, max_k=10)
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["cca", "random"]
    np.testing.assert_allclose(lines[0].get_ydata()[:3], [1 / 3, 2 / 3, 2 / 3])
