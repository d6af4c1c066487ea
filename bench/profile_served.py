"""Profile of the served path under load: py-spy samples a served app (one worker, query cache
off, so every answer runs the model) while simulated patients ask, and says where the time goes.

Writes the flame graph to bench/profile.svg (py-spy's own SVG; open it in a browser), the raw
collapsed stacks to bench/out/profile.txt, and a breakdown by part (model, retrieval scoring,
lexicon, store write, HTTP and pydantic, Gradio...) to the "Profile" section of
bench/RESULTS.md, with the per-stage wall times an uncached answer reports at one client
(``timings``). py-spy reads the process from outside (ptrace): nothing in the app changes.

Run: `.venv/bin/python bench/profile_served.py [--clients 10] [--seconds 20]` (as root, or with
ptrace allowed for your user).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    OUT,
    QUESTIONS,
    ROOT,
    Server,
    bench_index_dir,
    machine,
    pct,
    post_ask,
    table,
    update_results,
)
from load import patient  # noqa: E402

PY_SPY = Path(sys.executable).parent / "py-spy"
SVG = ROOT / "bench" / "profile.svg"

# A sample counts for the first part (from the innermost frame outwards) whose pattern its
# frame's file matches: torch's kernels under a tokenizer call are the model's, numpy under
# the scorer is the scorer's.
PARTS: list[tuple[str, str]] = [
    (
        "model (ONNX Runtime or torch, tokenizer)",
        r"^(torch|transformers|sentence_transformers|tokenizers|onnxruntime)/"
        r"|chatbot/fast_embedding\.py",
    ),
    ("FAISS and BM25 search", r"^(faiss|bm25s|Stemmer)/"),
    (
        "retrieval: lexicon, typos, coverage (query, lexicon)",
        r"chatbot/retrieval/(lexicon|query|vocabulary)\.py|^rapidfuzz/",
    ),
    (
        "retrieval: sentence scoring, fusion, gate",
        r"chatbot/retrieval/(scoring|fusion|retriever)\.py",
    ),
    ("answer: selection and compose", r"chatbot/(answer|text/)"),
    ("safety checks (hygiene, emergency, advice)", r"chatbot/safety/"),
    ("review store (SQLite write and reads, redaction)", r"chatbot/review/|^sqlite3/"),
    ("query embedder (batching queue)", r"chatbot/embedding\.py"),
    ("Bot.ask glue", r"chatbot/(pipeline|types|messages)\.py"),
    ("web: routes, middleware, rate limit", r"chatbot/web/"),
    (
        "HTTP, JSON, pydantic (uvicorn, starlette, fastapi)",
        r"^(uvicorn|starlette|fastapi|pydantic|pydantic_core|h11|httptools|anyio|json|asyncio|email)/|^(selectors|socket|ssl)\.py",
    ),
    ("Gradio", r"^(gradio|gradio_client)/"),
]
# py-spy cannot always tell a waiting thread from a working one here: a request thread waiting
# for its vector, the event loop in epoll. Those samples are waits, not work, and are left out.
IDLE = re.compile(
    r"^(Condition\.wait|Event\.wait|EpollSelector\.select|Thread\._wait_for_tstate_lock|"
    r"Thread\.join|_worker|SimpleQueue\.get|Queue\.get) \("
)
FRAME = re.compile(r"\((?P<file>[^:()]+):\d+\)")


def categorise(raw: Path) -> tuple[Counter[str], int, int]:
    """Samples per part from py-spy's collapsed stacks ('f1;f2;... count' lines), the samples
    counted, and the waiting ones left out."""
    parts: Counter[str] = Counter()
    total = waiting = 0
    compiled = [(name, re.compile(pattern)) for name, pattern in PARTS]
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        if IDLE.match(stack.rsplit(";", 1)[-1]):
            waiting += n
            continue
        total += n
        files = [m["file"] for m in FRAME.finditer(stack)]
        files = [f.split("/site-packages/")[-1] for f in files]
        part = "other (threading, futures, interpreter)"
        for file in reversed(files):
            hit = next((name for name, rx in compiled if rx.search(file)), None)
            if hit:
                part = hit
                break
        parts[part] += n
    return parts, total, waiting


def stage_times(server: Server, rounds: int = 5) -> dict[str, list[float]]:
    """One client, uncached: each answer's own per-stage timings and the client's wall time."""
    out: dict[str, list[float]] = {"client_ms": []}
    for _ in range(rounds):
        for q in QUESTIONS:
            t = time.perf_counter()
            status, body = post_ask(server.host, server.port, q)
            out["client_ms"].append((time.perf_counter() - t) * 1000)
            for key, value in body.get("timings", {}).items():
                out.setdefault(key, []).append(value)
    return out


def record(pid: int, seconds: float, fmt: str, target: Path, gil: bool = False) -> None:
    subprocess.run(
        [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(int(seconds))]
        + ["--rate", "200", "--format", fmt, "--output", str(target), "--nonblocking"]
        + (["--gil"] if gil else []),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each recording")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    raw, raw_gil = OUT / "profile.txt", OUT / "profile-gil.txt"
    with (
        tempfile.TemporaryDirectory() as tmp,
        Server(bench_index_dir(), Path(tmp) / "data", CHATBOT_QUERY_CACHE_SIZE="0") as server,
    ):
        server.wait_first_answer()
        for q in QUESTIONS:
            post_ask(server.host, server.port, q)
        stages = stage_times(server)
        out: dict[str, list] = {"latencies": [], "errors": [], "server": []}
        lock = threading.Lock()
        stop_at = time.perf_counter() + 3 * args.seconds + 12
        clients = [
            threading.Thread(target=patient, args=(server, n, stop_at, out, lock))
            for n in range(args.clients)
        ]
        for th in clients:
            th.start()
        time.sleep(2)  # the load settles
        record(server.proc.pid, args.seconds, "flamegraph", SVG)
        record(server.proc.pid, args.seconds, "raw", raw)
        record(server.proc.pid, args.seconds, "raw", raw_gil, gil=True)
        for th in clients:
            th.join()

    parts, total, waiting = categorise(raw)
    gil_parts, gil_total, _ = categorise(raw_gil)
    rows = [
        [name, n, f"{100 * n / total:.1f}%", f"{100 * gil_parts[name] / max(1, gil_total):.1f}%"]
        for name, n in parts.most_common()
    ]
    stage_rows = [
        [key, f"{statistics.median(v):.2f}", f"{pct(v, 95):.2f}"] for key, v in stages.items()
    ]
    lat = out["latencies"]
    report = "\n".join(
        [
            f"machine: {machine()}",
            f"Served app, 1 worker, query cache off, {args.clients} clients asking the fixed "
            f"questions: {len(lat)} answers ({len(out['errors'])} errors), p50 "
            f"{statistics.median(lat):.0f} ms under the profiler. py-spy at 200 Hz: {total} "
            f"samples of working threads ({waiting} samples of threads waiting on a lock, a "
            f"future or epoll left out); flame graph of all threads: bench/profile.svg.",
            "",
            "Where the time goes under load, by the innermost part a sample's frames belong to. "
            "'share' is of all working threads (the model's thread runs torch without the GIL); "
            f"'GIL share' is of the thread holding the GIL ({gil_total} samples, py-spy --gil): "
            "the Python that the request threads queue for.",
            "",
            table(["part", "samples", "share", "GIL share"], rows),
            "",
            "One client, uncached, before the load (each answer's own `timings`; "
            "client_ms is the wall time seen over HTTP):",
            "",
            table(["stage", "p50 ms", "p95 ms"], stage_rows),
        ]
    )
    print(report)
    update_results("Profile", report)


if __name__ == "__main__":
    main()
