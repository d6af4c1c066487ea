"""The review store on a real SQLite file and a real PostgreSQL (``store_location`` runs each
store test on both): migrations, concurrency, redaction, retention, export."""

from __future__ import annotations

import csv
import io
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from chatbot.review.db import MIGRATIONS, StoreError, UnknownAnswerError
from chatbot.review.log import AnswerFilter
from chatbot.review.store import Store, open_store
from chatbot.text.normalise import question_key as normalize_question
from chatbot.text.spans import locate
from chatbot.types import Answer, Citation, Turn


def make_answer(status: str = "answered", quote: str = "Iron helps.", **kw) -> Answer:
    cites = (
        [
            Citation(
                id=1,
                article="iron-and-legs",
                title="Iron",
                quote=quote,
                start=0,
                end=len(quote),
                score=0.7,
            )
        ]
        if status == "answered"
        else []
    )
    text = f"Here:\n\n- {quote} [1]" if cites else "I could not find an answer."
    answer = Answer(status=status, answer=text, citations=cites, disclaimer="d", **kw)
    answer.timings = {"total_ms": 12.5}
    return answer


@pytest.fixture
def store(store_location: Path | str) -> Store:
    return Store(store_location)


def count(store: Store, table: str) -> int:
    return int(store._conn().execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_fresh_file_is_created_at_the_latest_version_in_wal_mode(tmp_path: Path):
    path = tmp_path / "new" / "deeper" / "chatbot.sqlite3"
    store = Store(path)
    assert path.exists()
    assert store.schema_version == len(MIGRATIONS)
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_an_empty_existing_file_is_migrated(tmp_path: Path):
    path = tmp_path / "empty.sqlite3"
    path.write_bytes(b"")
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    a = make_answer()
    store.log_answer("q", a, [], "api")
    assert store.get_answer(a.id) is not None


def test_open_store_uses_the_data_dir_and_retention(tmp_path: Path):
    from chatbot.config import Settings

    store = open_store(Settings(data_dir=tmp_path / "d", retention_days=7))
    assert store.path == tmp_path / "d" / "chatbot.sqlite3"
    assert store.retention_days == 7


def test_migration_from_version_1_keeps_rows_and_backfills(tmp_path: Path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])  # exactly the schema version 1 shipped with
    conn.execute("PRAGMA user_version=1")
    conn.execute(
        "INSERT INTO answers (id, created, conversation, channel, question, history, status,"
        " reason, answer, citations, latency_ms) VALUES ('old1', ?, 'c1', 'chat',"
        " 'What causes RLS?', '[]', 'answered', '', 'x [1]', '[]', 5.0)",
        (time.time(),),
    )
    conn.execute(
        "INSERT INTO feedback (answer_id, created, rating, comment) VALUES ('old1', 1, 'up', '')"
    )
    conn.execute(
        "INSERT INTO excluded_passages (article, start, end, quote, reason, created)"
        " VALUES ('a', 0, 5, 'Hello', 'wrong', 1)"
    )
    conn.commit()
    conn.close()

    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    row = store.get_answer("old1")
    assert row is not None and row["question"] == "What causes RLS?"
    assert row["question_norm"] == "what causes rls"
    assert row["feedback"][0]["rating"] == "up"
    assert row["verdict"] is None
    # An exclusion made under version 1 is still in force.
    assert store.excluded_spans() == {("a", 0, 5)}
    # Opening again is a no-op.
    assert Store(path).schema_version == len(MIGRATIONS)


def test_a_store_newer_than_the_program_is_refused(tmp_path: Path):
    path = tmp_path / "future.sqlite3"
    Store(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this program"):
        Store(path)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="review store"):
        Store(path)


def test_concurrent_writes_from_threads_lose_nothing(store_location: Path | str):
    store = Store(store_location)
    threads, per_thread = 8, 40
    ids: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(per_thread):
                a = make_answer()
                store.log_answer(f"question {n}-{i}", a, [], "api", conversation=f"conv-{n}")
                assert store.record_feedback(a.id, "up" if i % 2 else "down", f"c{i}")
                with lock:
                    ids.append(a.id)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    other = Store(store_location)  # another process would do the same: it sees it all
    assert count(other, "answers") == count(other, "feedback") == threads * per_thread
    assert len(set(ids)) == threads * per_thread
    assert other.list_answers(AnswerFilter(limit=1))[1] == threads * per_thread


