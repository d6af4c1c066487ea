"""Settings: nested groups, one a stage, read from flat ``CHATBOT_*`` environment variables.

Each group is what one stage reads (``settings.retrieval.top_k``, ``settings.staff.password_hash``);
each field of a group is the variable ``CHATBOT_<FIELD>`` (``CHATBOT_TOP_K``), the interface the
README documents. Tuning weights that are not meant for a clinic to change live in two named
objects, ``RetrievalWeights`` and ``AnswerWeights``: chosen on the dev split of the project's
question set (see README, "Answer quality"), in one place so a sweep can vary them.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from chatbot.errors import ChatbotError

ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "CHATBOT_"


class ConfigError(ChatbotError):
    """A ``CHATBOT_*`` setting that cannot be used as given."""


LIMITS_SCHEMES = ("memory", "redis", "rediss", "redis+unix")
# Settings that may hold a password: shown with it masked in a message or a log.
SECRET_URLS = ("limits_url", "database_url")
# Settings whose value a message never shows (a URL's is shown with its password masked).
SECRET_VALUES = (*SECRET_URLS, "staff_secret")
DATABASE_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")  # SQLAlchemy's too


def redact_url(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part replaced by ``***``."""
    parts = urlsplit(str(url))
    if parts.password is None:
        return str(url)
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def check_limits_url(url: str) -> str:
    """``url`` if the rate limit and the sign-in brake can count there (``memory://``,
    ``redis://HOST[:PORT][/DB]``, ``rediss://...``, ``redis+unix:///path/to/socket``), else a
    ValueError saying what is wrong (never echoing a password)."""
    url = str(url).strip()
    if not url:
        return "memory://"
    shown = redact_url(url)
    example = "memory:// or redis://HOST:6379/0"
    parts = urlsplit(url)
    if parts.scheme not in LIMITS_SCHEMES:
        raise ValueError(f"{shown!r} is not a limits store: give {example}")
    if parts.scheme == "memory":
        if parts.netloc or parts.path.strip("/"):
            raise ValueError(f"{shown!r}: memory:// takes nothing after it")
        return "memory://"
    if parts.scheme == "redis+unix":
        if not parts.path.strip("/"):
            raise ValueError(f"{shown!r} names no socket: give redis+unix:///path/to/redis.sock")
        return url
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{shown!r}: the port is not a number (e.g. {example})") from None
    if not parts.hostname:
        raise ValueError(f"{shown!r} names no host (e.g. {example})")
    if port == 0:
        raise ValueError(f"{shown!r}: port 0 is not a Redis port")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ValueError(f"{shown!r}: the database after the '/' must be a number (e.g. /0)")
    return url


