"""``python -m chatbot review ...``: the staff review from the command line.

Subcommands: list, show, verdict, cite, exclude, exclusions, restore, export, stats, purge,
user (add, list, role, on, off, password), audit, hash-password. Staff actions go into the
audit log as ``cli:<user>`` (or ``--reviewer``). None of them loads the embedding model;
they read the review store under ``CHATBOT_DATA_DIR`` and, where quotes are checked, the
articles in ``CHATBOT_CORPUS_DIR``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from chatbot.cli.common import UsageError, settings_of
from chatbot.errors import ChatbotError


def _store(args: argparse.Namespace) -> Any:
    from chatbot.review.store import open_store

    return open_store(settings_of(args))


def _articles(args: argparse.Namespace) -> dict[str, Any]:
    from chatbot.corpus import load_corpus

    return {a.id: a for a in load_corpus(Path(settings_of(args).paths.corpus_dir))}


def _reviewer(args: argparse.Namespace) -> str:
    if getattr(args, "reviewer", None):
        return str(args.reviewer)
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in this environment
        return "cli"


def _usage(message: str) -> Exception:
    return UsageError(message)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=None))


def cmd_list(args: argparse.Namespace) -> int:
    from chatbot.review.db import iso_time
    from chatbot.review.log import AnswerFilter

    flt = AnswerFilter(
        status=args.status or "",
        feedback=args.feedback or "",
        verdict=args.verdict or "",
        since=args.since or "",
        until=args.until or "",
        text=args.text or "",
        limit=args.limit,
    )
    rows, total = _store(args).list_answers(flt)
    if args.json:
        _print_json({"total": total, "answers": rows})
        return 0
    for r in rows:
        fb = f"+{r['up']}/-{r['down']}" if (r["up"] or r["down"]) else "-"
        reused = " (reviewed reuse)" if r["reviewed"] else ""
        print(
            f"{r['id']}  {iso_time(r['created'])}  {r['status']:<9}  fb {fb:<5}  "
            f"verdict {r['verdict'] or '-':<7}  {r['question'][:70]!r}{reused}"
        )
    print(f"{len(rows)} of {total} matching answers shown", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from chatbot.review.db import iso_time
    from chatbot.text.spans import around, overlaps_any, relocate

    store = _store(args)
    row = store.get_answer(args.id)
    if row is None:
        raise ChatbotError(f"no logged answer has the id {args.id!r}")
    articles = _articles(args)
    excluded = store.excluded_spans(articles)
    for c in row["citations"]:
        art = articles.get(c["article"])
        span = (
            relocate(art.body, c["quote"], int(c["start"]), int(c["end"]), exact=False)
            if art is not None
            else None
        )
        c["found_now"] = list(span) if span else None
        c["excluded"] = span is not None and overlaps_any(c["article"], *span, excluded)
        if art is not None and span is not None:
            before, _, after = around(art.body, *span, width=300, at_least=160, separator="\n\n")
            c["context"] = {"before": before, "after": after}
    if args.json:
        _print_json(row)
        return 0
    print(f"id:        {row['id']}")
    print(f"when:      {iso_time(row['created'])}  channel {row['channel']}")
    print(
        f"status:    {row['status']}{(' (' + row['reason'] + ')') if row['reason'] else ''}"
        f"{'  [reused reviewed answer]' if row['reviewed'] else ''}"
    )
    print(f"question:  {row['question']}")
    for t in row["history"]:
        print(f"  earlier {t['role']}: {t['content'][:200]}")
    print("\n" + row["answer"] + "\n")
    for c in row["citations"]:
        cv = row["citation_verdicts"].get(int(c["id"]))
        state = " EXCLUDED" if c["excluded"] else ""
        where = (
            "not in the current article"
            if c["found_now"] is None
            else (f"now at {c['found_now'][0]}-{c['found_now'][1]}")
        )
        print(f"[{c['id']}] {c['title']} ({c['article']}, {where}){state}")
        if "context" in c:
            print(f"    …{c['context']['before']}>>>{c['quote']}<<<{c['context']['after']}…")
        if cv:
            print(f"    staff: {cv['verdict']} {cv['note']}")
    if row["feedback"]:
        for f in row["feedback"]:
            print(f"feedback: {f['rating']} {f['comment']}")
    v = row["verdict"]
    print(f"verdict:   {v['verdict'] + ' by ' + v['reviewer'] + ': ' + v['note'] if v else '-'}")
    return 0


def cmd_verdict(args: argparse.Namespace) -> int:
    store = _store(args)
    store.set_verdict(args.id, args.verdict, args.note or "", _reviewer(args))
    store.record(_reviewer(args), "verdict", f"answer:{args.id}", verdict=args.verdict)
    print(f"answer {args.id} marked {args.verdict}")
    return 0


def cmd_cite(args: argparse.Namespace) -> int:
    store = _store(args)
    verdict = args.verdict.replace("-", "_")
    store.set_citation_verdict(args.id, args.citation, verdict, args.note or "", _reviewer(args))
    store.record(
        _reviewer(args),
        "citation_verdict",
        f"answer:{args.id}",
        citation=args.citation,
        verdict=verdict,
    )
    print(f"citation [{args.citation}] of {args.id}: {verdict}")
    if args.exclude:
        ex = store.exclude_citation(
            args.id, args.citation, args.note or "marked wrong or unsafe by staff", _reviewer(args)
        )
        print(f"passage excluded from future answers (exclusion {ex})")
    return 0


def cmd_exclude(args: argparse.Namespace) -> int:
    from chatbot.text.spans import locate

    store = _store(args)
    reason = args.reason or "marked wrong or unsafe by staff"
    if args.quote is not None or args.article is not None:
        if args.id is not None or args.quote is None or args.article is None:
            raise _usage("exclude takes either ANSWER_ID CITATION or --article A --quote TEXT")
        articles = _articles(args)
        art = articles.get(args.article)
        if art is None:
            raise ChatbotError(f"there is no article {args.article!r} in the corpus")
        spans = locate(art.body, args.quote)
        if not spans:
            raise ChatbotError(
                f"the quote is not in {args.article}; copy it word for word from the article"
            )
        start, end = spans[0]
        ex = store.exclude_passage(
            art.id, start, end, art.body[start:end], reason, reviewer=_reviewer(args)
        )
    else:
        if args.id is None or args.citation is None:
            raise _usage("exclude takes either ANSWER_ID CITATION or --article A --quote TEXT")
        ex = store.exclude_citation(args.id, args.citation, reason, _reviewer(args))
    store.record(_reviewer(args), "exclude", f"exclusion:{ex}", reason=reason[:200])
    print(f"excluded from future answers (exclusion {ex})")
    return 0


def cmd_exclusions(args: argparse.Namespace) -> int:
    items = _store(args).exclusions(_articles(args), include_lifted=args.all)
    if args.json:
        _print_json(items)
        return 0
    for x in items:
        found = ", ".join(f"{f['article']}@{f['start']}" for f in x["found"]) or "nowhere now"
        state = "" if x["active"] else " (lifted)"
        print(
            f"{x['id']:>4}{state}  {x['article']}: {x['quote'][:80]!r}  found: {found}  "
            f"reason: {x['reason']}"
        )
    if not items:
        print("no passage is excluded", file=sys.stderr)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    store = _store(args)
    if not store.restore_passage(args.exclusion):
        raise ChatbotError(f"there is no active exclusion {args.exclusion}")
    store.record(_reviewer(args), "restore", f"exclusion:{args.exclusion}")
    print(f"exclusion {args.exclusion} lifted: the passage may be quoted again")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.out:
        out_path = Path(args.out)
        tmp = out_path.with_name(out_path.name + ".tmp")
        try:
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                n = store.export_csv(fh, reviewed_only=not args.all)
            tmp.replace(out_path)
        except OSError as exc:
            raise ChatbotError(f"cannot write {out_path}: {exc.strerror or exc}") from exc
        print(f"wrote {n} answers to {out_path}", file=sys.stderr)
    else:
        n = store.export_csv(sys.stdout, reviewed_only=not args.all)
        print(f"{n} answers exported", file=sys.stderr)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    if args.days < 1:
        raise _usage("--days must be at least 1")
    st = _store(args).stats(args.days)
    if args.json:
        _print_json(st.to_dict())
        return 0
    print(f"last {st.days} days: {st.total} answers ({st.total / st.days:.1f} a day)")
    print(
        f"  answered {st.answered}, no answer {st.no_answer} ({st.no_answer_rate:.0%}), "
        f"emergency {st.emergency}, reviewed answers reused {st.reviewed_reuse}"
    )
    print(
        f"  rated by patients {st.rated}, unhelpful {st.rated_down} "
        f"({st.unhelpful_rate:.0%} of rated)"
    )
    print(f"  reviewed by staff {st.staff_reviewed}, judged wrong {st.staff_wrong}")
    if st.median_latency_ms is not None:
        print(f"  median time to answer {st.median_latency_ms:.0f} ms")
    peak = max([d["answered"] + d["no_answer"] + d["emergency"] for d in st.per_day] + [1])
    print("answers a day:")
    for d in st.per_day[-14:]:
        n = d["answered"] + d["no_answer"] + d["emergency"]
        print(f"  {d['day']}  {n:>4}  {'#' * round(30 * n / peak)}")
    if st.top_articles:
        print("most cited articles:")
        for a in st.top_articles[:5]:
            print(f"  {a['count']:>4}  {a['title'] or a['article']}")
    if st.top_questions:
        print("most asked questions:")
        for q in st.top_questions[:5]:
            print(f"  {q['count']:>4}  {q['question'][:80]}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    days = args.days if args.days is not None else settings.staff.retention_days
    if days <= 0:
        raise _usage(
            "give --days N (or set CHATBOT_RETENTION_DAYS): conversations older than "
            "N days are deleted"
        )
    from chatbot.review.store import Store, store_location

    n = Store(store_location(settings)).purge(days)
    print(f"deleted {n} answers from conversations older than {days} days")
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    from chatbot.review.passwords import hash_password

    if args.stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("New staff password: ")
        if getpass.getpass("Again: ") != password:
            raise ChatbotError("the two passwords differ; nothing was changed")
    print(hash_password(password))
    print(
        "Set it (single quotes: the hash contains $) and restart the app, e.g.\n"
        "  export CHATBOT_STAFF_PASSWORD_HASH='<the line above>'",
        file=sys.stderr,
    )
    return 0


def _password_from_stdin(prompt: str) -> str:
    if sys.stdin.isatty():
        password = getpass.getpass(prompt)
        if getpass.getpass("Again: ") != password:
            raise ChatbotError("the two passwords differ; nothing was changed")
        return password
    return sys.stdin.readline().rstrip("\r\n")


def cmd_user_add(args: argparse.Namespace) -> int:
    store = _store(args)
    password = _password_from_stdin(f"Password for {args.name}: ")
    store.add_user(args.name, args.role, password, created_by=_reviewer(args))
    store.record(_reviewer(args), "account_added", f"account:{args.name}", role=args.role)
    print(f"account {args.name} ({args.role}) added; they sign in at /staff")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    from chatbot.review.db import iso_time

    users = _store(args).users()
    if args.json:
        _print_json(users)
        return 0
    for u in users:
        state = "" if u["active"] else "  (switched off)"
        print(f"{u['name']:<24} {u['role']:<9} since {iso_time(u['created'])}{state}")
    if not users:
        print("no stored account (only CHATBOT_STAFF_* may sign in)", file=sys.stderr)
    return 0


def cmd_user_role(args: argparse.Namespace) -> int:
    store = _store(args)
    store.set_role(args.name, args.role)
    store.record(_reviewer(args), "account_role", f"account:{args.name}", role=args.role)
    print(f"{args.name} is now {args.role}")
    return 0


def cmd_user_active(args: argparse.Namespace) -> int:
    store = _store(args)
    on = args.user_command == "on"
    store.set_active(args.name, on)
    store.record(_reviewer(args), "account_on" if on else "account_off", f"account:{args.name}")
    print(f"{args.name} switched {'on' if on else 'off'}")
    return 0


def cmd_user_password(args: argparse.Namespace) -> int:
    store = _store(args)
    store.set_password(args.name, _password_from_stdin(f"New password for {args.name}: "))
    store.record(_reviewer(args), "account_password", f"account:{args.name}")
    print(f"new password set for {args.name}; their sessions ended")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from chatbot.review.db import iso_time

    store = _store(args)
    if args.csv:
        n = store.export_audit_csv(sys.stdout)
        print(f"{n} audit rows exported", file=sys.stderr)
        return 0
    rows = store.audit(target=args.target or "", actor=args.actor or "", limit=args.limit)
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        detail = ", ".join(f"{k}={v}" for k, v in r["detail"].items())
        print(f"{iso_time(r['ts'])}  {r['actor']:<16} {r['action']:<18} {r['target']}  {detail}")
    return 0


def _register_users(sub: Any, common: Any) -> None:
    users = sub.add_parser("user", help="staff accounts: add, list, role, on, off, password")
    usub = users.add_subparsers(dest="user_command", required=True)
    p = common(usub.add_parser("add", help="a new account (the password is read from stdin)"))
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=["reviewer", "editor", "admin"])
    p.add_argument("--reviewer", help="who adds it (default cli:<user>)")
    p.set_defaults(func=cmd_user_add)
    p = common(usub.add_parser("list", help="the accounts"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_user_list)
    p = common(usub.add_parser("role", help="change an account's role"))
    p.add_argument("name")
    p.add_argument("role", choices=["reviewer", "editor", "admin"])
    p.add_argument("--reviewer")
    p.set_defaults(func=cmd_user_role)
    for name, text in (("on", "switch an account on"), ("off", "switch an account off")):
        p = common(usub.add_parser(name, help=text))
        p.add_argument("name")
        p.add_argument("--reviewer")
        p.set_defaults(func=cmd_user_active)
    p = common(usub.add_parser("password", help="a new password (from stdin)"))
    p.add_argument("name")
    p.add_argument("--reviewer")
    p.set_defaults(func=cmd_user_password)

    p = common(sub.add_parser("audit", help="the audit log of staff actions"))
    p.add_argument("--actor")
    p.add_argument("--target", help="e.g. answer:ID, article:ID, account:NAME")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.add_argument("--csv", action="store_true", help="the whole log as CSV")
    p.set_defaults(func=cmd_audit)


def register(subparsers: Any) -> None:
    """Add ``review`` and its subcommands to the main parser."""
    review = subparsers.add_parser(
        "review", help="staff review of logged answers (list, show, verdict, export, ...)"
    )
    sub = review.add_subparsers(dest="review_command", required=True)

    def common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--data", help="data folder holding the review store (CHATBOT_DATA_DIR)")
        p.add_argument("--corpus", help="corpus folder (CHATBOT_CORPUS_DIR)")
        return p

    p = common(sub.add_parser("list", help="logged answers, newest first, with filters"))
    p.add_argument("--status", choices=["answered", "no_answer", "emergency"])
    p.add_argument("--feedback", choices=["up", "down", "any", "none"])
    p.add_argument("--verdict", choices=["correct", "wrong", "reviewed", "unreviewed"])
    p.add_argument("--since", help="first day, YYYY-MM-DD (UTC)")
    p.add_argument("--until", help="last day, YYYY-MM-DD (UTC)")
    p.add_argument("--text", help="words in the question or the answer")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = common(sub.add_parser("show", help="one answer with its citations in context"))
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = common(sub.add_parser("verdict", help="mark an answer correct or wrong"))
    p.add_argument("id")
    p.add_argument("verdict", choices=["correct", "wrong"])
    p.add_argument("--note", default="")
    p.add_argument("--reviewer", help="who judged (default cli:<user>)")
    p.set_defaults(func=cmd_verdict)

    p = common(sub.add_parser("cite", help="judge one citation of an answer"))
    p.add_argument("id")
    p.add_argument("citation", type=int)
    p.add_argument("verdict", choices=["supports", "does-not-support"])
    p.add_argument("--note", default="")
    p.add_argument("--exclude", action="store_true", help="also exclude the passage")
    p.add_argument("--reviewer")
    p.set_defaults(func=cmd_cite)

    p = common(sub.add_parser("exclude", help="keep a passage out of all future answers"))
    p.add_argument("id", nargs="?", help="answer id (with CITATION)")
    p.add_argument("citation", nargs="?", type=int, help="citation number in that answer")
    p.add_argument("--article", help="article id, to exclude a quote directly")
    p.add_argument("--quote", help="the exact words to exclude (with --article)")
    p.add_argument("--reason", default="")
    p.add_argument("--reviewer")
    p.set_defaults(func=cmd_exclude)

    p = common(sub.add_parser("exclusions", help="the excluded passages and where they are now"))
    p.add_argument("--all", action="store_true", help="include lifted exclusions")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_exclusions)

    p = common(sub.add_parser("restore", help="lift an exclusion"))
    p.add_argument("exclusion", type=int)
    p.set_defaults(func=cmd_restore)

    p = common(sub.add_parser("export", help="CSV of the reviewed answers (all with --all)"))
    p.add_argument("--out", help="file to write (default: stdout)")
    p.add_argument("--all", action="store_true", help="every logged answer, reviewed or not")
    p.set_defaults(func=cmd_export)

    p = common(sub.add_parser("stats", help="answers a day, no-answer and unhelpful rates"))
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stats)

    p = common(sub.add_parser("purge", help="delete conversations older than N days"))
    p.add_argument("--days", type=int, help="default: CHATBOT_RETENTION_DAYS")
    p.set_defaults(func=cmd_purge)

    _register_users(sub, common)

    p = sub.add_parser("hash-password", help="make CHATBOT_STAFF_PASSWORD_HASH for /staff")
    p.add_argument("--stdin", action="store_true", help="read the password from stdin")
    p.set_defaults(func=cmd_hash_password)