def test_log_answer_redacts_question_history_and_feedback(store: Store):
    a = make_answer()
    store.log_answer(
        "I'm jane@example.org, born 03/04/1980, call 555-123-4567: why do my legs ache?",
        a,
        [Turn("user", "my phone is +1 (555) 987-6543"), Turn("assistant", "ok")],
        "chat",
    )
    assert store.record_feedback(a.id, "down", "write to bob@example.com")
    row = store.get_answer(a.id)
    assert row is not None
    stored = row["question"] + str(row["history"]) + row["feedback"][0]["comment"]
    for secret in ("jane@example.org", "03/04/1980", "555-123-4567", "987-6543", "bob@"):
        assert secret not in stored
    assert "why do my legs ache?" in row["question"]
    assert "[email]" in row["question"] and "[phone]" in row["history"][0]["content"]
    if store.path is not None:  # SQLite: nothing of it is anywhere in the file either
        raw = b"".join(p.read_bytes() for p in store.path.parent.glob("chatbot.sqlite3*"))
        assert b"jane@example.org" not in raw and b"555-123-4567" not in raw


def test_record_feedback_keeps_its_contract(store: Store):
    a = make_answer()
    store.log_answer("q", a, [], "api")
    assert store.record_feedback(a.id, "up") is True
    assert store.record_feedback("no-such-id", "up") is False
    with pytest.raises(ValueError):
        store.record_feedback(a.id, "meh")


def test_list_filters_by_status_feedback_verdict_date_and_text(store: Store):
    answered, abstained, rated = make_answer(), make_answer("no_answer"), make_answer()
    store.log_answer("What helps at night?", answered, [], "chat")
    store.log_answer("capital of Australia", abstained, [], "api")
    store.log_answer("100% sure_thing?", rated, [], "widget")
    store.record_feedback(rated.id, "down", "not helpful")
    store.set_verdict(answered.id, "correct", "fine", "staff")

    def ids(**kw) -> set[str]:
        return {r["id"] for r in store.list_answers(AnswerFilter(**kw))[0]}

    assert ids(status="no_answer") == {abstained.id}
    assert ids(feedback="down") == {rated.id}
    assert ids(feedback="none") == {answered.id, abstained.id}
    assert ids(verdict="correct") == {answered.id}
    assert ids(verdict="unreviewed") == {abstained.id, rated.id}
    assert ids(text="AUSTRALIA") == {abstained.id}
    assert ids(text="100%") == {rated.id}  # LIKE wildcards are literal
    assert ids(text="%") == {rated.id}
    assert ids(channel="widget") == {rated.id}
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert len(ids(since=today, until=today)) == 3
    assert ids(until="2000-01-01") == set()
    with pytest.raises(StoreError, match="date"):
        store.list_answers(AnswerFilter(since="yesterday"))
    rows, total = store.list_answers(AnswerFilter(limit=2))
    assert len(rows) == 2 and total == 3


def test_verdicts_are_validated_and_overwritten(store: Store):
    a = make_answer()
    store.log_answer("q", a, [], "api")
    store.set_verdict(a.id, "wrong", "first look")
    store.set_verdict(a.id, "correct", "second look", "ann")
    store.set_citation_verdict(a.id, 1, "does_not_support", "off topic")
    row = store.get_answer(a.id)
    assert row["verdict"]["verdict"] == "correct" and row["verdict"]["note"] == "second look"
    assert row["citation_verdicts"][1]["verdict"] == "does_not_support"
    with pytest.raises(StoreError):
        store.set_verdict(a.id, "maybe")
    with pytest.raises(UnknownAnswerError):
        store.set_verdict("nope", "correct")
    with pytest.raises(UnknownAnswerError):
        store.set_citation_verdict(a.id, 7, "supports")


def test_exclusion_is_by_quote_and_relocated_in_current_bodies(store: Store):
    from chatbot.types import Article

    def art(aid: str, body: str) -> Article:
        return Article(aid, aid, "", "", "", "", body)

    quote = "Ekbom was Swiss."
    exclusion = store.exclude_passage("a", 10, 10 + len(quote), quote, "wrong: Swedish")
    assert store.exclude_passage("a", 10, 26, quote, "again") == exclusion  # no duplicate
    articles = {
        "a": art("a", "Intro moved. Some more. Ekbom was Swiss. The end."),
        "b": art("b", "Copied: Ekbom was\n  Swiss. Elsewhere."),
        "c": art("c", "Nothing here."),
    }
    spans = store.excluded_spans(articles)
    body_a = articles["a"].body
    assert ("a", body_a.index(quote), body_a.index(quote) + len(quote)) in spans
    assert any(a == "b" for a, _, _ in spans)  # the same words, re-flowed, in another article
    assert not any(a == "c" for a, _, _ in spans)
    assert store.restore_passage(exclusion) is True
    assert store.excluded_spans(articles) == set()
    assert store.restore_passage(exclusion) is False


def test_locate_finds_every_occurrence_and_tolerates_whitespace():
    assert locate("ab ab ab", "ab") == [(0, 2), (3, 5), (6, 8)]
    assert locate("x one\ntwo y", "one two") == [(2, 9)]
    assert locate("abc", "   ") == []


