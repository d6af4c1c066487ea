"""What triage adds to a message, in milliseconds: the rules, the learned layers' scoring, and
what it adds to the retrieval reading's model call: its own texts (the normalised message, a long
message's tail) where the retriever does not embed the same text already.

For every message of the project's safety sets (emergencies, near-misses, ordinary questions) it
times, in-process and with the model on one thread as served:

* rules: ``emergency.read_rules`` on the text (what runs before anything else);
* triage, model call excluded: ``Triage.assess`` with a retrieval reading that returns at once,
  fed the vectors the reading would have carried (rules, follow-up, cues, scoring, deciding);
* the model call, with and without the triage texts riding along (interleaved, same texts):
  the difference is what triage adds to the embedding.

Prints p50 / p95 / max per row and "added per message" (triage without the call + the added
embedding time, paired per message), in wall time and in CPU time of the thread (the model runs
on the calling thread: on a machine shared with other jobs CPU time is the steadier figure).
Updates bench/RESULTS.md. Target: p95 added <= 5 ms.

Run: `.venv/bin/python bench/triage.py [--rounds N] [--limit N]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, machine, pct, table, update_results  # noqa: E402

SETS = ("tests/safety_set.jsonl", "tests/safety_wave1.jsonl", "tests/safety_wave2.jsonl")


def messages(every: int) -> list[str]:
    """Every ``every``-th message of the sets (all kinds, short and long)."""
    out: list[str] = []
    for name in SETS:
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["question"])
    return out[::every]


def row(name: str, values: list[float]) -> list[str]:
    return [
        name,
        f"{statistics.median(values):.2f}",
        f"{pct(values, 95):.2f}",
        f"{max(values):.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="times each message is timed")
    parser.add_argument("--every", type=int, default=3, help="time every N-th message")
    args = parser.parse_args()

    from chatbot.config import Settings
    from chatbot.embedding import limit_model_threads, texts_with
    from chatbot.pipeline import build_bot
    from chatbot.retrieval import retrieval_query
    from chatbot.safety.emergency import read_rules
    from chatbot.safety.features import triage_texts

    t = time.perf_counter()
    bot = build_bot(Settings(), rebuild=True, log=False)
    start_s = time.perf_counter() - t
    threads = limit_model_threads()
    import torch

    torch.set_num_threads(1)  # as served: one model thread
    triage, inner = bot.triage, bot.triage.embedder.inner
    if triage.model is None:
        raise SystemExit("the learned layers are off (not the validated model)")
    texts = messages(args.every)
    for q in texts[:5]:  # warm up
        bot.ask(q)

    clocks = {"wall": time.perf_counter, "cpu": time.thread_time}
    # Per message, per clock: the medians over the rounds (the paired difference of the two model
    # calls is noisy; its median per message is the added embedding).
    samples: dict[str, dict[str, list[list[float]]]] = {
        c: {k: [[] for _ in texts] for k in ("rules", "assess", "plain", "ride")} for c in clocks
    }
    extra_texts = [0] * len(texts)  # texts triage adds to each message's model call
    for _ in range(args.rounds):
        for i, q in enumerate(texts):
            query = retrieval_query(q, [], bot.retriever.knows)
            analysis = bot.retriever.analyse(query)  # cached, as in a real ask
            reader = bot.retriever.reader
            main = reader.main_text(query)
            side = [s for s in (reader.without_subject(query), analysis.kept) if s]
            batch = [main, *side, *reader.message_parts(query)]
            # The triage texts the retriever's call does not embed already (in the model's form):
            # the normalised message when the retriever reads it otherwise, a long message's tail.
            own = triage_texts(q)
            every, rows = texts_with(inner.name, batch, own)
            extra = every[len(batch) :]
            # The model call with and without the triage texts, back to back.
            t0, c0 = time.perf_counter(), time.thread_time()
            vecs = inner.encode(batch)
            t1, c1 = time.perf_counter(), time.thread_time()
            if extra:  # else the call is the retriever's own: triage adds nothing to it
                vecs = inner.encode(every)
                t2, c2 = time.perf_counter(), time.thread_time()
            else:
                t2, c2 = t1 + (t1 - t0), c1 + (c1 - c0)
            carried = vecs[rows]
            extra_texts[i] = len(extra)

            t3, c3 = time.perf_counter(), time.thread_time()
            read_rules(q)
            t4, c4 = time.perf_counter(), time.thread_time()

            def read(vectors=carried, first=vecs[0]):
                # What the retriever's call hands back: its query vector; the triage texts'.
                triage.embedder.give(vectors)
                return first, None

            triage.assess(q, "", read)
            t5, c5 = time.perf_counter(), time.thread_time()
            for c, (a, b, d, e, f, g) in {
                "wall": (t0, t1, t2, t3, t4, t5),
                "cpu": (c0, c1, c2, c3, c4, c5),
            }.items():
                s = samples[c]
                s["plain"][i].append((b - a) * 1000)
                s["ride"][i].append((d - b) * 1000)
                s["rules"][i].append((f - e) * 1000)
                s["assess"][i].append((g - f) * 1000)

    med = statistics.median
    rules_ms = {c: [med(v) for v in samples[c]["rules"]] for c in clocks}
    assess_ms = {c: [med(v) for v in samples[c]["assess"]] for c in clocks}
    call_plain = {c: [med(v) for v in samples[c]["plain"]] for c in clocks}
    call_ride = {c: [med(v) for v in samples[c]["ride"]] for c in clocks}
    added = {
        c: [
            med(a) + med(r) - med(p)
            for a, r, p in zip(
                samples[c]["assess"], samples[c]["ride"], samples[c]["plain"], strict=True
            )
        ]
        for c in clocks
    }

    rows = []
    for c in clocks:
        rows += [
            row(f"{c}: rules alone (read_rules)", rules_ms[c]),
            row(f"{c}: triage, model call excluded (assess)", assess_ms[c]),
            row(f"{c}: retrieval model call", call_plain[c]),
            row(f"{c}: same call with the triage texts", call_ride[c]),
            row(f"{c}: added per message (assess + extra embedding)", added[c]),
        ]
    body = "\n".join(
        [
            f"machine: {machine()}",
            f"{len(texts)} messages x {args.rounds} rounds; model on 1 thread (served: {threads});"
            f" bot start incl. triage model {start_s:.1f} s",
            f"triage adds a text to the retriever's call for"
            f" {sum(1 for n in extra_texts if n)} of {len(texts)} messages"
            f" ({sum(extra_texts)} texts): the retriever reads the others in the same form",
            "",
            table(["what", "p50 ms", "p95 ms", "max ms"], rows),
            "",
            "Target: triage adds at most 5 ms p95 per message. Each row is over the messages of"
            " each message's median over the rounds. 'added per message' = triage's own time +"
            " the call with the triage texts - the same call without (the text it adds to the"
            " batch). CPU time is the thread's (the model runs on it): steadier than wall time"
            " when other jobs share the machine.",
        ]
    )
    print(body)
    update_results("Triage cost per message", body)


if __name__ == "__main__":
    main()
