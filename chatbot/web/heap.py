"""The served process's heap, settled once it is built, so Python's cyclic garbage collector
does not walk it again and again while patients wait.

A served app holds ~600,000 Python objects that live as long as it does (the model's Python
side, Gradio, scikit-learn, the index's tables). Every full collection walked them all: ~0.4 s
with the GIL held, four times in ten seconds at 50 patients (bench/RESULTS.md, "Session 11"),
and every answer in flight waited behind it. ``settle`` collects once, then moves what is left
into the collector's permanent generation (``gc.freeze``), which later collections skip; and it
raises the youngest generation's threshold, since an answer allocates a few thousand short-lived
objects and at the default 700 the collector ran ~90 times a second. Reference counting still
frees everything that is not in a cycle at once, frozen or not; a cycle among frozen objects
that later becomes garbage is kept, which is why a re-index (the only thing that replaces
long-lived objects) settles the heap again.
"""

from __future__ import annotations

import gc
from typing import Any

# Allocations (less deallocations) between collections of the youngest generation, and how
# many collections of one generation trigger the next (Python's defaults: 700, 10, 10).
THRESHOLDS = (20_000, 20, 20)
_settled = False


def settle() -> None:
    """Collect everything, freeze what survives, and set ``THRESHOLDS``."""
    global _settled
    gc.unfreeze()  # a second call (after a re-index) looks at the old objects once more
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    _settled = True


def resettle() -> None:
    """``settle`` again if this process was settled (the served app; not a test's process)."""
    if _settled:
        settle()


def health() -> dict[str, Any]:
    """What ``/healthz`` says of the collector: frozen objects, thresholds, collections."""
    return {
        "frozen": gc.get_freeze_count(),
        "thresholds": list(gc.get_threshold()),
        "collections": [s["collections"] for s in gc.get_stats()],
    }
