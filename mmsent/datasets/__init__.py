"""Data in: the embedded demo, manifests, MVSA, review corpora and image folders, with their checks."""

from ._checks import MissingFilesError, deduplicate, find_duplicates, read_text_file
from ._demo import load_demo, write_demo
from ._folder import load_image_folder
from ._manifest import iter_manifest, read_manifest
from ._mvsa import load_mvsa, mvsa_post_label
from ._reviews import load_reviews

__all__ = [
    "MissingFilesError",
    "deduplicate",
    "find_duplicates",
    "iter_manifest",
    "load_demo",
    "load_image_folder",
    "load_mvsa",
    "load_reviews",
    "mvsa_post_label",
    "read_manifest",
    "read_text_file",
    "write_demo",
]