def test_normalize_question():
    assert normalize_question("  What causes RLS?? ") == normalize_question("what causes rls")
    assert normalize_question("Ｗhat") == "what"


def test_retention_purges_whole_old_conversations(store_location: Path | str):
    store = Store(store_location)
    old, recent_same_conv, lone_old, fresh = (make_answer() for _ in range(4))
    store.log_answer("old turn", old, [], "chat", conversation="c1")
    store.log_answer("new turn", recent_same_conv, [], "chat", conversation="c1")
    store.log_answer("lone", lone_old, [], "api", conversation="c2")
    store.log_answer("fresh", fresh, [], "api")
    store.record_feedback(lone_old.id, "up")
    conn = store._conn()
    ten_days = time.time() - 10 * 86400
    conn.execute("UPDATE answers SET created=? WHERE id IN (?, ?)", (ten_days, old.id, lone_old.id))

    assert store.purge(30) == 0
    # Conversation c1 is still active (a recent turn), so its old turn stays; c2 goes.
    assert store.purge(7) == 1
    assert store.get_answer(lone_old.id) is None
    assert store.get_answer(old.id) is not None
    assert conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 0
    with pytest.raises(StoreError):
        store.purge(0)

    # The setting purges on open, too.
    conn.execute("UPDATE answers SET created=? WHERE conversation='c1'", (ten_days,))
    Store(store_location, retention_days=7)
    assert {r[0] for r in conn.execute("SELECT id FROM answers")} == {fresh.id}


def test_export_csv_has_reviewed_rows_and_defuses_formulas(store: Store):
    a, b = make_answer(), make_answer()
    store.log_answer('=HYPERLINK("http://evil")', a, [], "api")
    store.log_answer("not reviewed", b, [], "api")
    store.set_verdict(a.id, "wrong", "+1 bad", "ann")
    store.set_citation_verdict(a.id, 1, "does_not_support", "not about this")
    store.record_feedback(a.id, "down", "-meh")
    out = io.StringIO()
    assert store.export_csv(out) == 1
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == a.id and row["verdict"] == "wrong" and row["reviewer"] == "ann"
    assert row["question"].startswith("'=")  # a spreadsheet shows it, never runs it
    assert row["verdict_note"] == "'+1 bad" and row["feedback_comments"] == "'-meh"
    assert "[1] does_not_support (not about this)" in row["citation_verdicts"]
    assert row["feedback_down"] == "1"
    out_all = io.StringIO()
    assert store.export_csv(out_all, reviewed_only=False) == 2


def test_stats_counts_rates_and_topics(store: Store):
    for _ in range(3):
        store.log_answer("What causes RLS?", make_answer(), [], "api")
    none = make_answer("no_answer")
    store.log_answer("capital of France", none, [], "api")
    store.record_feedback(none.id, "down")
    st = store.stats(days=7)
    assert st.total == 4 and st.answered == 3 and st.no_answer == 1
    assert st.no_answer_rate == pytest.approx(0.25)
    assert st.rated == 1 and st.unhelpful_rate == pytest.approx(1.0)
    # A comment after a rating, or a changed mind, is still one vote: the latest.
    store.record_feedback(none.id, "down", "no answer at all")
    assert store.stats(days=7).rated == 1
    store.record_feedback(none.id, "up")
    assert store.stats(days=7).unhelpful_rate == 0.0 and store.stats(days=7).rated == 1
    top = st.top_questions[0]
    assert (top["question"], top["count"], top["variants"]) == ("What causes RLS?", 3, 1)
    assert st.top_articles[0]["article"] == "iron-and-legs"
    assert len(st.per_day) == 7 and st.per_day[-1]["answered"] == 3
    assert st.median_latency_ms == 12.5
    assert st.to_dict()["no_answer_rate"] == 0.25


def test_a_reviewed_answer_is_looked_up_from_the_few_verdicts_not_every_answer(tmp_path: Path):
    """SQLite, left to guess, walked every logged answer to a common question for its staff
    verdict (0.5 ms a patient's answer once 5,000 had asked it): staff's tables drive the
    lookups. The plan is read from the store's own statements (``sqlite3`` trace)."""
    path = tmp_path / "s.sqlite3"
    store = Store(path)
    answers = [make_answer() for _ in range(300)]
    for a in answers:
        store.log_answer("what is rls?", a, [], "api")
    store.set_verdict(answers[0].id, "correct")
    conn = store._conn()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        assert store.reviewed_answer("what is rls?", {}, "d") is None  # its quote is in no article
    finally:
        conn.set_trace_callback(None)
    lookups = [s for s in statements if "question_norm" in s]
    assert len(lookups) == 2
    for sql in lookups:
        plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql)]
        assert plan[0] in ("SCAN v", "SCAN cv"), plan
        assert not any(step.startswith("SCAN a") for step in plan), plan
