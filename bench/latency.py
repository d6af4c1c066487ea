"""Answer a fixed list of questions in one process; print p50/p95 per stage and end to end.

Also prints the model-load and index-build times. Run: `.venv/bin/python bench/latency.py`.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

QUESTIONS = [
    "What causes restless legs?",
    "Why would low iron give me restless legs?",
    "is it normal that it's worse in the evening",
    "Are sleeping pills like benzodiazepines safe long term?",
    "can pregnancy cause rls",
    "what medicines make restless legs worse",
    "does coffee make it worse",
    "my kid has growing pains at night, could it be rls",
    "what helps me sleep with restless legs",
    "is there a cure",
    "what is mesotherapy",
    "how common is restless legs syndrome",
]
ROUNDS = 10


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    from chatbot.bot import Bot
    from chatbot.config import Settings
    from chatbot.corpus import load_corpus
    from chatbot.embedding import SentenceTransformerEmbedder
    from chatbot.index import build_index, load_index

    t = time.perf_counter()
    embedder = SentenceTransformerEmbedder()
    load_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(tmp) / "index", data_dir=Path(tmp) / "data")
        articles = load_corpus(settings.corpus_dir)
        t = time.perf_counter()
        build_index(articles, embedder, settings.index_dir, settings.chunk_tokens, settings.overlap_tokens)
        build_s = time.perf_counter() - t
        index = load_index(settings.index_dir, articles, embedder, settings.chunk_tokens,
                           settings.overlap_tokens)
        bot = Bot(settings, index, embedder)
        bot.ask("warm up")
        stages: dict[str, list[float]] = {}
        for _ in range(ROUNDS):
            for q in QUESTIONS:
                answer = bot.ask(q)
                for key, value in answer.timings.items():
                    stages.setdefault(key, []).append(value)
    print(f"machine: {os.cpu_count()} cores; {len(QUESTIONS)} questions x {ROUNDS} rounds")
    print(f"model load: {load_s:.2f} s   index build ({len(index.chunks)} chunks): {build_s:.2f} s")
    print(f"{'stage':<12}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for key in ("embed_ms", "search_ms", "compose_ms", "total_ms"):
        vals = stages.get(key, [])
        if vals:
            print(f"{key[:-3]:<12}{statistics.median(vals):>10.2f}{pct(vals, 95):>10.2f}{max(vals):>10.2f}")


if __name__ == "__main__":
    main()
