import numpy as np

from mmsent import MultimodalSentimentClassifier
from mmsent.evaluation import compare_fusions, format_table

from .conftest import synthetic_posts


def test_compare_fusions_scores_each_strategy_on_the_test_split():
    X, y = synthetic_posts(n=80, seed=0)
    X_test, y_test = synthetic_posts(n=40, seed=1)
    table, models = compare_fusions(
        X, y, X_test, y_test, fusions=("text", "vote"), estimator=MultimodalSentimentClassifier(cv=3), return_models=True
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
