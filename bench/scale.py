"""Scale: ingest and search on synthetic corpora of 10x, 100x and 1000x the clinic's articles.

Each synthetic corpus repeats the five real articles with perturbations (paragraph order
shuffled, an "edition" line added, the title numbered) and is written as real corpus files in a
temp folder, then run through the real `load_corpus` → `build_index` (chunking, sentence table,
FAISS build, atomic write) → `load_index` path.

Embedding 1000x with the real model is too slow for this shared 2-core machine (about 300,000
texts), so the build uses a *synthetic embedder*: each text's vector is the mean of the real
model's vectors of the real sentences it contains, plus small noise, normalised. Vectors are thus
clustered like the real ones (which matters for an approximate index's recall), and every other
step is the production code. The real model's throughput is measured on a sample and the full
embedding time extrapolated, and shown apart.

At each size: FAISS flat vs HNSW vs IVF (build time, search p50/p95 for one question, recall@8
and recall@100 against flat) on real question vectors, and the production search path for a
large corpus (`retrieval.fusion.fused_search`: the index's own top-k fused with BM25 over candidates) against
the exact path's work (every chunk scored and ranked). Results go to bench/out/scale.json (one
entry per size, so sizes can be run separately) and bench/RESULTS.md.

Run: `.venv/bin/python bench/scale.py [--factors 10 100 1000]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, QUESTIONS, machine, pct, table, update_results  # noqa: E402

SCALE_JSON = OUT / "scale.json"
K = 8  # passages per question (settings.retrieval.top_k)


class SyntheticEmbedder:
    """Mean of the real model's vectors of the known sentences in a text, plus noise; normalised."""

    name = "synthetic-mean-of-real-sentence-vectors"

    def __init__(self, base: dict[str, np.ndarray], dim: int, noise: float = 0.15) -> None:
        from chatbot.text.sentences import split_sentences

        self._split = split_sentences
        self.base = base
        self.dim = dim
        self.noise = noise
        self.texts = 0
        self.seconds = 0.0

    def _unit(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)

    def encode(self, texts: list[str]) -> np.ndarray:
        t = time.perf_counter()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            known = [self.base[s.text] for s in self._split(text) if s.text in self.base]
            vec = np.mean(known, axis=0) if known else self._unit(text + "#unknown")
            vec = vec + self.noise * self._unit(text)
            out[row] = vec / np.linalg.norm(vec)
        self.texts += len(texts)
        self.seconds += time.perf_counter() - t
        return out

    def count_word_pieces(self, text: str) -> int:
        return len(text.split()) + 2


def synthetic_corpus(articles: list, factor: int, directory: Path) -> None:
    """``factor`` perturbed copies of each article, written as corpus files."""
    rng = random.Random(factor)
    directory.mkdir(parents=True)
    for copy in range(factor):
        for art in articles:
            paragraphs = art.body.strip("\n").split("\n\n")
            head, rest = paragraphs[:1], paragraphs[1:]
            rng.shuffle(rest)
            body = "\n\n".join([*head, f"Edition {copy} of this article.", *rest]) + "\n"
            slug = f"{art.id}-x{copy:04d}"
            (directory / f"{slug}.md").write_text(
                f"---\nid: {slug}\ntitle: {art.title} ({copy})\ndate: {art.date}\n"
                f"publisher: synthetic\nsource_file: {art.source_file}\nnote: bench copy\n---\n"
                f"{body}",
                encoding="utf-8",
            )


def timed_searches(index, queries: np.ndarray, k: int) -> tuple[list[float], np.ndarray]:
    times, ids = [], []
    for q in queries:
        t = time.perf_counter()
        _, found = index.search(q[None, :], k)
        times.append((time.perf_counter() - t) * 1000)
        ids.append(found[0])
    return times, np.array(ids)


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    pairs = zip(found, truth, strict=True)
    hits = sum(len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in pairs)
    return hits / (k * len(truth))


