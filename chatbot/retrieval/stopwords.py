"""Words a question is made of whatever it asks: they carry no topic, so they never count as
"not in the articles" (bm25s's English stop words are left out as well; see ``lexicon``)."""

from __future__ import annotations

# fmt: off
GENERIC = frozenset({
    "anything", "something", "thing", "things", "stuff", "really", "actually", "maybe", "please",
    "thanks", "thank", "hi", "hello", "ok", "okay", "yes", "help", "helps", "helped", "helping",
    "good", "best", "normal", "know", "tell", "say", "says", "said", "get", "gets", "getting",
    "got", "make", "makes", "making", "made", "take", "takes", "taking", "took", "go", "goes",
    "going", "went", "come", "comes", "keep", "keeps", "kind", "sort", "lot", "lots", "way",
    "ways", "much", "many", "like", "also", "even", "ever", "just", "want", "wanted", "need",
    "needs", "needed", "think", "thought", "wonder", "wondering", "happen", "happens", "happened",
    "work", "works", "worked", "use", "used", "using", "try", "tried", "someone", "people",
    "anyone", "everyone", "person", "im", "ive", "dont", "doesnt", "cant", "wont", "isnt",
    "arent", "whats", "hows", "question", "questions", "answer", "article", "articles", "read",
    "heard", "told", "doctor", "doctors", "what", "when", "where", "which", "who", "whom",
    "whose", "why", "how", "do", "does", "did", "doing", "done", "can", "could", "should",
    "would", "will", "shall", "may", "might", "must", "i", "me", "my", "mine", "myself", "you",
    "your", "yours", "we", "us", "our", "he", "him", "his", "she", "her", "they", "them", "their",
    "it", "its", "this", "that", "these", "those", "am", "is", "are", "was", "were", "be", "been",
    "being", "have", "has", "had", "having", "not", "no", "nor", "too", "very", "so", "than",
    "then", "there", "here", "about", "above", "again", "against", "all", "any", "both", "each",
    "few", "more", "most", "other", "some", "such", "only", "own", "same", "now", "from", "into",
    "out", "over", "under", "up", "down", "off", "once", "further", "while", "until", "because",
    "if", "or", "and", "but", "with", "without", "within", "of", "at", "by", "for", "on", "in",
    "to", "as", "an", "the", "a",
})
# fmt: on
