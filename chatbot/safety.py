# ruff: noqa: E501  (the rule tables are regular expressions; splitting them hurts reading)
"""Checks around every answer: input hygiene, emergencies, requests for personal advice, and the
medication caution.

The emergency detector runs before anything else (see ``Bot.ask``). It is rule-based on purpose:
every decision can be read, tested and explained to clinic staff, and it needs no model. It reads
the message sentence by sentence and has two kinds of rules:

* **symptoms** said in the message ("my chest is crushing", "cant breath", "face drooping",
  "swollen hot calf", "throat is swelling"): these fire wherever they appear, also inside a
  question ("can RLS cause chest pain?"), because a patient who asks that at night may have it;
* **events** for named conditions (stroke, heart attack, seizure, blood clot, overdose,
  anaphylaxis): these fire only when the message says it is happening ("I think I'm having a
  stroke", "my husband is having a seizure"), never for a topic question ("can a stroke cause
  RLS?", "do anti-seizure medicines make RLS worse?").

A match is dropped when its own clause negates it ("no chest pain", "I'm not suicidal") or when the
sentence places it firmly in the past ("I had chest pain two years ago"). Anything about suicide or
self-harm counts, even as a general question: the reply then leads with the crisis line.

Rules only catch what they describe. Every phrasing that slipped past (or raised a false alarm) is
in ``tests/safety_set.jsonl`` with the general rule that fixed it; add new ones there first.
A similarity backstop with the embedding model was measured and rejected: it scores "I'm not
suicidal" as close to an emergency as the emergencies themselves.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from chatbot.errors import BadInputError

# --------------------------------------------------------------------------------------------
# Input hygiene

# Deleted outright: invisible characters that can hide inside a word ("sui\u200bcide") or turn
# text around (bidi overrides), tag characters used to smuggle hidden instructions, and lone
# surrogates (they cannot be encoded, so they would fail later, in the log or the response).
_INVISIBLE_CATEGORIES = {"Cf", "Cs", "Co"}
# Turned into a space: other control characters (newlines and tabs are whitespace anyway).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def _strip_invisible(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch) not in _INVISIBLE_CATEGORIES)


def clean_question(raw: object, max_chars: int) -> str:
    """Return the question as safe plain text, or raise BadInputError saying what is wrong.

    Invisible, bidi and control characters are dropped, whitespace is collapsed. Markup is kept
    as text: the bot never repeats the question in its answer, and the web layer escapes it.

    Args:
        raw: The message as received (str or bytes; anything else is refused).
        max_chars: The longest accepted message, in characters.

    Raises:
        BadInputError: the message is empty, too long, or not text.
    """
    if isinstance(raw, bytes | bytearray):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInputError("the question is not text (it looks like binary data)") from exc
    if not isinstance(raw, str):
        raise BadInputError("the question must be text")
    if len(raw) > max_chars * 4:
        raise BadInputError(
            f"the question is too long ({len(raw)} characters; at most {max_chars}); "
            "please ask it in a few sentences"
        )
    if "\x00" in raw or _looks_binary(raw):
        raise BadInputError("the question is not text (it looks like binary data)")
    text = unicodedata.normalize("NFC", raw)
    text = _strip_invisible(_CONTROL.sub(" ", text))
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise BadInputError("the question is empty; please type a question about restless legs")
    if len(text) > max_chars:
        raise BadInputError(
            f"the question is too long ({len(text)} characters; at most {max_chars}); "
            "please ask it in a few sentences"
        )
    return text


def _looks_binary(text: str) -> bool:
    if not text:
        return False
    odd = sum(
        1
        for ch in text
        if ch == "\ufffd"
        or (not ch.isprintable() and not ch.isspace())
        and unicodedata.category(ch) != "Cf"
    )
    return odd > len(text) * 0.1


# --------------------------------------------------------------------------------------------
# Normalisation shared by the detectors

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "“": '"', "”": '"'})
# Everyday spellings without apostrophes, text-speak and contractions, read as the full form.
_SPELLINGS = [
    (r"\bcan ?not\b|\bcnat\b|\bcnt\b|\bcant\b", "can't"),
    (r"\bdont\b", "don't"),
    (r"\bwont\b", "won't"),
    (r"\bisnt\b", "isn't"),
    (r"\bdoesnt\b", "doesn't"),
    (r"\bdidnt\b", "didn't"),
    (r"\bcouldnt\b", "couldn't"),
    (r"\bhavent\b", "haven't"),
    (r"\bwasnt\b", "wasn't"),
    (r"\baint\b", "ain't"),
    (r"\bim\b", "i'm"),
    (r"\bi am\b", "i'm"),
    (r"\bive\b", "i've"),
    (r"\bhes\b", "he's"),
    (r"\bshes\b", "she's"),
    (r"\btheyre\b", "they're"),
    (r"\bgonna\b", "going to"),
    (r"\bgunna\b", "going to"),
    (r"\bwanna\b", "want to"),
    (r"\bwana\b", "want to"),
    (r"\bgotta\b", "got to"),
    (r"\bu\b", "you"),
    (r"\bur\b", "your"),
    (r"\br\b", "are"),
    (r"\bpls\b|\bplz\b", "please"),
    (r"\bmum\b|\bmom\b|\bmam\b|\bma\b|\bmommy\b|\bmummy\b", "mother"),
    (r"\bdad\b|\bpa\b|\bdaddy\b", "father"),
]
_SPELLINGS_RE = [(re.compile(p), r) for p, r in _SPELLINGS]


def normalise(text: str, stretched: str = r"\1\1") -> str:
    """Lower-case, compatibility-folded text with common spellings unified (for matching only).

    ``stretched`` replaces a letter typed three times or more: "tooo" -> "too" by default;
    ``r"\1"`` gives "paaaain" -> "pain".
    """
    low = unicodedata.normalize("NFKC", _strip_invisible(text)).casefold().translate(_APOSTROPHES)
    low = re.sub(r"(\w)\1{2,}", stretched, low)
    low = re.sub(r"\s+", " ", low)
    for pattern, repl in _SPELLINGS_RE:
        low = pattern.sub(repl, low)
    return low.strip()


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+|(?<=[.!?])(?=[a-z])")


def _sentences(low: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(low) if s.strip()]


# --------------------------------------------------------------------------------------------
# Emergencies

# Shared vocabulary (typos and registers included).
_BREATHE = r"(?:breathe?|breth(?:e|ing)?|brethe|breathing|breathin|breating|brething|brathing|breahting|breathign|get (?:my |his |her |any )?(?:breath|air)|catch (?:my |his |her )?breath)"
_CANT = r"(?:can't|could ?n't|unable to|not able to|struggling to|struggle to|hard to|hard time|trouble|difficulty|difficult to|barely|hardly|problems?|having trouble)"
_CHILD = r"(?:child|children|kid|kids|son|daughter|baby|toddler|infant|grandson|granddaughter|grandchild|grandkid|little one|little boy|little girl|\d+[- ]?(?:year|yr|month)s?[- ]?old)"
_PILLS = r"(?:pills?|pils|pillz|tablets?|tabs|meds|medicines?|medications?|capsules?|vitamins?|gummies|iron(?![- ](?:rich|fortified|levels?|deficien\w*|intake|stores))|supplements?|painkillers?|tylenol|paracetamol|ibuprofen|aspirin|sleeping pills?|antidepressants?|ropinirole|pramipexole|mirapex|gabapentin|pregabalin)"
_LIMB = r"\b(?:legs?|feet|foot|toes?|calf|calves|muscles?|limbs?|thighs?|knees?|arms?)\b"

# Rules: (category, pattern, sentence exclusion or None, about-a-person-only).
# Symptom rules fire wherever they appear; rules for named conditions are written to need an event
# ("is having a seizure", "think I have a blood clot"). A rule with about-a-person-only set is
# dropped when its clause is about the legs or is a simile ("my legs feel like they're having a
# seizure").
_APNEA = r"\b(?:snor\w*|apno?ea|apneic|in (?:my|his|her|their) sleep|sleep study)\b"
_EMERGENCY_RULES: list[tuple[str, str, str | None, bool]] = [
    # --- chest pain / heart attack
    (
        "chest pain",
        r"\bchest\b(?! ?(?:x-?ray|xray|scan|ct|film|wall|hair|day|workout|exercise|press|freezer|of drawers))"
        r"[^.?!,;]{0,30}?\b(?:pain|pains|painful|hurts?|hurting|ache|aches|aching|tight|tightness|tightening|pressure|heavy|heaviness|crush\w*|squeez\w*|stabbing|agony|on fire|exploding|elephant|discomfort)\b",
        None,
        False,
    ),
    (
        "chest pain",
        r"\b(?:pain|pains|pressure|tight|tightness|band|crushing|squeezing|heavy|heaviness|ache|aching|weight|elephant)\b[^.?!,;]{0,25}\b(?:in|on|across|around|through|inside) (?:(?:my|his|her|the|their) )?chest\b",
        None,
        False,
    ),
    (
        "chest pain",
        r"\bretrosternal\b|\bangina attack\b|\bheart (?:hurts|is hurting)\b|\bheart\b[^.?!,;]{0,25}\b(?:squeez\w*|crush\w*|in a vice)\b"
        r"|\b(?:grabbed|grabbing|grabs|clutching|clutched|clutches|clasping|holding|held) (?:at )?(?:my|his|her|their|the) chest\b",
        None,
        False,
    ),
    (
        "chest pain",
        r"\bpain\b[^.?!]{0,20}\b(?:going|spreading|radiating|shooting|moving)\b[^.?!]{0,10}\b(?:down|into|up|to) (?:my |his |her |the )?(?:left arm|arm|jaw)\b",
        None,
        False,
    ),
    (
        "chest pain",
        r"\b(?:having|havin|having had|just had|is having|am having|might be having|may be having|could be having) (?:a |an |what (?:feels|looks|seems|might be) like an? |another )?(?:heart attack|cardiac arrest)\b"
        r"|\b(?:is|was) (?:this|it|that|he|she) (?:having )?a heart attack\b|\b(?:it's|this is|that's) a heart attack\b"
        r"|\b(?:think|thinks|afraid|scared|worried|sure|feel like|feels like)\b[^.?!,]{0,25}\b(?:having|it's|its|is|this is) an? (?:heart attack|cardiac arrest)\b"
        r"|\bheart (?:has )?stopped\b|\bno (?:pulse|heartbeat)\b",
        None,
        False,
    ),
    # --- breathing
    ("trouble breathing", rf"\b{_CANT}\s+(?:to\s+)?{_BREATHE}\b", None, False),
    ("trouble breathing", rf"\b(?:not|isn't|stopped|stop|stops|quit) {_BREATHE}\b", _APNEA, False),
    (
        "trouble breathing",
        r"\bshort(?:ness)? (?:of|o) breath\b|\bout of breath\b(?! (?:after|from|when|walking|climbing|running))"
        r"|\bbreathless\b|\bdyspno?ea\b|\brespiratory distress\b|\basthma attack\b",
        None,
        False,
    ),
    (
        "trouble breathing",
        r"\bgasping\b|\bchoking\b(?! (?:hazard|back|up with|sensation|feeling|on (?:my |the )?(?:tears|words|emotion)))|\bsuffocat\w*\b(?! (?:my|our|the) (?:life|sleep|nights|legs))"
        r"|\b(?:can't|cannot) get (?:enough )?air\b|\bnot getting (?:enough |any )?air\b|\bair hunger\b",
        _APNEA,
        False,
    ),
    (
        "trouble breathing",
        r"\b(?:lips?|face|fingers|skin) (?:is |are )?(?:turning|going|gone|went|turned|is|are) (?:blue|grey|gray)\b|\bcyano\w+\b",
        None,
        False,
    ),
    # --- stroke
    (
        "stroke signs",
        r"\b(?:face|mouth|smile|lip|cheek)\b[^.?!,;]{0,20}\b(?:droop\w*|sag\w*|lopsided|crooked|twisted|uneven|fallen|dropped|slipped|numb)\b"
        r"|\b(?:face|mouth|smile)\b[^.?!,;]{0,15}\bone side\b[^.?!,;]{0,15}\b(?:fall\w*|fell|drop\w*|down)\b"
        r"|\b(?:droop\w*|saggy|sagging|lopsided|crooked) (?:face|mouth|smile)\b|\bfacial (?:droop|asymmetry|weakness|palsy|paralysis)\b",
        None,
        False,
    ),
    (
        "stroke signs",
        r"\bslurr\w*\b|\bspeech (?:is |has |went |gone )?(?:slurred|garbled|jumbled|weird|strange|gone)\b"
        r"|\bwords (?:are |come out )?(?:slurred|jumbled|garbled|wrong)\b|\bdysarthria\b|\baphasia\b"
        r"|\b(?:sudden|suddenly) (?:can't|cannot) (?:talk|speak|see|understand)\b|\b(?:can't|cannot|not|isn't|unable to) (?:talk|speak)(?:ing)? (?:properly|clearly|right|straight|normally)\b"
        r"|\bgibberish\b|\b(?:he's|she's|he is|she is|he|she) (?:is )?(?:not making sense|talking nonsense)\b",
        None,
        False,
    ),
    (
        "stroke signs",
        r"\b(?:one|1|left|right)[- ]sided (?:weakness|numbness|paralysis)\b|\bhemi(?:paresis|plegia)\b"
        r"|\b(?:one|1) side of (?:my|his|her|the|their) (?:body|face|mouth)\b"
        r"|\b(?:weak|weakness|numb|numbness|paraly\w*|dead|limp|can't move|can't lift|can't feel)\b[^.?!;]{0,25}\b(?:left|right|one) (?:side|arm|half)\b"
        r"|\b(?:left|right) (?:arm|side|hand)\b[^.?!;]{0,25}\b(?:weak|numb|dead|limp|paraly\w*|can't move|can't lift|floppy)\b",
        None,
        False,
    ),
    (
        "stroke signs",
        r"\b(?:sudden|suddenly|all of a sudden)\b[^.?!;]{0,25}\b(?:weak|weakness|paraly\w*|can't (?:move|lift|walk|stand))\b"
        r"|\b(?:sudden|suddenly|all of a sudden)\b[^.?!;]{0,25}\b(?:numb|numbness|tingling)\b[^.?!;]{0,25}\b(?:face|arm|side)\b",
        None,
        False,
    ),
    (
        "stroke signs",
        r"\b(?:having|havin|just had|is having|am having|might be having|may be having|could be having|might have had|may have had) (?:a |an |what (?:feels|looks|seems|might be) like an? |another )?(?:mini[- ]|small |minor )?(?:stroke|tia)\b"
        r"|\b(?:is|was) (?:this|it|that|he|she) (?:having )?an? (?:mini[- ]|small )?(?:stroke|tia)\b|\b(?:it's|this is|that's) an? (?:mini[- ])?stroke\b"
        r"|\b(?:think|thinks|afraid|scared|worried|sure|feel like|looks like|seems like)\b[^.?!,]{0,25}\b(?:having|it's|its|is|had) an? (?:mini[- ])?stroke\b"
        r"|\b(?:showing|has|have|having|with) (?:the )?(?:signs|symptoms) of (?:a )?stroke\b"
        r"|\b(?:stroke|heart attack) (?:symptoms|signs)\b(?=[^.?!]{0,30}\b(?:now|right now|tonight|today|in (?:my|her|his|our) \w+)\b)",
        r"\b(?:risk|chance|one day|someday|in the future|prevent\w*)\b",
        False,
    ),
    # --- suicide and self-harm (any mention, also as a question: the reply leads with the crisis line)
    (
        "suicide or self-harm",
        r"\b(?:suicid\w*|sucid\w*|suicd\w*|suisid\w*|suiscid\w*|siucid\w*|sewer ?slide|unalive\w*|kms)\b"
        r"|\b(?:goodbye|suicide|farewell) (?:note|letter)s?\b|\bwant to disappear (?:for good|forever)\b"
        r"|\b(?:don't|can't|do not|cannot) see (?:the |any )?(?:point|reason) (?:anymore|any more|in (?:living|life|going on|being alive|anything))\b"
        r"|\b(?:been|started|start|keep|kept|i'm|am) cutting (?:again|myself)\b",
        None,
        False,
    ),
    (
        "suicide or self-harm",
        r"\b(?:kill|killing|killed|harm|harming|off|offing|hang|hanging|end|ending) (?:myself|my ?self|meself|himself|herself|themselves)\b"
        r"|\bcutting (?:myself|my ?self)\b|\bself[- ]?(?:harm\w*|injur\w*)\b"
        r"|\b(?:want|wanted|wanting|going|urge|urges|thinking|thought|thoughts|tempted|plan|planning|might|could|will|feel like|afraid i'll|scared i'll)\b[^.?!]{0,15}\b(?:hurt|hurting|cut|cutting|burn|burning|shoot|shooting|drown|drowning|poison|poisoning|stab|stabbing) (?:myself|my ?self)\b",
        None,
        False,
    ),
    (
        "suicide or self-harm",
        r"\bend (?:it all|(?:my|his|her) (?:own )?life|everything)\b|\btake (?:my|his|her) (?:own )?life\b"
        r"|\b(?:want|going|ready|plan|planning|thinking about|thought about|thinking of|thoughts of|decided) (?:to )?(?:end|ending) (?:it|things|everything|my life)\b",
        None,
        False,
    ),
    (
        "suicide or self-harm",
        r"\b(?:want|wants|wanted|ready|wish|wishing|i'd like) to (?:die|be dead|not exist|not be here anymore|disappear forever)\b(?! (?:of|from|laughing) ?(?:laugh\w*|embarrass\w*|boredom|shame|cringe)?)"
        r"|\b(?:want|wish|need|ready for) (?:it all|everything|all of it|my life) to (?:end|be over)\b"
        r"|\bwish (?:i|i'd|he|she) (?:was|were|had) (?:dead|never been born)\b|\bbetter off (?:dead|without me)\b"
        r"|\b(?:i'm|i am|im) done with (?:life|living|it all)\b"
        r"|\b(?:don't know|not sure|unsure) (?:if|whether|why) i (?:still )?(?:want|wanna) to (?:live|be alive|keep going|go on)\b"
        r"|\b(?:what's|whats|what is) the point (?:of|in) (?:living|life|going on|being alive)\b|\bwhy (?:should|would) i (?:keep|go on|carry on) (?:living|going)\b"
        r"|\b(?:jump|jumping) (?:off|from) (?:a|the) (?:bridge|building|roof|cliff|balcony|window)\b"
        r"|\b(?:jump|jumping|step|stepping|throw myself|throwing myself) in front of (?:a|the) (?:train|bus|car|truck|lorry)\b"
        r"|\bslit(?:ting)? my wrists?\b",
        None,
        False,
    ),
    (
        "suicide or self-harm",
        r"\b(?:don't|do not|no longer|never) want to (?:live|be alive|exist|be here anymore|go on|carry on|wake up (?:anymore|any more|ever again|tomorrow))\b"
        r"|\b(?:hope|wish) (?:i|i'd) (?:don't|won't|never|wouldn't|didn't) wake up\b|\bwant to (?:go to )?sleep (?:and never wake|forever)\b"
        r"|\bno (?:reason|point) (?:to|in) (?:live|living|go on|going on|carry on|carrying on|being alive)\b"
        r"|\bnothing (?:left )?to live for\b|\b(?:not|isn't|is not) worth living\b"
        r"|\bcan't (?:go on|carry on|keep going) (?:living|anymore|any more|like this anymore)\b"
        r"|\b(?:give|giving|gave) up on (?:life|living)\b|\btired of (?:living|being alive|life)\b",
        None,
        False,
    ),
    (
        "suicide or self-harm",
        rf"\b(?:overdose|od) on purpose\b"
        rf"|\b(?:want|wanting|going|plan|planning|thinking|thought|ready|tempted|might|will|urge)\b[^.?!]{{0,15}}\b(?:overdose|overdosing|(?:take|taking|swallow|swallowing) (?:all|every one|the whole (?:bottle|pack|box)|a handful) (?:of )?(?:my |the |his |her )?(?:\w+ )?{_PILLS})\b",
        None,
        False,
    ),
    # --- blood clot (DVT / PE): one swollen, hot or painful leg; or a clot suspected now
    (
        "possible blood clot",
        r"^(?=.*\b(?:swollen|swelling|swelled|swells|puffy|puffed up|bigger than the other|twice the size|o?edema\w*)\b)"
        r"(?=.*\b(?:hot|warm|red|redness|reddish|painful|pain|hurts?|hurting|tender\w*|sore|throbbing|aching)\b)"
        r".*?\b(?:calf|calves|shin|one leg|one of my legs|left leg|right leg|(?:my|his|her|the) leg|(?<!restless )leg|thigh|back of (?:my|the|his|her) knee)\b"
        r"(?! (?:syndrome|cramps?|movements?|jerks?|twitch\w*|symptoms?))",
        r"\b(?:no|not|without|isn't|aren't|never) (?:any |much )?(?:swelling|swollen|redness|heat|puffiness)\b",
        False,
    ),
    (
        "possible blood clot",
        r"\b(?:think|thinks|worried|scared|afraid|sure|might|may|could|maybe|suspect)\b[^.?!]{0,30}\b(?:have|has|got|be|it's|its|is|had|having|developed)\b (?:a |an )?(?:blood clot|clot|dvt|deep vein thrombosis|thrombosis|pulmonary embolism|embolism|pe)\b(?! (?:risk|prevention))"
        r"|\b(?:is|was) (?:this|it|that) (?:a |an )?(?:blood clot|clot|dvt|thrombosis|embolism)\b",
        r"\b(?:risk|chance|one day|someday|in the future|prevent\w*)\b",
        False,
    ),
    # --- overdose and poisoning
    (
        "overdose or poisoning",
        r"\b(?:overdosed|overdosing|over-dosed|od'd|oded|od-ed)\b|\b(?:took|taken|take|had|swallowed|ate) an? overdose\b",
        r"\b(?:can|could) (?:you|one|someone|people|a person) (?:\w+ )?overdos"
        r"|\b(?:afraid|scared|worried|fear|frightened|avoid|prevent|risk|chance|so (?:i|you) don't|not to)\b[^.?!]{0,12}\b(?:overdos|od)\w*",
        False,
    ),
    (
        "overdose or poisoning",
        rf"\b(?:took|taken|swallowed|swallow|ate|eaten|drank|downed|popped|chugged)\b[^.?!;]{{0,30}}?"
        rf"\b(?:too (?:many|much)(?: of)?(?: (?:my|the|his|her|their))?(?: \w+)? {_PILLS}"
        rf"|too (?:many|much)(?= *(?:$|[.!?,;)]|by mistake|by accident|accidentally|at once|in one go|and\b|maybe|like|about|around))"
        rf"|(?:a |the )?(?:whole|entire|full) (?:bottle|pack|packet|box|strip|blister|tub)(?! of (?:wine|vodka|whisk\w*|gin|rum|beer|water|juice|cola|soda))"
        rf"|a handful|handful of|a bunch of|all (?:of )?(?:my|the|his|her|their|\w+'s) {_PILLS}"
        rf"|(?:all|several|\d{{2,}}|(?:two|three|four|a week's|2|3|4) (?:days|doses|nights)\b|(?:whole|entire) (?:month|week|supply|prescription)\b|(?:month|week)'s (?:worth|supply)\b)[^.?!;]{{0,40}}\b(?:at once|in one go)\b"
        rf"|\d{{2,}} (?:of (?:my|the|his|her) )?(?:\w+ )?{_PILLS})",
        None,
        False,
    ),
    (
        "overdose or poisoning",
        rf"\b{_CHILD}\b[^.?!;]{{0,40}}\b(?:ate|eaten|swallowed|drank|chewed|got into|has eaten|gotten into|ingested)\b[^.?!;]{{0,40}}\b(?:{_PILLS}|bottle|poison|bleach|batter(?:y|ies)|detergent|pods?|cleaning)\b"
        rf"|\b{_CHILD}\b[^.?!;]{{0,30}}\b(?:took|taken|had)\b[^.?!;]{{0,10}}\b(?:some of|a few of|a bunch of|several of|one of|\d+ of|\d+|my|grand\w*'s|mother's|father's|nan's|gran's|granny's|someone's|your)\b[^.?!;]{{0,20}}{_PILLS}"
        rf"|\b{_CHILD}\b[^.?!;]{{0,60}}\bempty (?:pill |medicine |tablet )?(?:bottle|pack|packet|box)\b",
        None,
        False,
    ),
    (
        "overdose or poisoning",
        r"\b(?:drank|swallowed|ate|ingested|drinking|swallowing|inhaled)\b[^.?!;]{0,15}\b(?:bleach|antifreeze|anti-freeze|poison|weed ?killer|pesticide|rat poison|drain cleaner|cleaning (?:fluid|product|liquid)|detergent|lamp oil|paraffin|button batter\w*|batter(?:y|ies))\b"
        r"|\b(?:was|were|has been|have been|got|getting|being|think (?:i|he|she|they|i've|i'm) (?:was|were|got|have been|has been|am|is))\s+poisoned\b"
        r"|\b(?:has|have|got|with|is having) (?:severe |acute )?(?:alcohol|carbon monoxide|co) poisoning\b|\bpoison (?:control|centre|center)\b",
        None,
        False,
    ),
    # --- severe allergic reaction
    (
        "severe allergic reaction",
        r"\b(?:throat|tongue|lips?|mouth|face)\b[^.?!,;]{0,25}\b(?:swelling|swollen|swelled|swell(?:ing)? up|puff(?:ing|ed)? up|closing|closes|tightening|feels (?:big|thick|huge|tight))\b"
        r"|\b(?:swollen|swelling (?:of|in)|swelling) (?:my |his |her |the )?(?:throat|tongue|lips?)\b|\bangio-?o?edema\b",
        None,
        False,
    ),
    (
        "severe allergic reaction",
        r"\b(?:having|is having|am having|getting|going into|gone into|went into) (?:an? )?(?:severe |bad |serious |major )?(?:anaphyla\w*|anaphalax\w*|anafilax\w*|allergic reaction|anaphylactic shock)\b"
        r"|\b(?:used|use|need|needs|needed|give|gave|giving|grab|get) (?:my |his |her |the |an? )?(?:epi ?-?pen|epinephrine|adrenaline (?:pen|shot|injector))\b"
        r"|\bin anaphyla\w*",
        None,
        False,
    ),
    # --- collapse, unconsciousness, seizures
    (
        "collapse or unconsciousness",
        r"\b(?:collapsed|collapses|collapsing|keeled over|blacked out|fainted|passed out|out cold|syncope|syncopal)\b"
        r"(?! (?:into|onto|on|in) (?:the |my |his |her |a )?(?:bed|couch|sofa|chair|armchair))",
        r"\b(?:veins?|varicose|sclero\w*|finally|asleep|exhausted|exhaustion|drunk|from tiredness)\b",
        False,
    ),
    (
        "collapse or unconsciousness",
        r"\buncon(?:s|sc|c)ious\b(?!(?:ly| (?:movement|movements|mind|leg|legs|kick|kicking|jerk|jerks|jerking|twitch|twitching|habit|bias|thought)))"
        r"|\bloss of consciousness\b|\b(?:about to|going to) (?:pass out|faint|black out)\b",
        None,
        False,
    ),
    (
        "collapse or unconsciousness",
        r"\b(?:unresponsive|not responding|isn't responding|won't respond|doesn't respond|not waking|won't wake|will not wake|isn't waking|can't wake (?:him|her|them|my)|can't be woken|cannot be woken)\b"
        r"(?! (?:to|with) (?:the |my |any |his |her |this )?(?:treatment|medication|meds|iron|drugs?|therapy|mirapex|pills|tablets|it\b))",
        r"\bi (?:won't|will not) wake\b",
        True,
    ),
    (
        "collapse or unconsciousness",
        r"\b(?:fell|fallen|fall) (?:down )?and (?:hit|banged) (?:my|his|her|their) head\b"
        r"|\b(?:hit|banged|bumped|knocked) (?:my|his|her|their) head\b[^.?!]{0,40}\b(?:vomit\w*|throwing up|drowsy|confused|sleepy|bleeding|won't wake|blacked out|passed out|seizure)"
        r"|\b(?:fell|fallen)\b[^.?!]{0,20}\b(?:can't get up|won't get up|not moving)\b",
        None,
        False,
    ),
    (
        "seizure",
        r"\b(?:having|havin|is having|am having) (?:a |another |what looks like a )?(?:seizure|siezure|seisure|sezure|fit|convulsion|grand mal)s?\b"
        r"|\b(?:just had|had|has had) (?:a |another |what looks like a )(?:seizure|siezure|seisure|sezure|fit|convulsion|grand mal)\b"
        r"|\b(?:seizing|convulsing)\b(?! up)|\b(?:shaking|jerking) all over\b"
        r"|\b(?:he's|she's|he is|she is|they're|they are|baby is|son is|daughter is|child is|keeps|kept|started|been) fitting\b"
        r"|\b(?:has|have|having) (?:a |the )?(?:seizure|fit|convulsion)s? (?:now|right now|at the moment)\b",
        None,
        True,
    ),
]
# The commonest emergencies in the languages of the countries in COUNTRY_CONTACTS (German, French,
# Spanish, Dutch): a clinic abroad gets messages in its own language even though the articles are
# English. Only unambiguous phrases; the reply is the same.
_OTHER_LANGUAGES: list[tuple[str, str, str | None, bool]] = [
    (
        "chest pain",
        r"\bbrustschmerz\w*|\bschmerzen in der brust\b|\bdouleurs? (?:thoracique|dans la poitrine|à la poitrine)s?\b|\bdolor (?:de|en el) pecho\b|\bpijn op de borst\b|\bherzinfarkt\b|\bcrise cardiaque\b|\binfarto\b|\bhartaanval\b",
        None,
        False,
    ),
    (
        "trouble breathing",
        r"\bkann (?:nicht|kaum) (?:mehr )?atmen\b|\batemnot\b|\bkeine luft\b|\bje (?:ne )?(?:peux|arrive) pas (?:à )?respirer\b|\bdu mal à respirer\b|\bno puedo respirar\b|\bme falta el aire\b|\bkan niet (?:meer )?ademen\b|\bkrijg geen lucht\b",
        None,
        False,
    ),
    (
        "stroke signs",
        r"\bschlaganfall\b|\bavc\b|\baccident vasculaire\b|\bderrame cerebral\b|\bictus\b|\bberoerte\b",
        None,
        False,
    ),
    (
        "suicide or self-harm",
        r"\bsuizid\w*|\bselbstmord\w*|\bmich umbringen\b|\bme tuer\b|\bme suicider\b|\ben finir\b|\bmatarme\b|\bquitarme la vida\b|\bzelfmoord\w*|\bmezelf (?:van kant maken|doden|iets aandoen)\b",
        None,
        False,
    ),
    (
        "overdose or poisoning",
        r"\büberdosis\b|\bvergiftung\b|\bsurdose\b|\bempoisonn\w*|\bsobredosis\b|\benvenenad\w*|\boverdosis\b|\bvergiftiging\b",
        None,
        False,
    ),
    (
        "collapse or unconsciousness",
        r"\bbewusstlos\b|\bnicht ansprechbar\b|\bkrampfanfall\b|\binconscient\w*|\bévanoui\w*|\binconsciente\b|\bdesmay\w*|\bbewusteloos\b|\bflauwgevallen\b",
        None,
        False,
    ),
    (
        "severe allergic reaction",
        r"\banaphylaktisch\w*|\bchoc anaphylactique\b|\bshock anafiláctico\b",
        None,
        False,
    ),
]
_EMERGENCY_RE = [
    (cat, re.compile(p), re.compile(x) if x else None, person)
    for cat, p, x, person in _EMERGENCY_RULES + _OTHER_LANGUAGES
]


# Emergencies happen now: these move a sentence into the past or mark it as resolved.
_HISTORY = re.compile(
    r"\b(?:(?:\d+|a|an|one|two|three|four|five|six|few|several|many|couple of) (?:years?|yrs?|months?|decades?) ago"
    r"|last (?:year|summer|winter|spring|fall|autumn)|in (?:19|20)\d\d|when i was (?:young|little|a (?:kid|child|teen\w*))"
    r"|as a (?:child|kid|teen\w*)|used to|years back|for (?:many |several |a few )?years|since (?:childhood|birth|i was)"
    r"|(?:was|were|came back|came out|turned out|all) (?:fine|normal|clear|negative|ok|okay)|ruled out)\b"
)
_PRESENT = re.compile(
    r"\b(?:now|right now|again|currently|tonight|today|this (?:morning|evening|afternoon)|at the moment|still|just|suddenly)\b"
)
# Negation cues, looked for in the few words before a match, inside its own clause.
_NEGATION = re.compile(
    r"\b(?:no|not|never|without|denies|deny|nor|don't|doesn't|didn't|isn't|aren't|wasn't|weren't"
    r"|haven't|hasn't|hadn't|won't|wouldn't|none|zero|free of|nearly|almost)\b"
)
# Uncertainty is not negation: "not sure if i'm having a stroke" is still a stroke.
_UNCERTAIN = re.compile(
    r"\b(?:not sure|don't know|do not know|no idea|not certain|can't tell|cannot tell|unsure"
    r"|not kidding|no joke|not joking|not lying)\b"
)
_CLAUSE_BREAK = re.compile(
    r",|\b(?:but|and|although|though|however|yet|so|because|cause|cos|now|then|while|plus)\b"
)
_SIMILE = re.compile(r"\b(?:like|as if|as though)\b[^,]*$")


def _clause_before(sentence: str, start: int) -> str:
    return _CLAUSE_BREAK.split(sentence[:start])[-1]


def _negated(sentence: str, start: int) -> bool:
    """Is the match at ``start`` negated in its own clause ("no chest pain", "i'm not suicidal")?"""
    clause = _UNCERTAIN.sub(" ", _clause_before(sentence, start))
    return bool(_NEGATION.search(" ".join(clause.split()[-5:])))


def _not_about_a_person(sentence: str, start: int, end: int) -> bool:
    """Is the matched clause about the legs, or a simile ("my legs feel like they're having a
    seizure")?"""
    before = _clause_before(sentence, start)
    return bool(re.search(_LIMB, before + sentence[start:end]) or _SIMILE.search(before))


@dataclass(frozen=True)
class EmergencyMatch:
    """Why a message was taken for an emergency."""

    category: str
    matched: str


EMERGENCY_CATEGORIES = tuple(dict.fromkeys(rule[0] for rule in _EMERGENCY_RULES))


def detect_emergency(text: str) -> EmergencyMatch | None:
    """Return the emergency the message describes (the first found), or None.

    Args:
        text: The user's message (raw or cleaned; it is normalised here).

    Returns:
        The category (one of ``EMERGENCY_CATEGORIES``) and the words that matched, or None.
    """
    once = normalise(text, r"\1")
    variants = [normalise(text)] + ([once] if once != normalise(text) else [])
    for sentence in (s for v in variants for s in _sentences(v)):
        historical = bool(_HISTORY.search(sentence)) and not _PRESENT.search(sentence)
        for category, pattern, exclusion, person_only in _EMERGENCY_RE:
            if exclusion is not None and exclusion.search(sentence):
                continue
            # A past event is not an emergency now; thoughts of suicide always count.
            if historical and category != "suicide or self-harm":
                continue
            for m in pattern.finditer(sentence):
                if _negated(sentence, m.start()):
                    continue
                if person_only and _not_about_a_person(sentence, m.start(), m.end()):
                    continue
                return EmergencyMatch(category, m.group(0))
    return None


def detect_emergency_followup(text: str, previous: str) -> EmergencyMatch | None:
    """An emergency told over two messages: "my calf has been swollen since the flight", then
    "now it's red, hot and really painful". ``previous`` is the user's last message; when that
    was an emergency already, the reply to it has been given and it is not read again."""
    previous = previous[-4000:]  # history comes from the client; read only its end
    if not previous.strip() or detect_emergency(previous) is not None:
        return None
    return detect_emergency(f"{previous.rstrip(' .!?;')}, {text}")


def overlong_emergency(raw: object, max_chars: int) -> tuple[str, EmergencyMatch] | None:
    """Read a message refused as too long for an emergency all the same.

    A patient who pastes a long story that ends in "and now I can't breathe" must get the
    emergency reply, not "too long". Messages up to four times the limit are read.

    Returns:
        (the first ``max_chars`` characters, cleaned, for the log; the match), or None.
    """
    if isinstance(raw, bytes | bytearray):
        raw = bytes(raw).decode("utf-8", errors="replace")
    if not isinstance(raw, str) or len(raw) > max_chars * 4:
        return None
    text = re.sub(r"\s+", " ", _strip_invisible(_CONTROL.sub(" ", raw))).strip()
    match = detect_emergency(text)
    return None if match is None else (text[:max_chars], match)


# --------------------------------------------------------------------------------------------
# Medicines: the caution line and the personal-advice check share one vocabulary.

_MEDICINE_WORDS = (
    # generic words and classes, as the articles and patients write them
    r"medications?|medicines?|meds|drugs?|drugsfunds|pills?|tablets?|capsules?|doses?|dosage|dosing"
    r"|prescri\w+|supplements?|supplementation|vitamins?|hypovitaminosis|iron|ferrous|ferritin pills?"
    r"|folic acid|folate|magnesium|calcium channel blockers?|zinc|melatonin|micronutrients"
    r"|opioids?|opiates?|narcotics?|benzodiazepines?|benzos?|dopaminergics?|dopaminergic (?:drugs|agents)"
    r"|dopamine (?:receptor )?agonists?|agonists?|anticonvulsants?|anti-?seizure|antiemetics?"
    r"|anti-?vomiting|antihistamines?|antidepressants?|antipsychotics?|anti-?hypertensives?"
    r"|antipyretics?|sedatives?|sleeping (?:pills?|tablets)|muscle relaxants?|painkillers?"
    r"|pain relievers?|injections?|injected|infusions?|preparations?|adjuvants?"
    # names in the articles
    r"|mirapex|pramipexole|reglan|metoclopramide|compazine|prochlorperazine|kytril|granisetron"
    r"|zofran|ondansetron|dipheningidramine|diphenhydramine|benadryl|azafen|amitriptyline|prozac"
    r"|fluoxetine|trazodone|bupropion|wellbutrin|lithium|finoptin|verapamil|corinfar|nifedipine"
    r"|phenothiazines?|risperidone|olanzapine|zonizamide|zonisamide|metsuximide|methsuximide"
    r"|phenytoin|metformin|insulin|codeine|oxycodone|acetaminophen|paracetamol|aspirin"
    # common RLS and sleep medicines patients name
    r"|ropinirole|requip|rotigotine|neupro|levodopa|carbidopa|sinemet|gabapentin|neurontin"
    r"|pregabalin|lyrica|horizant|clonazepam|klonopin|diazepam|valium|lorazepam|ativan|temazepam"
    r"|zolpidem|ambien|hydrocodone|tramadol|methadone|morphine|tylenol|ibuprofen|advil|naproxen"
    r"|sertraline|zoloft|citalopram|escitalopram|quetiapine|seroquel|haloperidol|carbamazepine"
    r"|valproate|topiramate|mirtazapine|cbd|statins?|diuretics?|beta[- ]blockers?"
    # unseen names by their stems
    r"|\w+(?:azepam|azolam|pexole|pinirole|gabalin|apentin|oxetine|triptyline|pramine|perazine"
    r"|peridone|anzapine|etiapine|setron|codone|morphone|prazole|sartan|dipine)"
    r"|\w{3,}(?:olol|pril|statin|mab)"
)
MEDICINE = re.compile(rf"\b(?:{_MEDICINE_WORDS})\b")


def mentions_medicine(text: str) -> bool:
    """True when the text names a medicine, a dose or a supplement (in any spelling it knows)."""
    return bool(MEDICINE.search(normalise(text)))


def needs_medication_caution(quotes: list[str]) -> bool:
    """Should an answer citing these quotes add the "talk to your doctor first" line?"""
    return any(mentions_medicine(q) for q in quotes)


# --------------------------------------------------------------------------------------------
# Requests for personal advice: a dose, starting / stopping / changing a medicine, a diagnosis.

_ME = r"\b(?:i|i'm|i've|i'd|i'll|me|my|mine|myself|we|our|us)\b"
_SUBJ = r"(?:i|we|he|she|my \w+|our \w+|his \w+|her \w+)"
_CHANGE = (
    r"(?:take|taking|start|starting|stop|stopping|quit|quitting|try|use|increase|decrease|reduce"
    r"|lower|raise|up|double|halve|skip|change|switch|swap|come off|get off|go off|wean|taper"
    r"|keep taking|continue|be taking|be on|stay on|give|mix|combine|cut down|cut back|drop)"
)
_DOSE_UNIT = r"(?:mg|mcg|µg|milligrams?|micrograms?|grams?|g|iu|units?|pills?|tablets?|capsules?|caps|drops?|ml)"

# (needs a medicine named in the message, needs the message to speak of oneself, pattern)
_PERSONAL_RULES: list[tuple[bool, bool, str]] = [
    # --- a dose
    (
        False,
        False,
        r"\bhow (?:much|many)\b[^?.!]{0,60}\b(?:(?:should|can|could|do|must|shall|may|would|ought to|am i supposed to) (?:i|we|you|he|she|my \w+)|to)\b[^?.!]{0,25}\b(?:take|give|start|be on|go up to|increase)\b",
    ),
    (
        True,
        False,
        r"\bhow (?:much|many)\b[^?.!]{0,60}\b(?:(?:should|can|could|do|must|shall|may|would) (?:i|we|you|he|she|my \w+)|to)\b[^?.!]{0,25}\b(?:use|need|have)\b",
    ),
    (
        False,
        False,
        rf"\b(?:what|which|what's|the right|correct|best|safe|max|maximum|starting|right|my|his|her)\b[^?.!]{{0,30}}\b(?:dose|dosage|doses|amount|strength|mg)\b[^?.!]{{0,40}}\b(?:should|for|do|can|must|would)\b[^?.!]{{0,10}}{_ME}",
    ),
    (
        False,
        False,
        rf"{_ME}[^?.!]{{0,60}}\b(?:what|which|the right|how much|how many)\b[^?.!]{{0,20}}\b(?:dose|dosage|mg|milligrams)\b",
    ),
    (
        False,
        False,
        r"\b(?:tell|give|show|send) (?:me|us) (?:the|a|my|what|which|your|exact|correct|right)\b[^?.!]{0,20}\b(?:dose|dosage|doses|amount|mg|milligrams)\b",
    ),
    (
        False,
        False,
        rf"\b(?:is|are|would|will|was)\b[^?.!]{{0,25}}\b\d+(?:[.,]\d+)? ?{_DOSE_UNIT}\b[^?.!]{{0,40}}\b(?:too (?:much|many|high|low|little|strong)|enough|ok|okay|safe|fine|a lot|alright|right|dangerous|normal)\b",
    ),
    (False, False, r"\b(?:is|was|are) (?:my|his|her) (?:dose|dosage|doses)\b"),
    (False, False, r"\b(?:can|could|will|would|might) (?:i|we|he|she|my \w+) overdose\b"),
    (
        True,
        False,
        r"\bhow (?:much|many)\b[^?.!]{0,50}\b(?:for (?:me|my \w+|him|her)|a day|per day|daily|each day|a night|per night)\b",
    ),
    (
        True,
        False,
        r"\bhow (?:do|can|should|would) (?:i|we|he|she|my \w+) (?:safely )?(?:wean|taper|come off|get off|go off|stop|quit|start|switch|increase|decrease|reduce|cut down)\b",
    ),
    (
        True,
        False,
        r"\b(?:can|could|may|should) (?:i|we|he|she|my \w+) (?:drink|eat|have)\b[^?.!]{0,30}\b(?:while|with|when|if) (?:i'm |i am |he's |she's )?(?:taking|on)\b"
        r"|\b(?:before|when|once|after) (?:i|we) (?:start|stop|come off|quit|switch)\b",
    ),
    (
        False,
        False,
        rf"\bhow (?:often|long|late|early|frequently)\b[^?.!]{{0,40}}\b(?:should|can|do|must|could)\b {_SUBJ}\b[^?.!]{{0,10}}\b(?:take|use|stay on|keep taking|be on)\b",
    ),
    (
        True,
        False,
        r"\b(?:when|what time|at what time) (?:should|can|do|must) (?:i|we|he|she|my \w+) take\b",
    ),
    (
        True,
        False,
        r"\b(?:took|taken|take|had) (?:my|a|the|his|her) (?:dose|pills?|tablets?|meds|medication|medicine)\b[^?.!]{0,30}\b(?:twice|two times|double|again by mistake|extra)\b",
    ),
    # --- starting, stopping or changing a medicine
    (True, False, rf"\bshould {_SUBJ}(?: \w+)? {_CHANGE}\b"),
    (True, False, rf"\b(?:can|could|may|might) {_SUBJ}(?: \w+)? {_CHANGE}\b"),
    (
        False,
        False,
        rf"\b(?:should|can|could|may) {_SUBJ}(?: \w+)? (?:double|triple|halve|increase|decrease|up|lower|raise|skip|split|crush) (?:my|his|her|the|a|this|their)\b[^?.!]{{0,20}}\b(?:dose|dosage|pills?|tablets?|meds|medication|medicine)\b",
    ),
    (
        True,
        True,
        rf"\b(?:is it|it's|is this|would it be|will it be) (?:safe|ok|okay|alright|all right|fine|dangerous|bad|risky|wise|a good idea) (?:for (?:me|my \w+|him|her) )?(?:if (?:i|we|he|she) |to )(?:just )?{_CHANGE}\b",
    ),
    (
        True,
        False,
        r"\b(?:i|i'm|i've|we)\b[^?.!]{0,40}\b(?:want|going|planning|plan|thinking|considering|would like|'d like|like|decided|allowed|supposed) (?:of |about |on )?(?:to )?(?:stop|stopping|quit|quitting|come off|coming off|get off|go off|start|starting|take|taking|try|trying|double|doubling|increase|increasing|decrease|decreasing|reduce|reducing|switch|switching|change|changing|taper|tapering|wean|weaning|skip|skipping)\b",
    ),
    (
        True,
        False,
        r"\bdo (?:i|we|you think i|you think we) (?:really )?(?:need|have) to (?:take|keep taking|stay on|be on|stop|start|continue)\b",
    ),
    (
        True,
        False,
        r"\b(?:missed|forgot|skipped|forgot to take) (?:my|a|his|her|to take|the)\b[^?.!]{0,30}\b(?:dose|pills?|tablets?|meds|medication|medicine|injection)",
    ),
    (
        True,
        False,
        r"\b(?:what|which)\b[^?.!]{0,30}\b(?:should|can|could|shall|would you recommend|do you recommend|would you suggest|do you suggest|is best for|works best for)\b[^?.!]{0,8}\b(?:i|we|me|my \w+|he|she)\b[^?.!]{0,8}\b(?:take|use|try|give|start|ask for|be on|get)\b",
    ),
    (False, False, r"\bwhat (?:should|can|could|shall) (?:i|we|my \w+|he|she) (?:take|give)\b"),
    (
        False,
        False,
        r"\b(?:prescribe|recommend|suggest) (?:me|us|something|a (?:drug|medication|medicine|pill|dose|supplement))\b"
        r"|\b(?:which|what) (?:medication|medicine|drug|pill|tablet|supplement|treatment)s? (?:should|would|do you recommend for|is best for|is right for) (?:i|me|my \w+)\b",
    ),
    # --- a diagnosis of one's own (or a relative's) symptoms
    (
        False,
        False,
        r"\b(?:do|did|could|might) (?:i|he|she|my \w+) (?:have|suffer from|got|be suffering from)\b(?! (?:to|got to|any|a (?:choice|option)|options|time)\b)"
        r"|\bdoes (?:he|she|my \w+) (?:have|suffer from)\b(?! (?:to|any)\b)",
    ),
    (
        False,
        False,
        r"\bhave (?:i|we|you think i) got\b|\bwhat do (?:i|we|you think i) have\b"
        r"|\b(?:do you think|you think|think) (?:i|he|she|my \w+) (?:have|has|got|might have|could have)\b(?! (?:to|any)\b)|\bwhat(?: is|'s|s) wrong with (?:me|my|him|her)\b",
    ),
    (
        False,
        False,
        r"\b(?:diagnose|diagnosis for|diagnosis of|diagnosing)\b[^?.!]{0,15}\b(?:me|my|him|her|us)\b|\b(?:can|could|will|would) you diagnose\b",
    ),
    (
        False,
        False,
        r"\bam i (?:anemic|anaemic|iron deficient|deficient|suffering from|having rls|getting rls)\b|\bam i (?:a )?(?:rls|restless legs)\b",
    ),
    (
        False,
        True,
        r"\b(?:is|could|might|can) (?:this|it|that|these|those|what i have|what i'm feeling|what i feel) (?:actually |really |just |maybe |be |mean |probably )*(?:rls|restless legs?(?: syndrome)?|willis[- ]ekbom\w*|a sign of \w+|(?:\w+ )?(?:deficiency|neuropathy|disease|syndrome|disorder|thrombosis|gout|arthritis|diabetes))\b",
    ),
    (
        False,
        False,
        r"\b(?:does|do) (?:this|that|it|my symptoms?|these symptoms|what i have|what i'm describing)\b[^?.!]{0,20}\b(?:sound|look|seem) like\b"
        r"|\b(?:do|does|could|can|might) (?:my|these|this|the) (?:symptoms?|signs?)\b[^?.!]{0,25}\b(?:mean|indicate|point to|suggest|be)\b"
        r"|\b(?:is|are) my (?:symptoms?|\w+ (?:pain|tingling|twitching|itching|cramps?|jerks?|jerking|numbness|burning))\b[^?.!]{0,40}\b(?:rls|restless legs?|a sign of|caused by|due to|because of|from)\b",
    ),
]
_PERSONAL_RE = [(med, me, re.compile(p)) for med, me, p in _PERSONAL_RULES]
_PRONOUN_STOP = re.compile(
    r"\b(?:stop|quit|come off|get off|go off|double|halve|taper|wean|skip|increase|decrease)"
    r" (?:taking )?(?:it|them|this|these|that|those)\b"
)


def personal_advice_match(text: str) -> str | None:
    """The words that make this a request for personal advice, or None.

    Personal advice is a dose, starting, stopping or changing a medicine, or what one's own (or a
    relative's) symptoms mean. General questions ("what doses of iron are used for RLS?", "can
    RLS be treated with medication?") are not.
    """
    low = normalise(text)
    has_medicine = bool(MEDICINE.search(low) or _PRONOUN_STOP.search(low))
    has_me = bool(re.search(_ME, low))
    for needs_med, needs_me, pattern in _PERSONAL_RE:
        if (needs_med and not has_medicine) or (needs_me and not has_me):
            continue
        m = pattern.search(low)
        if m:
            return m.group(0)
    return None


def is_personal_advice(text: str) -> bool:
    """True for a request for a personal dose, a medication change, or a diagnosis."""
    return personal_advice_match(text) is not None


# --------------------------------------------------------------------------------------------
# Emergency numbers by country. Only numbers the project has checked; anything else falls back to
# "your local emergency number" and "a crisis line in your country".

COUNTRY_CONTACTS: dict[str, tuple[str, str]] = {
    "US": ("911", "the 988 Suicide & Crisis Lifeline (call or text 988)"),
    "CA": ("911", "the 9-8-8 Suicide Crisis Helpline (call or text 988)"),
    "GB": ("999", "Samaritans on 116 123"),
    "IE": ("112 or 999", "Samaritans on 116 123"),
    "AU": ("000", "Lifeline on 13 11 14"),
    "NZ": ("111", "the 1737 helpline (call or text 1737)"),
    "DE": ("112", "TelefonSeelsorge on 0800 111 0 111"),
    "FR": ("15 or 112", "the suicide prevention line on 3114"),
    "NL": ("112", "113 Zelfmoordpreventie on 113 or 0800 0113"),
    "ES": ("112", "the 024 suicide prevention line"),
}
_COUNTRY_ALIASES = {"UK": "GB", "USA": "US", "UNITED STATES": "US", "UNITED KINGDOM": "GB"}


def emergency_contacts(country: str, number: str = "", crisis_line: str = "") -> tuple[str, str]:
    """The emergency number and crisis line to show: explicit settings win, then the country.

    Args:
        country: An ISO 3166 code such as "US" or "GB" (case-insensitive); "" for none.
        number: CHATBOT_EMERGENCY_NUMBER, if set.
        crisis_line: CHATBOT_CRISIS_LINE, if set.

    Returns:
        (number, crisis line); an empty string means "say it generically".
    """
    code = country.strip().upper()
    code = _COUNTRY_ALIASES.get(code, code)
    default_number, default_line = COUNTRY_CONTACTS.get(code, ("", ""))
    return number.strip() or default_number, crisis_line.strip() or default_line
