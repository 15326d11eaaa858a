"""``mmsent info``: a model file's format, SHA-256 check and metadata, read without loading the model.

Exit status 2 unless the file is an mmsent model whose digest matches.
"""

import json


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "info", help="show a model file's format, SHA-256 check and metadata (never loads the model)"
    )
    parser.add_argument("model")
    parser.set_defaults(run=run)


def run(args):
    from .._persistence import ModelIntegrityError, model_metadata

    metadata = model_metadata(args.model)
    print(json.dumps(metadata, indent=2, ensure_ascii=False))
    integrity = metadata["file"]["integrity"]
    if integrity == "mismatch":
        raise ModelIntegrityError(f"{args.model} failed its SHA-256 check (corrupted or altered): it will not load")
