"""Helpers shared by the benchmark scripts: percentiles, the machine, a served app, RESULTS.md."""

from __future__ import annotations

import http.client
import json
import os
import platform
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "RESULTS.md"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the tests' served-app helper is the benchmarks' too

from helpers import LiveServer, live_server_env  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# A fixed list: lay words, typos, follow-up style, an out-of-scope one and a personal-advice one.
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


def pct(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def isolated_app_env(data_dir: str) -> None:
    """The environment of a cost bench's in-process app: its own data folder, every vector kept
    in the query cache, no rate limit in the way, nothing fetched from a hub."""
    os.environ.update(
        CHATBOT_DATA_DIR=data_dir,
        CHATBOT_QUERY_CACHE_SIZE="1000000",
        CHATBOT_RATE_LIMIT_PER_MINUTE="100000000",
        HF_HUB_OFFLINE="1",
    )


def machine() -> str:
    """One line: date, CPU model, cores, RAM, load average (the figures are noisy when loaded)."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])
        load = os.getloadavg()
    except (OSError, TypeError):
        mem_kb, load = 0, (0.0, 0.0, 0.0)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{when}; {model}; {os.cpu_count()} cores; {mem_kb / 2**20:.0f} GiB RAM; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end of the run; "
        f"Python {platform.python_version()}"
    )


def update_results(section: str, body: str) -> None:
    """Replace (or add) the section ``## section`` of bench/RESULTS.md with ``body``."""
    begin, end = f"<!-- begin {section} -->", f"<!-- end {section} -->"
    block = f"{begin}\n## {section}\n\n{body.strip()}\n{end}"
    text = (
        RESULTS.read_text(encoding="utf-8")
        if RESULTS.exists()
        else (
            "# Benchmark results\n\nWritten by the scripts in bench/ (each updates its own section). "
            "The machine is shared by other jobs, so the figures are noisy; the load average is "
            "given with each run.\n"
        )
    )
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (a server's worker processes), from /proc."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MiB of a process and its children (workers), from /proc."""
    rss = hwm = 0
    for p in process_tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
            rss += int(re.search(r"VmRSS:\s+(\d+)", status)[1])  # type: ignore[index]
            hwm += int(re.search(r"VmHWM:\s+(\d+)", status)[1])  # type: ignore[index]
        except (OSError, TypeError):
            continue
    return rss / 1024, hwm / 1024


class Server(LiveServer):
    """A served app for a benchmark (the tests' ``LiveServer``): private data dir, and the
    per-client rate limit lifted, since every simulated patient comes from 127.0.0.1."""

    def __init__(
        self, index_dir: Path, data_dir: Path, command: list[str] | None = None, **env: str
    ) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        full = live_server_env(index_dir, data_dir, CHATBOT_RATE_LIMIT_PER_MINUTE="10000000")
        full.update(env)
        super().__init__(full, command=command)

    def wait_first_answer(
        self, question: str = "What causes restless legs?", timeout: float = 600
    ) -> float:
        """Seconds from process start until the first 200 answer to ``question``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                status, body = post_ask(self.host, self.port, question, timeout=30)
                if status == 200:
                    return time.perf_counter() - self.started
                if 400 <= status < 500:  # up, but refusing the benchmark's question
                    raise RuntimeError(f"server answered {status}: {str(body)[:300]}")
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not answer: {self.log.read_text()[-2000:]}")


def post_ask(
    host: str,
    port: int,
    question: str,
    conn: http.client.HTTPConnection | None = None,
    timeout: float = 60,
) -> tuple[int, dict[str, Any]]:
    """POST /api/ask; returns (status, JSON body). Reuses ``conn`` (keep-alive) when given."""
    own = conn is None
    c = conn or http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(
            "POST",
            "/api/ask",
            body=json.dumps({"question": question}),
            headers={"Content-Type": "application/json"},
        )
        resp = c.getresponse()
        data = resp.read()
        try:
            body = json.loads(data)
        except ValueError:
            body = {"raw": data[:200].decode("utf-8", "replace")}
        return resp.status, body
    finally:
        if own:
            c.close()


def bench_index_dir() -> Path:
    """The real corpus's index for the benchmarks (built by the first server start if absent)."""
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT / "index"
