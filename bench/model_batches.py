"""The model's CPU a question in the batches the served app makes: one padded call against the
batch cut by length (``fast_embedding.length_groups``), and the vectors compared bit for bit.

The served app embeds the questions that arrive together in one batch (``QueryEmbedder``); each
question brings 2-5 texts (itself and its side readings), of different lengths. Padded to the
longest, a batch pays for the padding: a model call costs ~3 ms however short its texts and
~0.25 ms more a padded word piece on a 2-core Xeon/EPYC. This takes the texts each of the load
test's questions embeds (captured from the query embedder of a served bot), draws batches of k
questions, and embeds each batch both ways on one thread, alternately (thread CPU time, the
least of three passes).

Run: `.venv/bin/python bench/model_batches.py [--sizes 1 5 10 25]`.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import QUESTIONS, isolated_app_env, machine  # noqa: E402


def captured_texts() -> tuple[Any, dict[str, list[str]]]:
    """The ONNX embedder of a served bot, and the texts each question sends to the model."""
    isolated_app_env(tempfile.mkdtemp())
    os.environ["CHATBOT_QUERY_CACHE_SIZE"] = "0"
    from chatbot.config import load_settings
    from chatbot.embedding import QueryEmbedder
    from chatbot.pipeline import build_bot

    bot = build_bot(load_settings(), serving=True)
    seen: list[list[str]] = []
    submit = QueryEmbedder._submit_all

    def capture(self: QueryEmbedder, texts: list[str]) -> Any:
        seen.append(list(texts))
        return submit(self, texts)

    QueryEmbedder._submit_all = capture  # type: ignore[method-assign]
    texts: dict[str, list[str]] = {}
    for q in QUESTIONS:
        seen.clear()
        bot.ask(q)
        texts[q] = [t for call in seen for t in call]
    QueryEmbedder._submit_all = submit  # type: ignore[method-assign]
    return bot.embedder.inner, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1, 5, 10, 25])
    args = parser.parse_args()
    model, texts = captured_texts()
    if not hasattr(model, "encode_calls"):
        raise SystemExit("the ONNX backend is not in use (CHATBOT_EMBEDDING_BACKEND)")

    def one_call(batch: list[str]) -> np.ndarray:  # the whole batch padded to its longest
        return np.asarray(model._run(model._tokenizer.encode_batch(batch)))

    print(f"machine: {machine()}")
    print("texts a question:", [len(v) for v in texts.values()])
    print(
        "| questions a batch | texts a batch (mean) | one padded call, ms a question | cut by length |"
    )
    print("|---|---|---|---|")
    rng = random.Random(1)
    for k in args.sizes:
        batches = []
        for _ in range(40 if k < 10 else 20):
            asked = [rng.choice(QUESTIONS) for _ in range(k)]
            batches.append(list(dict.fromkeys(t for q in asked for t in texts[q])))
        for batch in batches:
            if not np.array_equal(one_call(batch), model.encode(batch)):
                raise SystemExit(f"vectors differ for a batch of {len(batch)} texts")
        spent: dict[str, list[float]] = {"one": [], "cut": []}
        for _ in range(3):
            for name, encode in (("one", one_call), ("cut", model.encode)):
                t = time.thread_time()
                for batch in batches:
                    encode(batch)
                spent[name].append(time.thread_time() - t)
        n = k * len(batches)
        mean = np.mean([len(b) for b in batches])
        one, cut = min(spent["one"]) * 1000 / n, min(spent["cut"]) * 1000 / n
        print(f"| {k} | {mean:.1f} | {one:.2f} | {cut:.2f} |")


if __name__ == "__main__":
    main()
