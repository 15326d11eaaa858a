"""Text featurizers: jieba tokenization and TF-IDF for Chinese, English and mixed posts."""

from ._features import TextCleaner, TextDecodeError, make_text_features
from ._tokenizer import JiebaTokenizer, clear_token_cache

__all__ = ["JiebaTokenizer", "TextCleaner", "TextDecodeError", "clear_token_cache", "make_text_features"]
