"""Cold start: from `python -m chatbot serve` starting to the first answer served over HTTP.

Two cases: a restart with the index already built (the usual one; --runs times, median and
max), and a first run on an empty index folder (the app builds the index before serving). Also
times the pieces in a fresh interpreter (imports, model load, index load, retriever) so the total
can be explained. Updates bench/RESULTS.md.

Run: `.venv/bin/python bench/coldstart.py [--runs 3]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, Server, bench_index_dir, machine, table, update_results  # noqa: E402

# Run in a fresh interpreter: what each step of start-up costs.
PIECES = r"""
import json, time
t0 = time.perf_counter(); out = {}
def lap(name):
    global t0
    now = time.perf_counter(); out[name] = round(now - t0, 2); t0 = now
from chatbot.cli.common import quiet_libraries; quiet_libraries()
import torch, sentence_transformers; lap("import torch + sentence-transformers")
import gradio, fastapi, uvicorn; lap("import gradio + fastapi")
from chatbot.config import Settings; from chatbot.pipeline import Bot, open_index
from chatbot.embedding import SentenceTransformerEmbedder
s = Settings(index_dir=INDEX)
e = SentenceTransformerEmbedder(); lap("load the model")
idx = open_index(s, e, rebuild=False); lap("load the index")
bot = Bot(s, idx, e); lap("retriever (BM25) + bot")
from chatbot.web.app import create_app
app = create_app(bot); lap("create_app (API + Gradio chat)")
bot.ask("What causes restless legs?"); lap("first answer")
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="restarts with the index built")
    args = parser.parse_args()

    index_dir = bench_index_dir()
    warm: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.runs + 1):
            with Server(index_dir, Path(tmp) / f"data{n}") as server:
                seconds = server.wait_first_answer()
            if n:  # the first start may have built the bench index; not counted
                warm.append(seconds)
                print(f"restart {n}: first answer after {seconds:.2f} s", flush=True)
        with Server(Path(tmp) / "fresh-index", Path(tmp) / "fresh-data") as server:
            first_run = server.wait_first_answer()
        print(f"first run (builds the index): first answer after {first_run:.2f} s", flush=True)
    code = PIECES.replace("INDEX", repr(str(index_dir)))
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    pieces = json.loads(proc.stdout.strip().splitlines()[-1])

    rows = [
        [f"restart, index built (median of {len(warm)})", f"{statistics.median(warm):.2f}"],
        ["restart, index built (slowest)", f"{max(warm):.2f}"],
        ["first run, empty index folder (builds it)", f"{first_run:.2f}"],
    ]
    report = "\n".join(
        [
            f"machine: {machine()}",
            "",
            "From process start (`python -m chatbot serve`) to the first 200 answer of "
            "`POST /api/ask` on 127.0.0.1. Target: under 20 s.",
            "",
            table(["case", "seconds"], rows),
            "",
            "Where the time goes (one fresh interpreter, in order):",
            "",
            table(["step", "seconds"], [[k, f"{v:.2f}"] for k, v in pieces.items()]),
        ]
    )
    print(report)
    update_results("Cold start", report)


if __name__ == "__main__":
    main()
