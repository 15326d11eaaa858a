"""``mmsent retrieve``: build a cross-modal index from a manifest of posts, or search one with a text or an image."""

import argparse

from ._common import add_quiet, check_outputs, given, verbose
from ._data import add_columns, image_files, manifest_columns

# CrossModalProjector's parameters that are options here (dest = parameter).
_SPACE_OPTIONS = {"method": "projection", "n_components": "n_components", "svd_components": "svd_components"}
IMAGE_FEATURES = ("handcrafted", "cnn", "both")
_SHOWN = 100  # characters of an item shown in the results table


def add_space_options(parser, description="CrossModalProjector's parameters (default: its own)"):
    """The shared space's options: projection, its size, and the image features it reads."""
    group = parser.add_argument_group("shared space", description)
    group.add_argument(
        "--projection", metavar="NAME", default=argparse.SUPPRESS, help="cca, pls or none (no alignment: a baseline)"
    )
    group.add_argument("--n-components", type=int, default=argparse.SUPPRESS, help="dimensions of the shared space")
    group.add_argument(
        "--svd-components", type=int, default=argparse.SUPPRESS, help="width of each block after TruncatedSVD"
    )
    group.add_argument(
        "--image-features",
        choices=IMAGE_FEATURES,
        default="handcrafted",
        help="HOG + colour (default), the pretrained CNN's embeddings (the cnn extra), or both",
    )


def make_index(args, columns, **projector):
    """The unfitted CrossModalIndex the options describe (``projector`` overrides them)."""
    from ..fusion import CrossModalProjector
    from ..image import make_image_features
    from ..retrieval import CrossModalIndex
    from ..text import make_text_features

    space = CrossModalProjector(**{**given(args, **_SPACE_OPTIONS), **projector})
    space._validate_params()  # a misspelt projection fails now, not after the data is read
    image = {"handcrafted": {}, "cnn": {"cnn": True, "handcrafted": False}, "both": {"cnn": True}}[args.image_features]
    level = {"verbose": verbose(args)}
    return CrossModalIndex(
        make_text_features(**level),
        make_image_features(**image, **level),
        text_column=columns["text_column"],
        image_column=columns["image_column"],
        projector=space,
    )


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "retrieve", help="build a cross-modal index (texts <-> images) from a manifest, or search one"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="CSV or JSONL manifest of posts (text and image) to index")
    source.add_argument("--model", help="an index written by `mmsent retrieve --data ... --out ...`")
    parser.add_argument("--out", help="save the index built from --data here (.joblib or .skops)")
    query = parser.add_mutually_exclusive_group()
    query.add_argument("--query", metavar="TEXT", help="a text: find the indexed images that match it")
    query.add_argument("--query-image", metavar="PATH", help="an image file: find the indexed texts that match it")
    parser.add_argument("-k", type=int, default=10, help="results to show (default: 10)")
    parser.add_argument(
        "--sha256", help="refuse the index file unless its SHA-256 is this one (as its author published it)"
    )
    add_columns(parser, roles=("text", "image"))
    add_space_options(parser)
    add_quiet(parser)
    parser.set_defaults(run=run)


def run(args):
    from .._persistence import load_model, save_model
    from .._progress import set_verbose
    from ..datasets import read_manifest
    from ..retrieval import CrossModalIndex

    if args.query is None and args.query_image is None and args.out is None:
        raise ValueError("nothing to do: give --query TEXT or --query-image PATH, and/or --out to save the index")
    if args.model and args.out:
        raise ValueError("--out saves an index built from --data; --model is one already built")
    if args.k < 1:
        raise ValueError(f"-k must be a positive number of results, got {args.k}")
    if args.model:
        index = load_model(args.model, expected=CrossModalIndex, sha256=args.sha256)
    else:
        columns = manifest_columns(args)
        index = make_index(args, columns)
        check_outputs(args.out, inputs=[args.data])
        posts = read_manifest(args.data, **columns, required=("text", "image"))
        index.fit(posts)
        print(f"indexed {len(index.text_ids_)} texts and {len(index.image_ids_)} images of {args.data}")
        if args.out:
            check_outputs(args.out, inputs=[args.data, *image_files(posts, columns["image_column"])])
            path = save_model(set_verbose(index, 0), args.out)
            print(f"saved the index to {path}")
    if args.query is not None or args.query_image is not None:
        modality, query = ("text", args.query) if args.query is not None else ("image", args.query_image)
        found = "image" if modality == "text" else "text"
        scores, positions = index.search([query], modality=modality, k=args.k)
        ids, items = getattr(index, f"{found}_ids_"), getattr(index, f"{found}_items_")
        print(f"| rank | score | post | {found} |")
        print("|---|---|---|---|")
        for rank, (score, position) in enumerate(zip(scores[0], positions[0]), start=1):
            item = "" if items[position] is None else " ".join(str(items[position]).split()).replace("|", r"\|")
            item = item if len(item) <= _SHOWN else item[: _SHOWN - 1] + "…"
            print(f"| {rank} | {score:.3f} | {ids[position]} | {item} |")
