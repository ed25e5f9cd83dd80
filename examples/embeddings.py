"""Deterministic offline embedding for the store index (the quick start and the tests): hashed words and trigrams.

Texts that share words (or word pieces) point the same way, so similarity ranking is meaningful and stable.
"""

from __future__ import annotations

import math
import re
import zlib

DIMS = 64
_WORD = re.compile(r"\w+")


def _features(text: str) -> list[str]:
    words = _WORD.findall(text.lower())
    grams = [f"#{word[i : i + 3]}" for word in words for i in range(max(1, len(word) - 2))]
    return words + grams


def embed(texts: list[str]) -> list[list[float]]:
    """One unit vector of DIMS floats per text."""
    vectors = []
    for text in texts:
        vector = [0.0] * DIMS
        for feature in _features(text):
            vector[zlib.crc32(feature.encode()) % DIMS] += 1.0
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        vectors.append([x / norm for x in vector])
    return vectors
