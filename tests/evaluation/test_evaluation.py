import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.base import clone
from sklearn.metrics import f1_score
from sklearn.model_selection import RepeatedStratifiedKFold

from mmsent import MultimodalSentimentClassifier
from mmsent.evaluation import (
    ablation_report,
    compare_fusions,
    default_param_grid,
    format_table,
    plot_ablation,
    plot_confusion_matrix,
    tune,
)

from ..conftest import synthetic_posts


def test_compare_fusions_scores_each_strategy_on_the_test_split():
    X, y = synthetic_posts(n=80, seed=0)
    X_test, y_test = synthetic_posts(n=40, seed=1)
    table, models = compare_fusions(
        X, y, X_test, y_test,
        fusions=("text", "vote"), estimator=MultimodalSentimentClassifier(features="handcrafted", cv=3),
        return_models=True,
    )
    assert table.index.tolist() == ["text", "vote"]
    for fusion in table.index:
        accuracy = np.mean(models[fusion].predict(X_test) == y_test)
        assert table.loc[fusion, "accuracy"] == accuracy
        assert 0 <= table.loc[fusion, "macro_f1"] <= 1 and table.loc[fusion, "fit_s"] > 0
    assert table.loc["text", "text_share"] == 1.0 and table.loc["vote", "image_share"] == 0.5
    markdown = format_table(table).splitlines()
    assert markdown[0].startswith("| fusion | accuracy | macro_f1 | weighted_f1 |")
    assert markdown[2].startswith(f"| text | {table.loc['text', 'accuracy']:.3f} |")


def test_ablation_report_cross_validates_every_fusion_on_the_same_folds(tmp_path):
    X, y = synthetic_posts(n=60, seed=2)
    estimator = MultimodalSentimentClassifier(features="handcrafted", cv=2)
    report = ablation_report(X, y, cv=3, n_repeats=2, fusions=("text", "image", "stack"), estimator=estimator,
                             random_state=4, progress=False)
    assert report.scores.shape[0] == 3 * 3 * 2 and report.classes == ["negative", "positive"]
    folds = list(RepeatedStratifiedKFold(n_splits=3, n_repeats=2, random_state=4).split(X, y))
    train, test = folds[4]
    model = MultimodalSentimentClassifier(features="handcrafted", fusion="image", cv=2).fit(X.iloc[train], y[train])
    fold = report.scores.query("fusion == 'image' and fold == 4").iloc[0]
    assert fold["accuracy"] == np.mean(model.predict(X.iloc[test]) == y[test])
    summary, spread = report.summary(), report.summary("std")
    image_accuracy = report.scores.query("fusion == 'image'")["accuracy"]
    assert summary.at["image", "accuracy"] == pytest.approx(image_accuracy.mean())
    assert spread.at["image", "accuracy"] == pytest.approx(image_accuracy.std())
    assert 0 < summary.at["stack", "text_share"] < 1
    # Each post is scored once per repeat.
    totals = {fusion: m.sum() for fusion, m in report.confusion_matrices.items()}
    assert totals == {"text": 120, "image": 120, "stack": 120}
    per_class = report.class_summary()
    assert per_class.loc[("text", "positive"), "support"] == 10  # 30 positives / 3 folds
    recall = report.per_class.query("fusion == 'text' and `class` == 'positive'")["recall"].mean()
    assert per_class.loc[("text", "positive"), "recall"] == pytest.approx(recall)

    markdown = report.to_markdown()
    assert "Stratified 3-fold CV × 2 repeat(s), seed 4, 60 posts" in markdown
    assert f"| image | {summary.at['image', 'accuracy']:.3f} ± {spread.at['image', 'accuracy']:.3f} |" in markdown
    assert "| stack | negative |" in markdown
    data = json.loads(json.dumps(report.to_dict()))
    assert data["summary"]["image"]["accuracy"]["std"] == spread.at["image", "accuracy"]
    assert data["confusion_matrices"]["text"] == report.confusion_matrices["text"].tolist()
    assert len(data["folds"]) == 18 and data["settings"]["n_repeats"] == 2

    paths = report.save_plots(tmp_path / "plots")
    assert [p.name for p in paths] == ["ablation.png", "confusion_matrices.png"]
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 600


