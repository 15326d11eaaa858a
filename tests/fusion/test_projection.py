"""The shared text-image space (CrossModalProjector) and intermediate fusion's features."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.cross_decomposition import CCA, PLSCanonical
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mmsent.fusion import CrossModalProjector, SharedSpaceFeatures

STACK = FunctionTransformer(np.vstack)


def paired_views(n=300, shared=3, seed=0, noise=0.3, loud=1.0):
    """Text and image features that share ``shared`` latent topics, plus independent dimensions ``loud`` times
    as strong."""
    rng = np.random.default_rng(seed)
    topic = rng.normal(size=(n, shared))
    text = np.hstack([topic @ rng.normal(size=(shared, 10)), loud * rng.normal(size=(n, 10))])
    image = np.hstack([topic @ rng.normal(size=(shared, 8)), loud * rng.normal(size=(n, 8))])
    return text + noise * rng.normal(size=text.shape), image + noise * rng.normal(size=image.shape)


@pytest.mark.parametrize("method, twin", [("cca", CCA), ("pls", PLSCanonical)])
def test_projections_match_scikit_learn_on_unreduced_blocks(method, twin):
    # Blocks narrower than svd_components are only standardised: the space is scikit-learn's own,
    # up to each component's sign and scale (ddof of the standardisation).
    text, image = paired_views()
    projector = CrossModalProjector(method, n_components=3, svd_components=50).fit(text, image)
    ours_t, ours_v = projector.transform(text, image)
    theirs_t, theirs_v = twin(n_components=3, scale=True).fit(text, image).transform(text, image)
    for ours, theirs in ((ours_t, theirs_t), (ours_v, theirs_v)):
        for k in range(3):
            assert abs(np.corrcoef(ours[:, k], theirs[:, k])[0, 1]) == pytest.approx(1.0, abs=1e-6)


def test_cca_finds_the_shared_topics_and_only_them():
    text, image = paired_views(shared=3)
    projector = CrossModalProjector("cca", n_components=5, svd_components=50).fit(text, image)
    assert projector.correlations_[:3].min() > 0.9
    assert projector.correlations_[3:].max() < 0.4  # the rest is noise: two views of nothing shared
    assert projector.n_iter_.min() >= 1


def test_no_projection_is_the_unaligned_baseline():
    # Each block's strongest directions are its own: without alignment the two sides have nothing in common.
    text, image = paired_views(shared=3, loud=5.0)
    aligned = CrossModalProjector("cca", n_components=3, svd_components=50).fit(text, image)
    unaligned = CrossModalProjector("none", n_components=3).fit(text, image)
    assert unaligned.model_ is None
    assert np.abs(unaligned.correlations_).max() < 0.3
    assert aligned.correlations_.min() > 0.9


def test_image_side_alone_equals_the_pair_transform():
    text, image = paired_views()
    for method in ("cca", "pls", "none"):
        projector = CrossModalProjector(method, n_components=3, svd_components=12).fit(text, image)
        pair = projector.transform(text[:7], image[:7])
        np.testing.assert_allclose(projector.transform_image(image[:7]), pair[1], atol=1e-12)
        np.testing.assert_allclose(projector.transform_text(text[:7]), pair[0], atol=1e-12)
        np.testing.assert_allclose(projector.transform(text[:7]), pair[0], atol=1e-12)


def test_sparse_blocks_are_reduced_by_truncated_svd():
    text, image = paired_views()
    projector = CrossModalProjector(n_components=4, svd_components=6).fit(sp.csr_matrix(text), image)
    assert projector.text_reducer_.svd_.n_components == 6
    assert projector.image_reducer_.svd_.n_components == 6
    assert projector.transform(sp.csr_matrix(text[:5])).shape == (5, 4)


def test_narrow_blocks_lower_the_number_of_components():
    text, image = paired_views()
    projector = CrossModalProjector(n_components=16).fit(text, image[:, :2])
    assert projector.n_components_ == 2
    assert projector.transform_image(image[:3, :2]).shape == (3, 2)


def test_bad_views_are_refused():
    text, image = paired_views()
    with pytest.raises(ValueError, match="must be paired"):
        CrossModalProjector().fit(text, image[:-1])
    with pytest.raises(ValueError, match="the image features of the same posts as Y"):
        CrossModalProjector().fit(text, None)
    projector = CrossModalProjector(n_components=2).fit(text, image)
    with pytest.raises(ValueError, match="fitted on 16"):
        projector.transform_image(image[:, :5])


def sarcasm_posts(n=400, seed=0):
    """Text and image each say positive or negative; the label is whether they agree (an XOR of the two)."""
    rng = np.random.default_rng(seed)
    text_says = rng.choice([-1.0, 1.0], n)
    agree = rng.random(n) < 0.7
    image_says = np.where(agree, text_says, -text_says)
    text = np.column_stack([text_says, rng.normal(size=(n, 5))]) + 0.2 * rng.normal(size=(n, 6))
    image = np.column_stack([image_says, rng.normal(size=(n, 4))]) + 0.2 * rng.normal(size=(n, 5))
    X = pd.DataFrame({"text": list(text), "image": list(image)})
    return X, np.where(agree, "sincere", "sarcastic")


def test_interactions_let_a_linear_model_learn_what_concatenation_cannot():
    X, y = sarcasm_posts()
    projector = CrossModalProjector(n_components=2, svd_components=8)
    concat = SharedSpaceFeatures(STACK, STACK, projector=projector, shared_weight=0.0)
    shared = SharedSpaceFeatures(STACK, STACK, projector=projector)
    scores = {
        name: cross_val_score(make_pipeline(features, LogisticRegression()), X, y, cv=3).mean()
        for name, features in (("concat", concat), ("shared", shared))
    }
    assert scores["concat"] < 0.75  # the raw blocks side by side: no better than always "sincere" (0.7)
    assert scores["shared"] > 0.9


def test_shared_block_layout_and_cosine():
    X, _ = sarcasm_posts(n=60)
    features = SharedSpaceFeatures(STACK, STACK, projector=CrossModalProjector(n_components=2), raw=False)
    shared = features.fit_transform(X)
    assert shared.shape == (60, 4 * 2 + 1)
    t, v = features.projector_.transform(np.vstack(X["text"]), np.vstack(X["image"]))
    cosine = (t * v).sum(axis=1) / np.linalg.norm(t, axis=1) / np.linalg.norm(v, axis=1)
    unscaled = features.scaler_.inverse_transform(shared * np.sqrt(shared.shape[1]))
    np.testing.assert_allclose(unscaled[:, -1], cosine, atol=1e-9)
    np.testing.assert_allclose(unscaled[:, 4:6], t * v, atol=1e-9)
    np.testing.assert_allclose(unscaled[:, 6:8], np.abs(t - v), atol=1e-9)
    # Rows of the standardised block have a norm near shared_weight, as the raw blocks' L2 rows have near 1.
    assert np.sqrt((shared**2).sum(axis=1).mean()) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(features.transform(X), shared)


def test_raw_blocks_come_first_and_stay_sparse():
    X, _ = sarcasm_posts(n=40)
    sparse_text = FunctionTransformer(lambda column: sp.csr_matrix(np.vstack(column)))
    features = SharedSpaceFeatures(sparse_text, STACK, projector=CrossModalProjector(n_components=2),
                                   text_weight=2.0, image_weight=0.5)
    out = features.fit_transform(X)
    assert sp.issparse(out) and out.shape == (40, 6 + 5 + 9)
    np.testing.assert_allclose(out[:, :6].toarray(), 2.0 * np.vstack(X["text"]))
    np.testing.assert_allclose(out[:, 6:11].toarray(), 0.5 * np.vstack(X["image"]))


def test_projector_parameters_are_reachable_for_grid_search():
    features = SharedSpaceFeatures(STACK, STACK, projector=CrossModalProjector())
    features.set_params(projector__n_components=3, projector__method="pls")
    assert features.projector.get_params()["n_components"] == 3
    X, _ = sarcasm_posts(n=50)
    assert features.fit(X).projector_.model_.__class__ is PLSCanonical


def test_each_view_keeps_at_most_a_tenth_of_the_pairs_dimensions():
    # On as many dimensions as pairs, CCA correlates anything perfectly: the space would mean nothing.
    rng = np.random.default_rng(0)
    noise_text, noise_image = rng.normal(size=(60, 80)), rng.normal(size=(60, 70))
    projector = CrossModalProjector(n_components=3, svd_components=128).fit(noise_text, noise_image)
    assert projector.text_reducer_.svd_.n_components == 6 and projector.image_reducer_.svd_.n_components == 6
    assert projector.correlations_.max() < 0.7
