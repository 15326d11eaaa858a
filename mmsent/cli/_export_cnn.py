"""``mmsent export-cnn``: build the pretrained CNN's ONNX file once (needs the cnn extra)."""

from ._common import check_outputs


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "export-cnn", help="build the pretrained CNN's ONNX file once (needs the cnn extra: onnx, weights)"
    )
    parser.add_argument("--out", help="ONNX file to write (default: the user's cache folder, keyed by weights hash)")
    parser.add_argument(
        "--model", choices=["lite0", "lite1", "lite2"], default="lite0",
        help="the EfficientNet-Lite variant (default: lite0; lite1 and lite2 need the cnn-larger extra)",
    )
    parser.add_argument("--overwrite", action="store_true", help="export again even if the file exists")
    parser.add_argument("--clear-cache", action="store_true", help="also delete the cached CNN embeddings")
    parser.set_defaults(run=run)


def run(args):
    from ..image import clear_embedding_cache, export_cnn

    check_outputs(args.out, inputs=())
    path = export_cnn(args.out, model=args.model, overwrite=args.overwrite)
    print(f"EfficientNet-{args.model.capitalize()} (ImageNet) as ONNX: {path}")
    if args.clear_cache:
        clear_embedding_cache()
        print("cleared the cached CNN embeddings")