def test_ablation_report_on_a_holdout_split_has_no_spread():
    X, y = synthetic_posts(n=60, seed=0)
    X_test, y_test = synthetic_posts(n=20, seed=1)
    report = ablation_report(X, y, X_test=X_test, y_test=y_test, fusions=("text",), progress=False)
    table = compare_fusions(X, y, X_test, y_test, fusions=("text",))
    assert report.summary().at["text", "accuracy"] == table.at["text", "accuracy"]
    assert report.summary("std").at["text", "accuracy"] == 0
    assert report.settings["split"] == "holdout" and report.confusion_matrices["text"].sum() == 20
    assert "±" not in report.to_markdown() and "scored on 20 held-out posts" in report.to_markdown()


def test_plots_label_their_axes():
    figure = plot_confusion_matrix({"text": np.array([[3, 1], [0, 4]]), "vote": np.eye(2, dtype=int)}, ["neg", "pos"])
    text_axis = figure.axes[0]
    assert text_axis.get_title() == "text" and text_axis.get_ylabel() == "true class"
    assert [t.get_text() for t in text_axis.get_yticklabels()] == ["neg", "pos"]
    assert "0.75\n(3)" in [t.get_text() for t in text_axis.texts]
    mean = pd.DataFrame({"accuracy": [0.5], "macro_f1": [0.4], "weighted_f1": [0.45]}, index=["concat"])
    axis = plot_ablation(mean, mean / 10, title="t").axes[0]
    assert [t.get_text() for t in axis.get_legend().get_texts()] == ["accuracy", "macro-F1", "weighted-F1"]
    assert axis.get_ylabel() == "score" and axis.get_title() == "t"


def test_tune_scores_candidates_on_the_dev_split_and_fills_in_featurizers():
    X, y = synthetic_posts(n=40, seed=0)
    X_dev, y_dev = synthetic_posts(n=20, seed=1)
    grid = {"C": [0.01, 1.0], "text_features__tfidf__min_df": [1, 3]}
    template = MultimodalSentimentClassifier(features="handcrafted", fusion="text")
    found = tune(X, y, grid, X_dev=X_dev, y_dev=y_dev, estimator=template, refit=False, progress=False)
    assert template.text_features is None  # the caller's estimator is left alone
    assert not hasattr(found, "best_estimator_") and found.scoring == "f1_macro"
    for params, score in zip(found.cv_results_["params"], found.cv_results_["mean_test_score"]):
        model = clone(found.estimator).set_params(**params).fit(X, y)
        assert score == pytest.approx(f1_score(y_dev, model.predict(X_dev), average="macro"))
    refit = tune(X, y, grid, X_dev=X_dev, y_dev=y_dev, estimator=template, progress=False)
    assert refit.best_params_ == found.best_params_ and refit.best_estimator_.n_samples_fit_ == 60
    with pytest.raises(ValueError, match="unknown parameters"):
        tune(X, y, {"image_features__hog__nope": [1]}, progress=False)
    assert set(default_param_grid("concat", "handcrafted")) == {
        "C", "text_features__tfidf__ngram_range", "text_features__tfidf__min_df", "image_features__decode__size",
        "text_weight",
    }
    # The default (pretrained) branches: every name exists on the model tune builds.
    grid = default_param_grid("concat")
    assert set(grid) == {"C", "text_features__tfidf__tfidf__ngram_range", "text_features__tfidf__tfidf__min_df",
                         "text_weight"}
    built = MultimodalSentimentClassifier()
    built.set_params(**dict(zip(("text_features", "image_features"), built._featurizers())))
    assert set(grid) <= set(built.get_params(deep=True))