def compare_indexes(vectors: np.ndarray, queries: np.ndarray) -> list[dict]:
    import faiss

    from chatbot import index as idx
    from chatbot.config import RetrievalWeights

    FUSION_CANDIDATES = RetrievalWeights().fusion_candidates

    n, dim = vectors.shape
    depth = min(FUSION_CANDIDATES, n)
    flat = faiss.IndexFlatIP(dim)
    t = time.perf_counter()
    flat.add(vectors)
    flat_build = time.perf_counter() - t
    flat_times, truth = timed_searches(flat, queries, depth)
    rows = [
        {
            "index": "Flat (exact)",
            "build_s": flat_build,
            "p50": statistics.median(flat_times),
            "p95": pct(flat_times, 95),
            "recall8": 1.0,
            "recall100": 1.0,
        }
    ]
    candidates = []
    hnsw = faiss.IndexHNSWFlat(dim, idx.HNSW_M, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = idx.HNSW_EF_CONSTRUCTION
    t = time.perf_counter()
    hnsw.add(vectors)
    hnsw_build = time.perf_counter() - t
    for ef in (64, idx.HNSW_EF_SEARCH, 256):
        hnsw.hnsw.efSearch = ef
        candidates.append((f"HNSW M={idx.HNSW_M} efSearch={ef}", hnsw, hnsw_build))
    nlist = max(1, min(int(4 * np.sqrt(n)), n // 39))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    t = time.perf_counter()
    ivf.train(vectors)
    ivf.add(vectors)
    ivf_build = time.perf_counter() - t
    for nprobe in (8, 32):
        ivf.nprobe = nprobe
        candidates.append((f"IVF nlist={nlist} nprobe={nprobe}", ivf, ivf_build))
    for name, index, build_s in candidates:
        times, found = timed_searches(index, queries, depth)
        rows.append(
            {
                "index": name,
                "build_s": build_s,
                "p50": statistics.median(times),
                "p95": pct(times, 95),
                "recall8": recall(found, truth, K),
                "recall100": recall(found, truth, depth),
            }
        )
    return rows


def search_paths(loaded, queries: np.ndarray, texts: list[str]) -> dict[str, float]:
    """p95 of the production large-corpus search vs the exact path's work, BM25 included."""
    import bm25s
    import Stemmer

    from chatbot.chunking import embed_text
    from chatbot.config import RetrievalWeights
    from chatbot.retrieval.fusion import fused_search

    weights = RetrievalWeights()

    stemmer = Stemmer.Stemmer("english")
    t = time.perf_counter()
    bm25 = bm25s.BM25()
    docs = [embed_text(c, loaded.articles[c.article_id].title) for c in loaded.chunks]
    bm25.index(
        bm25s.tokenize(
            docs, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False
        ),
        show_progress=False,
    )
    bm25_build = time.perf_counter() - t
    n = len(loaded.chunks)
    chunk_vecs = np.asarray(loaded.faiss_index.reconstruct_n(0, n), dtype=np.float32)
    fast, exact = [], []
    for q, text in zip(queries, texts, strict=True):
        tokens = bm25s.tokenize(
            [text], stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False
        )[0]
        t = time.perf_counter()
        lexical = np.asarray(bm25.get_scores(tokens)) if tokens else None
        fused_search(loaded.faiss_index, q, lexical, K, weights.fusion_candidates, weights.rrf_k)
        fast.append((time.perf_counter() - t) * 1000)
        # The exact path's work (the retriever below `exact_search_max` chunks): every chunk scored,
        # both rankings sorted in full and fused chunk by chunk.
        t = time.perf_counter()
        dense = chunk_vecs @ q
        lex = np.asarray(bm25.get_scores(tokens)) if tokens else np.zeros(n)
        fused = np.zeros(n)
        for rank, ci in enumerate(np.argsort(-dense)):
            fused[ci] += 1.0 / (61 + rank)
        if lex.any():
            for rank, ci in enumerate(np.argsort(-lex)):
                if lex[ci] <= 0:
                    break
                fused[ci] += 1.0 / (61 + rank)
        np.argsort(-fused)[:K]
        exact.append((time.perf_counter() - t) * 1000)
    return {
        "bm25_build_s": bm25_build,
        "fused_p50": statistics.median(fast),
        "fused_p95": pct(fast, 95),
        "exact_p50": statistics.median(exact),
        "exact_p95": pct(exact, 95),
    }


class LookupEmbedder:
    """The synthetic embedder, but the benchmark questions get the real model's vectors."""

    def __init__(self, synthetic: SyntheticEmbedder, table: dict[str, np.ndarray]) -> None:
        self.synthetic, self.table = synthetic, table
        self.name, self.dim = synthetic.name, synthetic.dim

    def encode(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1 and texts[0] in self.table:
            return self.table[texts[0]][None, :]
        return self.synthetic.encode(texts)

    def count_word_pieces(self, text: str) -> int:
        return self.synthetic.count_word_pieces(text)


def _bot_child(corpus_dir: Path, index_dir: Path, embedder: LookupEmbedder, conn) -> None:  # type: ignore[no-untyped-def]
    from chatbot.config import Settings
    from chatbot.corpus import load_corpus
    from chatbot.index import load_index
    from chatbot.pipeline import Bot

    loaded = load_index(index_dir, load_corpus(corpus_dir), embedder, 128, 32)
    t = time.perf_counter()
    bot = Bot(Settings(corpus_dir=corpus_dir, index_dir=index_dir), loaded, embedder)
    conn.send({"retriever_init_s": time.perf_counter() - t})
    times, stages = [], {}
    for _ in range(2):
        for q in QUESTIONS:
            answer = bot.ask(q)
            times.append(answer.timings["total_ms"])
            for key in ("embed_ms", "search_ms", "compose_ms"):
                stages.setdefault(key, []).append(answer.timings.get(key, 0.0))
    conn.send(
        {
            "ask_p50": statistics.median(times),
            "ask_p95": pct(times, 95),
            **{f"{k[:-3]}_p95": pct(v, 95) for k, v in stages.items()},
        }
    )


def whole_bot(corpus_dir: Path, index_dir: Path, embedder: LookupEmbedder, budget: float) -> dict:
    """The production Bot over this index (Retriever built as the app builds it), in a fresh
    child process (spawned: a forked BLAS can hang) with a time budget for its start-up and
    questions; the index load in the child is not counted."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_bot_child, args=(corpus_dir, index_dir, embedder, child))
    start = time.perf_counter()
    proc.start()
    out: dict = {}
    while proc.is_alive() or parent.poll():
        left = budget - (time.perf_counter() - start)
        if left <= 0:
            break
        if parent.poll(min(left, 1.0)):
            out.update(parent.recv())
            if "ask_p95" in out:
                break
    if proc.is_alive():
        proc.kill()
    if "ask_p95" not in out:
        out["timed_out_after_s"] = budget
    proc.join()
    return out


def run_factor(
    factor: int,
    base_articles: list,
    embedder: SyntheticEmbedder,
    queries: np.ndarray,
    throughput: float,
    tmp: Path,
    budget: float,
) -> dict:
    from chatbot.corpus import load_corpus
    from chatbot.index import build_index, load_index

    corpus_dir, index_dir = tmp / f"corpus{factor}", tmp / f"index{factor}"
    synthetic_corpus(base_articles, factor, corpus_dir)
    t = time.perf_counter()
    articles = load_corpus(corpus_dir)
    load_corpus_s = time.perf_counter() - t
    embedder.texts, embedder.seconds = 0, 0.0
    t = time.perf_counter()
    build_index(articles, embedder, index_dir, 128, 32)
    build_s = time.perf_counter() - t
    embedded, synth_s = embedder.texts, embedder.seconds
    t = time.perf_counter()
    loaded = load_index(index_dir, articles, embedder, 128, 32)
    load_s = time.perf_counter() - t
    size_mb = sum(p.stat().st_size for p in index_dir.iterdir()) / 2**20
    manifest = json.loads((index_dir / "manifest.json").read_text())
    print(
        f"{factor}x: {len(articles)} articles, {manifest['chunks']} chunks, "
        f"{manifest['sentences']} sentences, index {manifest['index_type']}; build "
        f"{build_s:.1f} s (synthetic embedding {synth_s:.1f} s), load {load_s:.1f} s",
        flush=True,
    )
    vectors = np.asarray(loaded.faiss_index.reconstruct_n(0, len(loaded.chunks)), dtype=np.float32)
    indexes = compare_indexes(vectors, queries)
    paths = search_paths(loaded, queries, QUESTIONS * (len(queries) // len(QUESTIONS)))
    table_ = {q: queries[i] for i, q in enumerate(QUESTIONS)}
    del loaded
    bot = whole_bot(corpus_dir, index_dir, LookupEmbedder(embedder, table_), budget)
    print(f"{factor}x: whole bot {bot}", flush=True)
    shutil.rmtree(corpus_dir)
    shutil.rmtree(index_dir)
    return {
        "factor": factor,
        "articles": len(articles),
        "chunks": manifest["chunks"],
        "sentences": manifest["sentences"],
        "index_type": manifest["index_type"],
        "load_corpus_s": load_corpus_s,
        "build_s": build_s,
        "synthetic_embed_s": synth_s,
        "ingest_without_embedding_s": build_s - synth_s,
        "texts_embedded": embedded,
        "real_embed_estimate_s": embedded / throughput,
        "load_s": load_s,
        "size_mb": size_mb,
        "indexes": indexes,
        **paths,
        "bot": bot,
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument(
        "--bot-budget",
        type=float,
        default=240.0,
        help="seconds allowed for the whole bot (retriever start + questions)",
    )
    args = parser.parse_args()

    from chatbot.chunking import chunk_article, embed_text
    from chatbot.config import Settings
    from chatbot.corpus import load_corpus
    from chatbot.embedding import SentenceTransformerEmbedder
    from chatbot.text.sentences import split_sentences

    real = SentenceTransformerEmbedder()
    base_articles = load_corpus(Settings().paths.corpus_dir)
    sentences = sorted({s.text for a in base_articles for s in split_sentences(a.body)})
    chunk_texts = [embed_text(c, a.title) for a in base_articles for c in chunk_article(a, 128, 32)]
    # The real model's throughput on what build_index embeds (chunks and sentences, batch 32).
    t = time.perf_counter()
    real.encode(chunk_texts)
    vecs = real.encode(sentences)
    throughput = (len(chunk_texts) + len(sentences)) / (time.perf_counter() - t)
    base = {s: vecs[i] for i, s in enumerate(sentences)}
    embedder = SyntheticEmbedder(base, real.dim)
    # Query vectors: the fixed questions, by the real model, repeated to 96 searches.
    queries = np.tile(real.encode(QUESTIONS), (8, 1)).astype(np.float32)
    print(f"real model: {throughput:.0f} texts/s (batch 32, 2 cores)", flush=True)

    results = json.loads(SCALE_JSON.read_text()) if SCALE_JSON.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for factor in args.factors:
            res = run_factor(
                factor, base_articles, embedder, queries, throughput, Path(tmp), args.bot_budget
            )
            res["real_throughput"] = throughput
            results[str(factor)] = res
            SCALE_JSON.parent.mkdir(parents=True, exist_ok=True)
            SCALE_JSON.write_text(json.dumps(results, indent=1))
    report(results)


def report(results: dict) -> None:
    from chatbot.config import RetrievalWeights

    EXACT_SEARCH_MAX = RetrievalWeights().exact_search_max

    rows, idx_rows = [], []
    for key in sorted(results, key=int):
        r = results[key]
        rows.append(
            [
                f"{r['factor']}x",
                r["articles"],
                r["chunks"],
                r["sentences"],
                r["index_type"],
                f"{r['ingest_without_embedding_s']:.1f}",
                f"{r['real_embed_estimate_s']:.0f} (est.)",
                f"{r['load_s']:.1f}",
                f"{r['size_mb']:.0f}",
                f"{r['bm25_build_s']:.1f}",
                f"{r['fused_p50']:.2f} / {r['fused_p95']:.2f}",
                f"{r['exact_p50']:.2f} / {r['exact_p95']:.2f}",
                "large-corpus" if r["chunks"] > EXACT_SEARCH_MAX else "exact",
            ]
        )
        for x in r["indexes"]:
            idx_rows.append(
                [
                    f"{r['factor']}x ({r['chunks']} chunks)",
                    x["index"],
                    f"{x['build_s']:.1f}",
                    f"{x['p50']:.3f}",
                    f"{x['p95']:.3f}",
                    f"{x['recall8']:.3f}",
                    f"{x['recall100']:.3f}",
                ]
            )
    bot_rows = []
    for key in sorted(results, key=int):
        r = results[key]
        b = r.get("bot", {})
        if not b:
            continue
        init = (
            f"{b['retriever_init_s']:.1f}"
            if "retriever_init_s" in b
            else (f"> {b.get('timed_out_after_s', 0):.0f} (stopped)")
        )
        asks = f"{b['ask_p50']:.1f} / {b['ask_p95']:.1f}" if "ask_p95" in b else "not reached"
        parts = (
            f"{b.get('embed_p95', 0):.1f} / {b.get('search_p95', 0):.1f} / "
            f"{b.get('compose_p95', 0):.1f}"
            if "ask_p95" in b
            else ""
        )
        bot_rows.append([f"{r['factor']}x", init, asks, parts])
    any_r = next(iter(results.values()))
    text = "\n".join(
        [
            f"machine: {any_r['machine']}",
            "",
            "Synthetic corpora: the five articles repeated with perturbations; built through the real "
            "`build_index` (chunking, sentence table, FAISS, atomic write) with a synthetic embedder "
            "(mean of the real model's sentence vectors + noise). 'real embedding' is the time the "
            f"real model would take for the same texts at the measured {any_r['real_throughput']:.0f} "
            "texts/s: an extrapolation, not a run. Search times are for one question (ms, p50 / p95 "
            "of 96 searches); 'large-corpus search' is the production path above "
            "`RetrievalWeights.exact_search_max` chunks (FAISS top-k + BM25, fused over 100 candidates each); "
            "'exact fusion' is the work of the small-corpus path (every chunk scored and ranked).",
            "",
            table(
                [
                    "size",
                    "articles",
                    "chunks",
                    "sentences",
                    "index built",
                    "ingest w/o embedding s",
                    "real embedding s",
                    "load s",
                    "index MiB",
                    "BM25 build s",
                    "large-corpus search ms",
                    "exact fusion ms",
                    "path used",
                ],
                rows,
            ),
            "",
            "FAISS alone (k = 100 candidates, one query at a time; recall against flat):",
            "",
            table(
                ["size", "index", "build s", "p50 ms", "p95 ms", "recall@8", "recall@100"], idx_rows
            ),
            "",
            "The whole bot over the synthetic index (`Bot` as the app builds it: the retriever's "
            "start-up, then `Bot.ask` on the fixed questions with the real model's question vectors "
            "looked up, so 'embed' is ~0 here), in a child process with a time budget:",
            "",
            table(
                [
                    "size",
                    "retriever start-up s",
                    "ask p50 / p95 ms",
                    "p95 embed / search / compose ms",
                ],
                bot_rows,
            ),
        ]
    )
    print(text)
    update_results("Scale", text)


if __name__ == "__main__":
    main()
