"""The steps of the text_report example agent: plain, deterministic functions."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

DEFAULT_LIMIT = 160
STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "but", "by", "did", "for", "in", "is", "it"}
    | {"of", "on", "or", "the", "this", "to", "was"}
)


def prepare(text: str, ctx: Any) -> dict[str, Any]:
    words = re.findall(r"[a-z']+", text.lower())
    sentences = [s for s in re.split(r"[.!?]+", text) if s.strip()]
    limit = ctx.memory.get("max_report_chars") or DEFAULT_LIMIT
    return {"words": words, "sentences": sentences, "detail": 5, "limit": limit}


def count_words(words: list[str]) -> dict[str, Any]:
    counts = Counter(w for w in words if w not in STOPWORDS)
    top = [[word, n] for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]]
    return {"word_counts": {"total": len(words), "unique": len(set(words)), "top": top}}


def measure_sentences(sentences: list[str]) -> dict[str, Any]:
    lengths = [len(s.split()) for s in sentences]
    average = round(sum(lengths) / len(lengths), 1) if lengths else 0.0
    return {"sentence_stats": {"count": len(lengths), "average_words": average}}


def compose(word_counts: dict[str, Any], sentence_stats: dict[str, Any], detail: int) -> dict:
    top = ", ".join(f"{word} ({n})" for word, n in word_counts["top"][:detail])
    report = (
        f"{word_counts['total']} words ({word_counts['unique']} distinct) in "
        f"{sentence_stats['count']} sentences of {sentence_stats['average_words']} words "
        f"on average. Most frequent: {top or 'none'}."
    )
    return {"report": report}


def review(report: str, detail: int, limit: int) -> dict[str, Any]:
    if len(report) <= limit or detail <= 1:
        return {"approved": True, "detail": detail}
    return {
        "approved": False,
        "detail": detail - 1,
        "feedback": f"{len(report)} characters is over the limit of {limit}",
    }


def publish(report: str, word_counts: dict, sentence_stats: dict) -> dict[str, Any]:
    return {"result": {"report": report, "words": word_counts, "sentences": sentence_stats}}
