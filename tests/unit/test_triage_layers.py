"""Triage without the real model: the rules' two tiers, the kinds, the numbers to call, the wording,
the ride-along embedder, the learned layers' mechanics (trained here on the fake embedder), the
stored model, the decision, and the tier figures ``chatbot eval`` reports."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from chatbot import messages
from chatbot.embedding import MODEL_NAME, FakeEmbedder, model_input
from chatbot.safety import model as triage_model_module
from chatbot.safety.contacts import COUNTRIES, country_lines, emergency_contacts
from chatbot.safety.decision import always_now_rules, decide, vetoed
from chatbot.safety.emergency import EMERGENCY_CATEGORIES, EmergencyMatch, read_rules
from chatbot.safety.features import (
    LONG_WORDS,
    char_features,
    cue_features,
    cue_names,
    text_design,
    text_units,
    triage_texts,
)
from chatbot.safety.kinds import CATEGORY_KIND, KIND_CATEGORY, KINDS, kind_of
from chatbot.safety.model import (
    DATA_DIR,
    Scores,
    TriageModel,
    TriageTargets,
    load_examples,
    train,
)
from chatbot.safety.scoring import names_line, tier_report
from chatbot.safety.triage import RideAlong, Triage, Verdict

TESTS = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------------
# The rules' two tiers


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("no chest pain, just restless legs", "negated"),
        ("I had chest pain last week, it's gone now and the ECG was clear", "past"),
        ("What should I do if my face ever droops on one side?", "hypothetical"),
        ("Can ropinirole cause chest pain?", "question"),
        ("Is shortness of breath a side effect of pramipexole?", "question"),
        ("can't breathe from laughing lol at my legs kicking", "figurative"),
    ],
)
def test_a_red_flag_not_happening_now_is_a_safety_net_hit(text, why):
    reading = read_rules(text)
    assert reading.emergency is None
    assert reading.net is not None and reading.net.why == why, reading


@pytest.mark.parametrize(
    "text",
    [
        "My chest hurts really bad when I breathe in, is that from my RLS pills?",  # personal, now
        "Can a new med make your throat swell? Because mine is right now",  # happening now
        "I had chest pain two years ago and now it is back again",
        "he says it's not normal indigestion, it's going up into his jaw",  # a "not" that is a sign
    ],
)
def test_a_question_or_history_about_what_happens_now_stays_an_emergency(text):
    assert read_rules(text).emergency is not None, read_rules(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (
            "my toddler has a fever and a rash that doesn't fade when I press a glass on it",
            "sepsis",
        ),
        (
            "bad back pain since yesterday and now I can't feel anything between my legs",
            "cauda_equina",
        ),
        ("the varicose vein on my ankle burst and it won't stop bleeding", "bleeding"),
        ("I've been vomiting blood this evening", "bleeding"),
        ("if someone stopped eating, how long would it take to die", "suicide"),  # a method: now
        ("the worst headache of my life came on suddenly", "stroke"),
    ],
)
def test_the_new_kinds_and_phrasings_are_emergencies(text, kind):
    match = read_rules(text).emergency
    assert match is not None and match.kind == kind, match


def test_plain_near_misses_get_neither_tier():
    for text in (
        "This itch is killing my sleep, what helps restless legs?",
        "my chest x-ray was clear, is RLS linked to the heart?",
        "What causes restless legs?",
    ):
        reading = read_rules(text)
        assert reading.emergency is None and reading.net is None, (text, reading)


def test_every_rule_category_has_a_kind_and_every_kind_a_category():
    for category in EMERGENCY_CATEGORIES:
        assert kind_of(category) in KINDS and kind_of(category) != "other", category
    assert set(CATEGORY_KIND.values()) | {"other"} == set(KINDS)
    assert all(kind in KIND_CATEGORY for kind in KINDS)


# ------------------------------------------------------------------------------------------------
# Numbers to call and what the reply says


def test_poison_help_by_country():
    assert country_lines("US").poison.number == "1-800-222-1222"
    assert country_lines("US").poison.tel == "+18002221222"
    assert country_lines("UK").poison.label == "NHS 111" and country_lines("GB").poison.tel == "111"
    assert country_lines("AU").poison.number == "13 11 26"
    assert country_lines("NZ").poison.number == "0800 764 766"
    for code in ("DE", "FR", "NL"):  # regional or professionals-only: none is named
        assert country_lines(code).poison is None
    assert country_lines("").poison is None and country_lines("ZZ").emergency == ()


def test_every_country_has_an_emergency_number_and_a_crisis_line_with_tel_links():
    for code, lines in COUNTRIES.items():
        assert lines.emergency and lines.crisis is not None, code
        for line in (*lines.emergency, lines.crisis, *([lines.poison] if lines.poison else [])):
            assert line.tel and all(ch.isdigit() or ch == "+" for ch in line.tel), (code, line)


def test_settings_override_the_country_lines():
    lines = country_lines(
        "US", number="112", crisis_line="Line on 0800 1", poison_line="Tox 0800 2"
    )
    assert lines.emergency_number == "112" and lines.emergency[0].tel == "112"
    assert lines.crisis.tel == "08001" and lines.poison.tel == "08002"
    assert emergency_contacts("US") == ("911", COUNTRIES["US"].crisis.spoken)


def test_the_reply_gives_the_right_action_per_kind():
    poison = COUNTRIES["US"].poison.spoken
    text = messages.emergency_text("911", "", "overdose or poisoning", poison)
    assert "call 911 now" in text and "1-800-222-1222" in text
    text = messages.emergency_text("999", "Samaritans on 116 123", "suicide or self-harm")
    assert "999" in text and "116 123" in text and "You are not alone" in text
    assert "press hard" in messages.emergency_text("999", "", "heavy bleeding")
    assert "Note the time" in messages.emergency_text("999", "", "stroke signs")
    both = frozenset({"suicide or self-harm", "overdose or poisoning"})
    text = messages.emergency_text("911", "988", "collapse or unconsciousness", poison, both)
    assert "988" in text and "1-800-222-1222" in text
    generic = messages.emergency_text("", "", "overdose or poisoning")
    assert messages.GENERIC_POISON_HELP in generic and "local emergency number" in generic


def test_the_safety_net_line_is_one_bold_line_naming_the_number():
    for category in (*EMERGENCY_CATEGORIES, "possible emergency"):
        line = messages.safety_net_line("911", "988", category, "Poison Help")
        assert line.startswith("**") and line.endswith("**") and "\n" not in line
        assert "911" in line
    assert "988" in messages.safety_net_line("911", "988", "suicide or self-harm")
    assert "Poison Help" in messages.safety_net_line(
        "911", "", "overdose or poisoning", "Poison Help"
    )


# ------------------------------------------------------------------------------------------------
# One model call: the triage texts ride along with the retriever's


class CountingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return super().encode(texts)


def test_ride_along_adds_the_carried_texts_to_the_next_call_only():
    inner = CountingEmbedder()
    ride = RideAlong(inner)
    ride.carry(["my chest hurts", "what causes rls"])
    out = ride.encode(["what causes rls", "causes"])
    assert out.shape == (2, inner.dim)  # the caller gets its own rows
    assert inner.calls == [["what causes rls", "causes", "my chest hurts"]]  # deduplicated
    got = ride.take()
    assert got is not None and np.allclose(got[1], out[0])
    ride.encode(["again"])
    assert inner.calls[-1] == ["again"] and ride.take() is None


def test_ride_along_is_per_thread():
    inner = CountingEmbedder()
    ride = RideAlong(inner)
    ride.carry(["mine"])
    seen = []
    thread = threading.Thread(target=lambda: seen.append(ride.encode(["other thread"])))
    thread.start()
    thread.join()
    assert inner.calls == [["other thread"]]
    ride.encode(["this thread"])
    assert inner.calls[-1] == ["this thread", "mine"]


def test_long_messages_are_read_by_their_tail_too():
    short = triage_texts("My legs jump at night.")
    assert short == ["my legs jump at night."]
    story = "My legs have been restless for years and nothing helps. " * 20
    texts = triage_texts(story + "Tonight my face is drooping on one side.")
    assert len(texts) == 2 and "drooping" in texts[1] and len(story.split()) > LONG_WORDS
    assert cue_features("no chest pain lol?").shape == (len(cue_names()),)


# ------------------------------------------------------------------------------------------------
# The learned layers (trained on the fake embedder here: the mechanics, not the figures)


@pytest.fixture(scope="module")
def fake_model() -> TriageModel:
    examples = load_examples()
    picked = [ex for i, ex in enumerate(examples) if i % 4 == 0]  # a quarter: fast
    return train(picked, FakeEmbedder(), TriageTargets(folds=3))


def test_training_is_deterministic_and_chooses_thresholds(fake_model):
    again = train(
        [ex for i, ex in enumerate(load_examples()) if i % 4 == 0],
        FakeEmbedder(),
        TriageTargets(folds=3),
    )
    assert np.array_equal(fake_model.emergency_w, again.emergency_w)
    assert fake_model.thresholds == again.thresholds
    assert set(fake_model.thresholds) == {
        "emergency",
        "knn",
        "sentence",
        "net",
        "sentence_net",
        "support",
        "veto",
        "override",
        "asked",
        "asked_sentence",
        "suicide",
        "suicide_net",
        "poisoning",
        "poisoning_net",
        "suicide_support",
        "poisoning_support",
    }
    cv = fake_model.report["cross_validated"]
    assert 0 <= cv["near_miss_emergency_rate"] <= 1 and cv["recall"] >= cv["rules_recall"]


def test_the_model_is_stored_and_checked_by_its_key(fake_model, tmp_path):
    fake_model.key = "k1"
    fake_model.save(tmp_path)
    loaded = TriageModel.load(tmp_path, "k1")
    assert loaded is not None and np.allclose(loaded.bank, fake_model.bank)
    vec = FakeEmbedder().encode(["my chest is crushing"])
    cues = np.stack([cue_features("my chest is crushing")])
    chars = char_features(["my chest is crushing"])
    assert loaded.score(vec, cues, chars) == fake_model.score(vec, cues, chars)
    with pytest.raises(ValueError):  # the n-gram weights need the n-grams
        fake_model.score(vec, cues)
    assert TriageModel.load(tmp_path, "another key") is None  # stale: retrained
    (tmp_path / "triage.npz").write_bytes(b"not a zip file")
    assert TriageModel.load(tmp_path, "k1") is None  # damaged: retrained, no crash
    assert TriageModel.load(tmp_path / "missing", "k1") is None


def test_an_embedder_the_layers_were_not_validated_with_leaves_triage_to_the_rules(tmp_path):
    assert triage_model_module.triage_model(tmp_path, FakeEmbedder()) is None


def test_the_training_banks_live_in_the_repository_and_match_the_project_sets():
    names = {path.name for path in DATA_DIR.glob("*.jsonl")}
    assert set(triage_model_module.TRAINING_FILES) <= names
    for wave in ("wave1", "wave2", "wave3", "wave4", "wave5", "wave6"):
        assert (DATA_DIR / f"{wave}.jsonl").read_text("utf-8") == (
            TESTS / f"safety_{wave}.jsonl"
        ).read_text("utf-8")
    project = {
        r["id"]: r
        for r in map(json.loads, (TESTS / "safety_set.jsonl").read_text("utf-8").splitlines())
    }
    for line in (DATA_DIR / "safety_set.jsonl").read_text("utf-8").splitlines():
        row = json.loads(line)
        assert project[row["id"]]["question"] == row["question"]
        assert row["expected_tier"] == project[row["id"]].get("expected_tier", row["expected_tier"])
    examples = load_examples()
    assert len({ex.id for ex in examples}) == len(examples)
    assert {ex.tier for ex in examples} <= {"emergency", "safety_net", "none", "unknown"}
    assert {ex.kind for ex in examples if ex.tier == "emergency"} <= set(KINDS)


# ------------------------------------------------------------------------------------------------
# The decision


TH = {"emergency": 0.9, "knn": 0.2, "net": 0.8}


def scores(p=0.0, knn=-1.0, flag=0.0, kind="stroke", sentence=0.0):
    return Scores(p, knn, flag, {kind: 0.9, "poisoning": 0.05, "suicide": 0.05}, sentence)


def test_any_learned_layer_can_raise_the_alarm():
    assert decide(None, scores(p=0.95), TH) == ("emergency", "stroke", "classifier")
    assert decide(None, scores(knn=0.3), TH) == ("emergency", "stroke", "exemplars")
    assert decide(None, scores(flag=0.85), TH) == ("safety_net", "stroke", "weak")
    assert decide(None, scores(), TH) == (None, "", "")


def test_one_weakly_alarming_sentence_gets_the_safety_net_line():
    """ "tired of it all and might not be around much longer. does magnesium help?": the sentence
    head reads the first sentence as an emergency (0.86, under its emergency threshold), the
    whole message reads as an RLS question: the reminder line, not nothing."""
    th = {**TH, "sentence": 0.95, "sentence_net": 0.6}
    weak = Scores(0.01, -0.25, 0.07, {"suicide": 0.53, "stroke": 0.1}, p_sentence=0.86)
    assert decide(None, weak, th) == ("safety_net", "suicide", "weak-sentence")
    calm = Scores(0.01, -0.25, 0.07, {"suicide": 0.53}, p_sentence=0.5)
    assert decide(None, calm, th) == (None, "", "")
    sure = Scores(0.01, -0.25, 0.07, {"suicide": 0.53}, p_sentence=0.97)
    assert decide(None, sure, th) == ("emergency", "suicide", "sentences")


def test_the_classifier_alone_is_not_believed_far_from_every_example():
    floor = {**TH, "support": -0.05}
    assert decide(None, scores(p=0.99, knn=-0.04), floor)[0] == "emergency"
    # Far from the exemplar bank a confident classifier is no alarm; a weak flag still nets it.
    assert decide(None, scores(p=0.99, knn=-0.3), floor) == (None, "", "")
    assert decide(None, scores(p=0.99, knn=-0.3, flag=0.9), floor)[0] == "safety_net"


def test_a_red_flag_the_rules_saw_denied_or_past_is_not_an_emergency():
    denied = EmergencyMatch("suicide or self-harm", "suicidal", "suicide-1", "negated")
    assert decide(denied, scores(p=0.99, kind="suicide"), TH)[0] == "safety_net"
    past = EmergencyMatch("chest pain", "chest pain", "chest-pain-1", "past")
    assert decide(past, scores(p=0.99), TH)[0] == "safety_net"
    general = EmergencyMatch("chest pain", "chest pain", "chest-pain-1", "question")
    assert decide(general, scores(p=0.99, kind="stroke"), TH)[0] == "emergency"  # another kind
    assert decide(general, None, TH) == ("safety_net", "chest_pain", "rules-net")


def test_a_red_flag_the_rules_saw_past_is_an_emergency_when_the_classifier_is_surer():
    past = EmergencyMatch("chest pain", "chest pain", "chest-pain-1", "past")
    sure = {**TH, "override": 0.97}
    assert decide(past, scores(p=0.95), sure)[0] == "safety_net"
    assert decide(past, scores(p=0.99), sure) == ("emergency", "stroke", "classifier")


def test_a_red_flag_asked_about_is_an_emergency_when_the_classifier_is_surer_than_asked():
    # "is it normal after scratching for it to keep spurting?": the rules read a question about
    # the same kind; only a score above the learned "asked" threshold makes it an emergency.
    asked = EmergencyMatch("heavy bleeding", "spurting", "bleeding-1", "question")
    sure = {**TH, "asked": 0.97}
    bleeding = scores(p=0.95, kind="bleeding")
    assert decide(asked, bleeding, sure) == ("safety_net", "bleeding", "rules-net")
    assert decide(asked, scores(p=0.99, kind="bleeding"), sure)[0] == "emergency"
    assert decide(asked, scores(p=0.99, kind="bleeding"), TH)[0] == "safety_net"  # none learned


def test_a_red_flag_asked_about_is_an_emergency_when_one_sentence_says_it_is_happening():
    # "is it normal to feel this breathless on gabapentin? ... my breathing has gone really
    # slow and shallow and I keep nodding off": the question hides what the sentence head reads.
    asked = EmergencyMatch("trouble breathing", "breathless", "trouble-breathing-3", "question")
    th = {**TH, "asked": 0.97, "sentence": 0.9, "asked_sentence": 0.95}
    calm = scores(p=0.5, kind="breathing", sentence=0.93)  # the head fires, not past "asked"
    assert decide(asked, calm, th) == ("safety_net", "breathing", "rules-net")
    now = scores(p=0.5, kind="breathing", sentence=0.99)
    assert decide(asked, now, th) == ("emergency", "breathing", "sentences")
    assert decide(asked, now, {**th, "asked_sentence": 1.0})[0] == "safety_net"


def test_a_line_detector_raises_the_alarm_or_the_line_that_names_its_number():
    th = {**TH, "suicide": 0.9, "suicide_net": 0.5, "poisoning": 0.9, "poisoning_net": 0.5}

    def read(suicide=0.0, poisoning=0.0, flag=0.0):
        return Scores(
            0.1, -1.0, flag, {"clot": 0.9}, lines={"suicide": suicide, "poisoning": poisoning}
        )

    assert decide(None, read(suicide=0.95), th) == ("emergency", "suicide", "lines")
    # Weakly: the safety-net line of its kind (which names the crisis line), before a red flag.
    assert decide(None, read(suicide=0.6, flag=0.9), th) == ("safety_net", "suicide", "weak")
    assert decide(None, read(poisoning=0.7, suicide=0.6), th)[1] == "poisoning"  # the surer
    assert decide(None, read(flag=0.9), th) == ("safety_net", "clot", "weak")
    assert decide(None, read(suicide=0.95), TH) == (None, "", "")  # no threshold learned
    # Far from the exemplar bank (below the support floor) a line detector is not believed.
    assert decide(None, read(suicide=0.95), {**th, "suicide_support": 0.0}) == (None, "", "")


def test_the_sentence_head_can_raise_the_alarm():
    th = {**TH, "sentence": 0.9}
    buried = Scores(0.5, -1.0, 0.6, {"stroke": 0.9}, p_sentence=0.95)
    assert decide(None, buried, th) == ("emergency", "stroke", "sentences")
    assert decide(None, Scores(0.5, -1.0, 0.6, {"stroke": 0.9}, p_sentence=0.5), th)[0] is None


def test_the_learned_layers_overrule_a_lone_rule_match_only_below_the_veto():
    match = EmergencyMatch("heavy bleeding", "bleeding hell", "heavy-bleeding-1")
    th = {**TH, "veto": 0.1}
    assert vetoed(match, scores(p=0.02), th)
    assert not vetoed(match, scores(p=0.5), th)
    assert not vetoed(match, None, th)  # no learned reading: the rules stand
    assert not vetoed(match, scores(p=0.02), TH)  # a model without a veto threshold
    # The sentence head reads one sentence as an emergency (a crushing chest pain in the middle
    # of a long iron question): the rules' match stands.
    both = {**th, "sentence": 0.3}
    assert vetoed(match, scores(p=0.02, sentence=0.1), both)
    assert not vetoed(match, scores(p=0.02, sentence=0.6), both)
    for name in always_now_rules():  # never for a rule marked always_now
        assert not vetoed(EmergencyMatch("suicide or self-harm", "x", name), scores(p=0.0), th)
    # Only the rules the model may arbitrate: those with a false alarm in its banks.
    assert vetoed(match, scores(p=0.02), th, frozenset({"heavy-bleeding-1"}))
    assert not vetoed(match, scores(p=0.02), th, frozenset({"overdose-1"}))
    assert not vetoed(match, scores(p=0.02), th, frozenset())


def test_the_veto_learns_from_the_banks_which_rules_ever_raised_a_false_alarm(fake_model):
    """A rule is arbitrated only once a message of the banks it matched was not an emergency."""
    from chatbot.safety.emergency import read_rules
    from chatbot.safety.training import TrainingData, vetoable_rules

    picked = [ex for i, ex in enumerate(load_examples()) if i % 4 == 0]
    readings = [read_rules(ex.text) for ex in picked]
    false_alarms = {
        r.emergency.rule
        for r, ex in zip(readings, picked, strict=True)
        if r.emergency is not None and ex.tier != "emergency"
    }
    caught_only = {r.emergency.rule for r in readings if r.emergency is not None} - false_alarms
    assert false_alarms and caught_only  # both kinds are in the banks
    assert fake_model.vetoable == false_alarms  # what training stored

    def data(examples):
        n = len(examples)
        return TrainingData(
            examples, [np.zeros((1, 2))] * n, [np.zeros((1, 2))] * n,
            np.array([ex.tier for ex in examples]), np.array([ex.kind for ex in examples]),
            np.zeros(n, dtype=bool), chars=[0] * n, units=[0] * n,
        )  # fmt: skip

    assert vetoable_rules(data(picked), readings) == false_alarms
    # One more bank message: a rule that had only caught emergencies matches a near-miss.
    rule = sorted(caught_only)[0]
    text = next(ex.text for ex, r in zip(picked, readings, strict=True)
                if r.emergency is not None and r.emergency.rule == rule)  # fmt: skip
    near = replace(picked[0], id="new-near-miss", text=text, tier="safety_net", near_miss=True)
    grown = vetoable_rules(data([*picked, near]), [*readings, read_rules(text)])
    assert grown == false_alarms | {rule}


def test_a_vetoed_rule_match_gets_the_safety_net_line_and_a_failed_reading_the_emergency(
    fake_model,
):
    triage = Triage(fake_model, FakeEmbedder(), country_lines("US"))
    # overrule every match
    fake_model.thresholds = {**fake_model.thresholds, "veto": 1.01, "sentence": 1.01}
    text = "my chest is crushing"
    verdict = triage.assess(text, "", lambda: "reading")
    assert verdict.tier == "safety_net" and verdict.layer == "rules-veto"
    assert verdict.reading == "reading" and verdict.kind == "chest_pain"

    def broken():
        raise RuntimeError("the index is gone")

    verdict = triage.assess(text, "", broken)  # the rules' match stands whatever fails
    assert verdict.tier == "emergency" and verdict.layer == "rules"


def test_the_sentence_head_reads_each_sentence_and_the_second_turn():
    assert text_units("what helps rls?") == ["what helps rls?"]
    units = text_units("I take iron. Since an hour I can't see out of one eye.", "hi there")
    assert units[1:3] == ["i take iron.", "since an hour i can't see out of one eye."]
    assert units[-1] == "hi there, i take iron. since an hour i can't see out of one eye."
    assert text_design(units).shape[0] == len(units)


def test_triage_rules_first_and_never_wait_for_the_reading():
    triage = Triage(None, FakeEmbedder(), country_lines("US"))

    def read():
        raise AssertionError("the reading ran for an emergency the rules found")

    verdict = triage.assess("my toddler swallowed my iron tablets", "", read)
    assert verdict.tier == "emergency" and verdict.kind == "poisoning" and verdict.layer == "rules"
    field = triage.safety_field(verdict)
    assert field["tier"] == "emergency" and field["kind"] == "poisoning"
    assert {c["role"] for c in field["contacts"]} == {"emergency", "poison"}
    assert any(c["tel"] == "+18002221222" for c in field["contacts"])


def test_triage_without_learned_layers_still_reads_and_nets():
    triage = Triage(None, FakeEmbedder(), country_lines("GB"))
    verdict = triage.assess("Can ropinirole cause chest pain?", "", lambda: "reading")
    assert verdict.tier == "safety_net" and verdict.reading == "reading"
    assert triage.net_line(verdict).startswith("**If you have chest pain")
    assert triage.safety_field(Verdict()) is None


def test_learned_layers_that_fail_leave_the_rules_verdict(fake_model, monkeypatch):
    triage = Triage(fake_model, FakeEmbedder(), country_lines(""))

    def broken(*_a, **_k):
        raise RuntimeError("model broke")

    monkeypatch.setattr(fake_model, "score", broken)
    verdict = triage.assess("Can ropinirole cause chest pain?", "", lambda: None)
    assert verdict.tier == "safety_net" and verdict.scores is None
    assert triage.assess("my chest is crushing", "").tier == "emergency"


def test_the_triage_texts_ride_along_in_the_readings_call_once(fake_model):
    inner = CountingEmbedder()
    triage = Triage(fake_model, inner, country_lines(""))
    message = "My RLS makes me want to kill myself"
    own = triage_texts(message)

    def read(form: str):
        return lambda: triage.embedder.encode([form, "a side reading"])

    # The retriever's form differs (typos mended, "RLS" spelled out): the trained form rides along.
    verdict = triage.assess(message, "", read("My restless legs syndrome makes me want to"))
    assert inner.calls == [["My restless legs syndrome makes me want to", "a side reading", *own]]
    expected = fake_model.score(
        inner.encode(own),
        np.stack([cue_features(t) for t in own]),
        char_features(own),
        text_design(text_units(message, "")),
    )
    assert verdict.scores is not None
    assert verdict.scores.p_emergency == pytest.approx(expected.p_emergency)
    # The same text in the model's form (it lower-cases): embedded once, in the reading's call.
    inner.calls.clear()
    form = "what helps Restless legs at night"
    triage.assess("What helps restless legs at night", "", read(form))
    assert inner.calls == [[form, "a side reading"]]
    # A reading that makes no model call: triage embeds its texts itself.
    inner.calls.clear()
    assert triage.assess(message, "", lambda: None).scores is not None
    assert inner.calls == [own]


def test_ride_along_reads_case_only_for_an_uncased_model():
    assert model_input(MODEL_NAME, "I'm Dizzy") == "i'm dizzy"
    assert model_input("some-cased-model", "I'm Dizzy") == "I'm Dizzy"
    cased = CountingEmbedder()
    cased.name = "some-cased-model"
    ride = RideAlong(cased)
    ride.carry(["what helps"])
    ride.encode(["What helps"])
    assert ride.inner.calls == [["What helps", "what helps"]]
    assert ride.take().shape[0] == 1


def test_poisoning_and_suicide_lines_follow_the_words():
    triage = Triage(None, FakeEmbedder(), country_lines("US"))
    verdict = triage.assess("my husband took all his pills on purpose and now he won't wake up", "")
    assert verdict.tier == "emergency"
    kinds = {verdict.kind, *verdict.also}
    assert {"poisoning", "suicide"} <= kinds, verdict
    text = triage.emergency_text(verdict)
    assert "988" in text and "1-800-222-1222" in text


@pytest.mark.parametrize(
    ("text", "role", "number"),
    [
        ("I had chest pain last week, it's gone. I used to self harm years ago", "crisis", "988"),
        ("My chest pain went away yesterday. I'm not suicidal, just tired", "crisis", "988"),
        (
            "I had chest pain last year. Last year I also took an overdose but I'm fine now",
            "poison",
            "1-800",
        ),
    ],
)
def test_a_safety_net_line_names_the_crisis_line_or_poison_help_the_words_call_for(
    text, role, number
):
    """A suicide or poisoning signal the rules see only as a reminder (past, denied) still puts
    the crisis line / poison help in the line of a safety-net answer led by another kind."""
    triage = Triage(None, FakeEmbedder(), country_lines("US"))
    verdict = triage.assess(text, "")
    assert verdict.tier == "safety_net" and verdict.kind == "chest_pain", verdict
    assert role in {c["role"] for c in triage.contacts(verdict)}
    assert number in triage.net_line(verdict)


# ------------------------------------------------------------------------------------------------
# The figures chatbot eval reports


def answer(status="answered", tier=None, kind="", roles=(), text="x"):
    safety = None
    if tier:
        safety = {"tier": tier, "kind": kind, "contacts": [{"role": r} for r in roles]}
    return {"status": status, "answer": text, "safety": safety}


def test_tier_report_counts_each_figure():
    rows = [
        ("e1", "emergency", "poisoning", answer("emergency", "emergency", "poisoning", ["poison"])),
        ("e2", "emergency", "suicide", answer("emergency", "emergency", "suicide")),
        ("e3", "emergency", "stroke", answer("answered", "safety_net", "stroke")),
        ("n1", "safety_net", "none", answer("answered", "safety_net", "chest_pain")),
        ("n2", "none", "none", answer("emergency", "emergency", "breathing")),
        ("n3", "none", "none", answer()),
        ("x", "", "", answer("emergency")),  # no tier: not counted
    ]
    data = tier_report(rows)
    assert data["emergency_reply_rate"] == 2 / 3 and data["caught_either_tier"] == 1.0
    assert data["near_miss_emergency_only_rate"] == 1 / 3 and data["false_emergencies"] == ["n2"]
    assert data["safety_net_rate"] == 1.0 and data["plain_near_miss_net_rate"] == 0.0
    assert data["poison_help_named"] == 1.0 and data["crisis_line_named"] == 0.0
    assert data["crisis_line_missing"] == ["e2"] and data["missed"] == ["e3"]
    generic = answer("emergency", text=f"... {messages.GENERIC_POISON_HELP} ...")
    assert names_line(generic, "poison")


def test_a_line_detector_adds_its_line_to_an_alarm_of_another_kind():
    """A suicide signal read weakly by its line detector names the crisis line, whatever kind
    leads the reply and at either tier."""
    triage = Triage(None, FakeEmbedder(), country_lines("US"))
    triage.model = SimpleNamespace(thresholds={"suicide_net": 0.5, "poisoning_net": 0.5})
    reading = Scores(0.1, -1.0, 0.9, {"clot": 0.95, "suicide": 0.01}, lines={"suicide": 0.6})
    assert triage._also(reading, "clot") == {"suicide"}
    verdict = Verdict("safety_net", "clot", triage._also(reading, "clot"), "weak")
    line = triage.net_line(verdict)
    assert "988" in line and "you are not alone" in line and line.count("**") == 2
    assert "crisis" in {c["role"] for c in triage.contacts(verdict)}