def check_database_url(url: str) -> str:
    """``url`` if the review store can live there: empty (the SQLite file in the data folder) or
    ``postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE[?...]`` (libpq's URL; ``postgres://``
    and SQLAlchemy's ``postgresql+psycopg://`` are read as the same), else a ValueError saying
    what is wrong (never echoing a password)."""
    url = str(url).strip()
    if not url:
        return ""
    shown = redact_url(url)
    example = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"
    parts = urlsplit(url)
    if parts.scheme.lower() not in DATABASE_SCHEMES:
        raise ValueError(
            f"{shown!r} is not a PostgreSQL URL: give {example}, or leave it empty for the "
            "SQLite file in the data folder"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{shown!r}: the port is not a number (e.g. {example})") from None
    if port == 0:
        raise ValueError(f"{shown!r}: port 0 is not a PostgreSQL port")
    if not parts.path.strip("/"):
        raise ValueError(f"{shown!r} names no database (e.g. {example})")
    return "postgresql" + url[len(parts.scheme) :]


def _user_cache() -> Path:
    """This user's cache folder for the app (``$XDG_CACHE_HOME/rls-chatbot``, else
    ``~/.cache/rls-chatbot``): what can be rebuilt from the installed packages, shared by every
    data folder."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rls-chatbot"


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathSettings(_Group):
    corpus_dir: Path = Field(ROOT / "corpus", description="folder of the clinic's articles")
    index_dir: Path = Field(ROOT / "index", description="folder of the built search index")
    data_dir: Path = Field(ROOT / "data", description="run-time data (the review store)")


class ClinicSettings(_Group):
    clinic_name: str = Field("Truffles Vein Specialists", description="shown on the pages")
    clinic_contact: str = Field(
        "the clinic or your own doctor",
        description="where no-answer and personal-advice replies send patients",
    )
    disclaimer: str = Field(
        "",
        description="the medical disclaimer; empty is messages.DEFAULT_DISCLAIMER. 'automated "
        "assistant, not a clinician' is put in front of any wording that lacks it",
    )


class SafetySettings(_Group):
    country: str = Field(
        "",
        description="ISO code (US, CA, GB, IE, AU, NZ, DE, FR, NL, ES) choosing the emergency "
        "number and crisis line; empty says 'your local emergency number'",
    )
    emergency_number: str = Field(
        "", description="emergency phone number; overrides the country's; empty uses it"
    )
    crisis_line: str = Field(
        "", description="crisis line, e.g. 'Samaritans on 116 123'; overrides the country's"
    )
    poison_line: str = Field(
        "",
        description="poison help named when something was swallowed, e.g. 'Poison Help on "
        "1-800-222-1222'; overrides the country's",
    )
    max_question_chars: int = Field(2000, ge=50, description="longest accepted message")


class ChunkingSettings(_Group):
    chunk_tokens: int = Field(128, ge=32, le=200, description="chunk budget in cl100k tokens")
    overlap_tokens: int = Field(32, ge=0, le=100, description="tokens repeated between chunks")


class RetrievalWeights(_Group):
    """How a sentence is scored and how the gate reads a question (README, "Answer quality")."""

    rrf_k: int = 60  # reciprocal-rank fusion constant
    sentence: float = 0.50  # a sentence's own cosine...
    context: float = 0.20  # ...its passage's cosine...
    lexical: float = 0.30  # ...and its lexical match
    hub: float = 0.2  # genericness (cosine to the mean sentence) taken off the sentence's cosine
    lexical_floor: float = 3.0  # the IDF of a word found in about one sentence in twenty
    # A sentence that says a question's word another way (vocabulary.py) earns this share of
    # its weight; a group named only by a question word ("why" → causes) weighs this share.
    alternative_share: float = 0.8
    cue_share: float = 0.5
    expand_abbreviation: bool = True  # "RLS" read as "restless legs syndrome" by the model
    # The gate: best cosine and lexical match, lowered for words the articles never use.
    gate_cosine: float = 0.7
    coverage_weight: float = 0.7
    semantic_weight: float = 0.3
    # An unused word weighs by its cosine to the mean sentence, TOPIC_FLOOR..1 between these.
    topic_low: float = 0.05
    topic_high: float = 0.25
    topic_floor: float = 0.1
    # The articles' subject: stems in this share of sentences; ranking blends the question
    # with the question without them.
    subject_df: float = 0.3
    subject_blend: float = 0.5
    promotion_penalty: float = 0.06  # off a sentence that advertises the clinic
    broad_topic_floor: float = 0.45  # a bare topic this close to a facet asks for the facet
    part_min_words: int = 2  # a long message's sentence read alone needs this many topic words
    max_parts: int = 4
    # Above this many chunks, FAISS's own top-k and a candidate-limited fusion are used.
    exact_search_max: int = 1_000
    fusion_candidates: int = 100


class RetrievalSettings(_Group):
    top_k: int = Field(8, ge=1, le=50, description="passages retrieved per question")
    weights: RetrievalWeights = RetrievalWeights()


class AnswerWeights(_Group):
    """How quotes are chosen among the scored candidates (``answer/select.py``: coverage by
    greedy submodular selection under a word budget) and how many words an answer may hold."""

    near_duplicate: float = 0.85  # cosine above which two quotes say the same thing
    list_whole_items: int = 4  # a lead-in brings all the items of a list this short...
    list_best_items: int = 3  # ...and the best few of a longer one
    list_broad_items: int = 14  # for a broad question, all the items of a list this short
    pool: int = 40  # the candidates nearest the question that selection reads
    temperature: float = 0.05  # relevance weight exp((score - best) / temperature)...
    broad_temperature: float = 0.20  # ...flatter for a broad question: the whole facet counts
    facet_temperature: float = 0.08  # how sharply a broad question's facets are read
    facet_weight: float = 2.0  # a broad question: closeness to the facets asked, added to scores
    heading_share: float = 0.2  # a facet asked at least this share of the top one gets a heading
    dubious_share: float = 0.3  # a dubious claim's relevance weight is this share
    relevance: float = 1.0  # weight of what the chosen sentences say themselves
    diversity: float = 0.1  # weight of the spread over articles and facets
    cost_power: float = 0.5  # gain per word ** this
    adjacent: float = 1.0  # a sentence beside a chosen one on its line: gain x (1 + this)
    narrow_window: float = 0.25  # a narrow question quotes what scores within this of the best
    broad_words: int = 170  # words of quotes for a broad question...
    narrow_words: int = 140  # ...and for a narrow one
    max_words: int = 250  # never more words in an answer's text than this


class AnswerSettings(_Group):
    max_quotes: int = Field(
        14,
        ge=1,
        le=20,
        description="most quotes in one answer (each with what it needs to be read alone: a "
        "list item's lead-in, a lead-in's items)",
    )
    min_relevance: float = Field(
        0.50,
        description="the gate's number (see README 'Answer quality': the learned gate's "
        "probability that the articles cover the question, its fitted operating point moved "
        "to 0.50) under which the bot abstains",
    )
    weights: AnswerWeights = AnswerWeights()


class WebSettings(_Group):
    host: str = Field("127.0.0.1", description="address the app listens on")
    port: int = Field(7860, description="port the app listens on")
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="sites that may embed the chat widget (frame-ancestors and CORS): "
        'comma-separated ("https://a.example, https://b.example") or a JSON list',
    )
    rate_limit_per_minute: int = Field(30, ge=1, description="questions per client per minute")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="reverse proxies (addresses or networks: 127.0.0.1, 10.0.0.0/8, ::1) whose "
        "X-Forwarded-For / Forwarded headers name the client; empty trusts none",
    )
    query_cache_size: int = Field(
        2048, ge=0, description="query embeddings kept in memory when serving; 0 turns it off"
    )
    embedding_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx",
        description="what embeds questions: onnx (the bundled model exported locally to ONNX "
        "Runtime: the torch vectors to 2e-7, the same eval figures, faster), torch "
        "(sentence-transformers) or onnx-int8 (quantised: faster still, but the vectors and "
        "eval figures change); the index is always built with torch",
    )
    model_cache_dir: Path = Field(
        default_factory=lambda: _user_cache() / "models",
        description="where the ONNX export of the model is kept (made once, on first use)",
    )
    answer_slots: int = Field(
        2,
        ge=1,
        le=64,
        description="answers whose Python runs at once in one server process; the others wait "
        "on a lock, and a question waiting for the model hands its slot on (bench/load.py)",
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="server processes on one port, each with its own model and bot (uvicorn "
        "workers); with several, set limits_url so they share one rate limit and sign-in brake",
    )
    limits_url: str = Field(
        "memory://",
        description="where the rate limit and the staff sign-in brake count: memory:// (each "
        "server process on its own) or redis://HOST:6379/0 (shared by every worker and machine "
        "that names it; if it cannot be reached, each process counts alone until it is back)",
    )

    @field_validator("allowed_origins", "trusted_proxies", mode="before")
    @classmethod
    def _origins_list(cls, value: Any) -> Any:
        """A comma-separated string or a JSON list (the env var is read as text)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except ValueError as exc:
                    raise ValueError(f"not a JSON list ({exc})") from exc
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("limits_url")
    @classmethod
    def _limits_url(cls, value: str) -> str:
        return check_limits_url(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        """Each entry an IP address or network, kept in its normal form."""
        out = []
        for entry in value:
            try:
                out.append(str(ipaddress.ip_network(str(entry).strip(), strict=False)))
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8, ::1)"
                ) from None
        return out


