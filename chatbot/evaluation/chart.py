"""A PNG of an eval report: the figures per behaviour and the abstention trade-off."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_chart(data: dict[str, Any], path: Path) -> Path:
    """A PNG of the figures per behaviour and the abstention trade-off (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [
        ("answered_rate", "answered\n(answer items)", "answer"),
        ("evidence_hit", "evidence hit", "answer"),
        ("key_fact_coverage", "key-fact\ncoverage", "answer"),
        ("abstain_rate", "abstained\n(abstain items)", "abstain"),
        ("emergency_recall", "emergency\nrecall", "emergency"),
        ("quote_fidelity", "quote\nfidelity", "overall"),
        ("marker_validity", "citation\nmarkers", "overall"),
        ("disclaimer_present", "disclaimer", "overall"),
    ]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    sources = [("overall", data)]
    sources += [(name, {"overall": m, "by_behaviour": {}}) for name, m in data["by_split"].items()]
    width = 0.8 / len(sources)
    for i, (name, src) in enumerate(sources):
        values = []
        for key, _, scope in metrics:
            m = src["by_behaviour"].get(scope) if scope != "overall" else None
            m = m or src["overall"]
            values.append((m.get(key) or 0.0) * 100)
        xs = [x + (i - (len(sources) - 1) / 2) * width for x in range(len(metrics))]
        bars = ax1.bar(xs, values, width, label=name)
        for bar, v in zip(bars, values, strict=True):
            ax1.text(bar.get_x() + bar.get_width() / 2, v + 1, f"{v:.0f}", ha="center", fontsize=7)
    for x, (key, _, _) in enumerate(metrics):
        target = data["targets"].get(key)
        if target is not None:
            ax1.hlines(target * 100, x - 0.45, x + 0.45, colors="black", linestyles="dotted")
    ax1.set_xticks(range(len(metrics)), [m[1] for m in metrics], fontsize=8)
    ax1.set_ylim(0, 110)
    ax1.set_ylabel("%")
    ax1.set_title(f"Quality on {Path(data['questions']).name} (dotted: target)")
    ax1.legend(fontsize=8, loc="lower left")
    ts = [p["threshold"] for p in data["tradeoff"]]
    ax2.plot(
        ts, [p["answered_rate"] * 100 for p in data["tradeoff"]], label="answer items answered"
    )
    ax2.plot(
        ts, [p["abstain_rate"] * 100 for p in data["tradeoff"]], label="abstain items abstained"
    )
    ax2.axvline(data["threshold"], color="grey", linestyle="--", label="current threshold")
    ax2.set_xlabel("relevance threshold (CHATBOT_MIN_RELEVANCE)")
    ax2.set_ylabel("%")
    ax2.set_ylim(0, 105)
    ax2.set_title("Abstention trade-off")
    ax2.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
