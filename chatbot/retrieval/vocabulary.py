"""Patients' words and the articles' words for the same thing.

Patients ask "does it run in families?", "is a glass of wine bad for it?", "my ferritin is low";
the articles say "hereditary", "alcohol", "iron deficiency". The embedding model bridges some of
these gaps and misses others, and the lexical score bridges none. Each group below is one
concept with the words people use for it, lay and clinical; a question that uses any of them is
also matched, lexically, on the others (``Retriever`` weighs a group as one word of the question,
so expanding never makes a question count twice). A word the articles never use ("ferritin",
"wine") is covered when its group has one they do.

The groups are written from the topics of RLS and the way patients talk about them, not from the
wording of any test question; add to them when staff see patients' words the bot missed (see
README, "Answer quality"). Keep every group one concept: a word in two groups is in neither's
spirit ("cramp" is a symptom, not a treatment).
"""

from __future__ import annotations

# fmt: off
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "heredity",
        (
            "genetic", "genetics", "gene", "genes", "hereditary", "heredity", "inherited",
            "inherit", "inheritance", "familial", "family", "families", "family history",
            "relatives", "relative", "runs in the family", "run in families", "parent",
            "parents", "mother", "mum", "mom", "father", "dad", "sibling", "siblings",
            "brother", "sister", "grandmother", "grandfather", "grandma", "grandpa",
        ),
    ),
    ("alcohol", ("alcohol", "alcoholic", "wine", "beer", "booze", "liquor", "spirits", "vodka",
                 "whisky", "whiskey", "gin", "drunk", "drinking alcohol")),
    ("caffeine", ("caffeine", "coffee", "espresso", "tea", "teas", "cola", "coke",
                  "coca-cola", "energy drink", "energy drinks", "chocolate")),
    ("tobacco", ("tobacco", "smoking", "smoke", "smoker", "cigarette", "cigarettes", "nicotine",
                 "vape", "vaping")),
    ("iron", ("iron", "ferritin", "anaemia", "anemia", "anaemic", "anemic", "iron deficiency",
              "low iron", "haemoglobin", "hemoglobin")),
    ("vitamins", ("vitamin", "vitamins", "hypovitaminosis", "folic acid", "folate", "magnesium",
                  "supplement", "supplements", "b12")),
    ("pregnancy", ("pregnancy", "pregnant", "expecting", "trimester", "childbirth", "birth",
                   "gestation", "prenatal", "antenatal", "postpartum")),
    ("children", ("child", "children", "childhood", "kid", "kids", "son", "daughter", "toddler",
                  "teen", "teens", "teenager", "teenagers", "adolescent", "adolescents",
                  "adolescence", "growing pains")),
    ("age", ("age", "aging", "ageing", "older", "old age", "elderly", "middle-aged", "senior",
             "over time", "get older", "getting older")),
    ("diagnosis", ("diagnose", "diagnosed", "diagnosis", "diagnosing", "evaluation",
                   "examination", "exam", "blood test", "blood tests", "tests", "test",
                   "medical history", "physical examination")),
    ("cure", ("cure", "cured", "curable", "go away", "goes away", "disappear", "disappears",
              "grow out", "outgrow", "permanent", "eliminated", "remission")),
    ("treatment", ("treat", "treated", "treating", "treatment", "treatments", "therapy",
                   "therapies", "remedy", "remedies", "relief", "relieve", "alleviate",
                   "manage", "management")),
    ("medicines", ("medicine", "medicines", "medication", "medications", "drug", "drugs",
                   "pill", "pills", "tablet", "tablets", "prescription", "prescribed",
                   "preparations")),
    ("sleep", ("sleep", "sleeping", "asleep", "insomnia", "sleepless", "tired", "tiredness",
               "fatigue", "exhausted", "daytime", "drowsiness", "drowsy", "sleep hygiene")),
    ("night", ("night", "nights", "nighttime", "night-time", "evening", "evenings", "bedtime",
               "bed", "lying down", "lie down", "at night")),
    ("stillness", ("sitting", "sit", "seated", "sit still", "keep still", "rest", "motionless",
                   "inactivity", "inactive", "long flight", "flight", "plane", "car ride",
                   "car journey", "cinema", "theatre", "desk", "immobile")),
    ("exercise", ("exercise", "exercises", "exercising", "workout", "gym", "walk", "walking",
                  "walks", "physical activity", "sport", "sports", "running", "yoga",
                  "stretch", "stretching", "swimming", "cycling")),
    ("diet", ("diet", "food", "foods", "eat", "eating", "meal", "meals", "nutrition")),
    ("massage", ("massage", "massaging", "rub", "rubbing", "bath", "baths", "warm bath",
                 "hot bath", "shower", "compress", "heating pad", "hot water bottle")),
    ("kidney", ("kidney", "kidneys", "renal", "dialysis", "kidney failure", "kidney disease")),
    ("diabetes", ("diabetes", "diabetic", "blood sugar")),
    ("neuropathy", ("neuropathy", "neuropathies", "nerve", "nerves", "nerve damage",
                    "peripheral")),
    ("veins", ("vein", "veins", "venous", "varicose", "circulation", "blood flow",
               "vascular")),
    ("spine", ("spine", "spinal", "spinal cord", "back injury", "slipped disc")),
    ("dopamine", ("dopamine", "neurotransmitter", "neurotransmitters", "brain chemical",
                  "brain chemicals", "dopaminergic")),
    ("hormones", ("hormone", "hormones", "hormonal", "estrogen", "oestrogen", "progesterone")),
    ("stress", ("stress", "stressed", "anxiety", "anxious", "worry", "nervous", "depression",
                "depressed", "mood", "mental health", "psychological")),
    ("antidepressants", ("antidepressant", "antidepressants", "ssri", "ssris",
                         "antipsychotic", "antipsychotics", "lithium", "neuroleptics")),
    ("antihistamines", ("antihistamine", "antihistamines", "allergy pills", "allergy tablets",
                        "hay fever tablets", "sleeping pills", "cold medicine")),
    ("sensations", ("sensation", "sensations", "feeling", "feelings", "crawling", "crawly",
                    "creepy crawly", "creepy-crawly", "bugs", "ants", "insects", "fizzy",
                    "fizzing", "tingling", "tingly", "pins and needles", "itching", "itchy",
                    "burning", "aching", "ache", "electric", "electric current", "buzzing",
                    "pulling", "throbbing", "jittery", "jumpy", "twitchy", "twitching",
                    "paresthesia", "discomfort", "unpleasant")),
    ("urge", ("urge", "urges", "need to move", "have to move", "can't keep still",
              "cant keep still", "compulsion", "irresistible", "fidget", "fidgety")),
    ("movements", ("kick", "kicks", "kicking", "jerk", "jerks", "jerking", "twitch", "twitches",
                   "involuntary", "movements", "limb movements", "spasm", "spasms")),
    ("prevalence", ("common", "prevalence", "prevalent", "how many", "percent", "population",
                    "rare", "widespread", "statistics")),
    ("mesotherapy", ("mesotherapy", "injection", "injections", "injected", "shots")),
    ("causes", ("cause", "causes", "caused", "causing", "reason", "reasons", "trigger",
                "triggers", "triggered", "why", "factor", "factors", "due to", "leads to",
                "contribute")),
    ("worse", ("worse", "worsen", "worsens", "worsening", "aggravate", "aggravates",
               "exacerbate", "exacerbation", "intensify", "flare", "flares", "flare up",
               "bring on", "brings on", "set off", "sets off")),
)
# fmt: on
