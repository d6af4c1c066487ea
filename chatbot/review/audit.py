"""The audit log: who did what, when, to which answer, passage, article or account.

Every staff action (in the staff area or on the command line) adds one row; rows are never
changed. Shown on the staff pages (all of it, and per answer or article) and exported as CSV.
"""

from __future__ import annotations

import csv
import json
import time
from typing import IO, Any

from chatbot.review.db import Database, iso_time

AUDIT_COLUMNS = ["id", "when", "actor", "action", "target", "detail"]


class Audit(Database):
    """Appending to and reading the audit log."""

    def record(self, actor: str, action: str, target: str = "", **detail: Any) -> int:
        """Add one row; ``detail`` is kept as JSON (short values: no patient text)."""
        cur = self._conn().execute(
            "INSERT INTO audit (ts, actor, action, target, detail) VALUES (?,?,?,?,?) RETURNING id",
            (
                time.time(),
                (actor or "?")[:100],
                action[:60],
                str(target)[:200],
                json.dumps(detail, ensure_ascii=False, default=str)[:4000] if detail else "",
            ),
        )
        return int(cur.fetchone()[0])

    def audit(
        self,
        target: str = "",
        actor: str = "",
        limit: int = 200,
        offset: int = 0,
        prefix: bool = False,
    ) -> list[dict[str, Any]]:
        """Rows newest first, optionally for one target (``prefix``: targets starting so)."""
        where, args = [], []
        if target:
            if prefix:
                where.append("target LIKE ? ESCAPE '\\'")
                args.append(target.replace("\\", "\\\\").replace("%", "\\%") + "%")
            else:
                where.append("target = ?")
                args.append(target)
        if actor:
            where.append("actor = ?")
            args.append(actor)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        rows = self._conn().execute(
            f"SELECT id, ts, actor, action, target, detail FROM audit {clause}"
            " ORDER BY id DESC LIMIT ? OFFSET ?",
            [*args, max(1, min(int(limit), 10_000)), max(0, int(offset))],
        )
        out = []
        for r in rows:
            item = dict(r)
            item["detail"] = json.loads(item["detail"]) if item["detail"] else {}
            out.append(item)
        return out

    def audit_actions_of(self, target: str) -> str:
        """One cell for the answers' CSV: the actions on ``target``, oldest first."""
        rows = self._conn().execute(
            "SELECT ts, actor, action, detail FROM audit WHERE target=? ORDER BY id", (target,)
        )
        parts = []
        for r in rows:
            detail = json.loads(r["detail"]) if r["detail"] else {}
            what = " ".join(str(v) for v in detail.values() if isinstance(v, str | int))[:80]
            parts.append(f"{iso_time(r['ts'])} {r['actor']} {r['action']} {what}".strip())
        return " | ".join(parts)

    def export_audit_csv(self, out: IO[str]) -> int:
        """The whole audit log as CSV, oldest first; returns the row count."""
        writer = csv.writer(out)
        writer.writerow(AUDIT_COLUMNS)
        n = 0
        for r in self._conn().execute(
            "SELECT id, ts, actor, action, target, detail FROM audit ORDER BY id"
        ):
            row = [r["id"], iso_time(r["ts"]), r["actor"], r["action"], r["target"], r["detail"]]
            writer.writerow(
                [
                    "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v
                    for v in row
                ]
            )
            n += 1
        return n
