"""Text featurizers: jieba tokenization and TF-IDF for Chinese, English and mixed posts."""

from ._features import TextCleaner, make_text_features
from ._tokenizer import JiebaTokenizer, clear_token_cache, passthrough_tokens

__all__ = ["JiebaTokenizer", "TextCleaner", "clear_token_cache", "make_text_features", "passthrough_tokens"]