class StaffSettings(_Group):
    staff_username: str = Field("staff", description="login name for /staff")
    staff_password_hash: str = Field(
        "", description="hash of the staff password; empty keeps /staff switched off"
    )
    retention_days: int = Field(
        0, ge=0, description="delete logged conversations older than this; 0 keeps them"
    )
    database_url: str = Field(
        "",
        description="where the review store lives: empty is the SQLite file in the data folder; "
        "postgresql://USER:PASSWORD@HOST:5432/DATABASE is a PostgreSQL database that every "
        "server process and machine naming it shares (same schema and migrations)",
    )
    staff_secret: str = Field(
        "",
        description="the key staff sign-in cookies are signed with (at least 32 characters); "
        "every machine behind one address needs the same. Empty: the staff_secret file in the "
        "data folder, made on first use",
    )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return check_database_url(value)

    @field_validator("staff_secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        value = str(value).strip()
        if value and len(value) < 32:
            raise ValueError(
                "at least 32 characters (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`)"
            )
        return value


GROUPS: dict[str, type[_Group]] = {
    "paths": PathSettings,
    "clinic": ClinicSettings,
    "safety": SafetySettings,
    "chunking": ChunkingSettings,
    "retrieval": RetrievalSettings,
    "answer": AnswerSettings,
    "web": WebSettings,
    "staff": StaffSettings,
}
# Flat name (the env var without its prefix, and the keyword ``load_settings`` takes) → group.
FLAT: dict[str, str] = {
    name: group
    for group, model in GROUPS.items()
    for name, info in model.model_fields.items()
    if info.description is not None
}


class _FlatEnvironment(PydanticBaseSettingsSource):
    """Reads ``CHATBOT_<FIELD>`` for every documented field of every group."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads everything at once

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in FLAT:
            value = os.environ.get(ENV_PREFIX + name.upper())
            if value is not None:
                out[name] = value
        for alias, name in ENV_ALIASES.items():
            value = os.environ.get(ENV_PREFIX + alias)
            if value is not None and name not in out:
                out[name] = value
        return out


# Other names a deployment may know a setting by (issue 18 names the Redis one so).
ENV_ALIASES = {"REDIS_URL": "limits_url"}


class Settings(BaseSettings):
    """Everything configurable, by stage. Flat keywords are accepted too:
    ``Settings(top_k=4)`` is ``Settings(retrieval={"top_k": 4})``."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    paths: PathSettings = Field(default_factory=PathSettings)
    clinic: ClinicSettings = Field(default_factory=ClinicSettings)
    safety: SafetySettings = Field(default_factory=SafetySettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    staff: StaffSettings = Field(default_factory=StaffSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _FlatEnvironment(settings_cls)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (flat names or whole groups), validated like the original."""
        data: dict[str, Any] = self.model_dump()
        for key, value in changes.items():
            group = FLAT.get(key)
            if group is None:
                data[key] = value
            else:
                data[group][key] = value
        return Settings(**data)

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_names(cls, data: Any) -> Any:
        """Move flat names (``top_k``) into their group (``retrieval``)."""
        if not isinstance(data, dict):
            return data
        out = {k: v for k, v in data.items() if k not in FLAT}
        for key, value in data.items():
            group = FLAT.get(key)
            if group is None:
                continue
            current = out.setdefault(group, {})
            if isinstance(current, BaseModel):
                current = out[group] = current.model_dump(exclude_unset=True)
            if isinstance(current, dict):
                current.setdefault(key, value)  # a group given whole wins over a flat name
        return out


def load_settings(**overrides: Any) -> Settings:
    """``Settings`` from the environment and ``overrides`` (flat names), or one clear
    ``ConfigError`` naming each bad variable (never pydantic's own report)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            name = loc[1] if len(loc) > 1 and loc[0] in GROUPS else (loc[0] if loc else "?")
            got = err.get("input")
            if name in SECRET_VALUES:  # its message shows a URL with any password masked
                got = None
            shown = f" (got {str(got)[:60]!r})" if isinstance(got, str | int | float) else ""
            problems.append(f"{ENV_PREFIX}{name.upper()}: {err['msg']}{shown}")
        raise ConfigError("bad setting: " + "; ".join(problems)) from None
    except SettingsError as exc:
        raise ConfigError(f"bad setting: {exc}") from None
