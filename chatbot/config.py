"""Settings, from ``CHATBOT_*`` environment variables with safe defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from chatbot.errors import ChatbotError
from chatbot.messages import DEFAULT_DISCLAIMER, disclaimer_text
from chatbot.safety import emergency_contacts

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["DEFAULT_DISCLAIMER", "ROOT", "ConfigError", "Settings", "load_settings"]


class ConfigError(ChatbotError):
    """A ``CHATBOT_*`` setting that cannot be used as given."""


class Settings(BaseSettings):
    """Everything configurable; each field is the env var ``CHATBOT_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="CHATBOT_", extra="forbid", frozen=True)

    corpus_dir: Path = Field(ROOT / "corpus", description="folder of the clinic's articles")
    index_dir: Path = Field(ROOT / "index", description="folder of the built search index")
    data_dir: Path = Field(ROOT / "data", description="run-time data (the review store)")

    clinic_name: str = Field("Truffles Vein Specialists", description="shown on the pages")
    clinic_contact: str = Field(
        "the clinic or your own doctor",
        description="where no-answer and personal-advice replies send patients",
    )
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
    # After the emergency settings: the disclaimer names the emergency number they choose.
    disclaimer: str = Field(
        DEFAULT_DISCLAIMER,
        validate_default=True,
        description="the medical disclaimer (wording in messages.py); 'automated assistant, "
        "not a clinician' is put in front of any wording that lacks it",
    )

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins_list(cls, value: Any) -> Any:
        """A comma-separated string or a JSON list (the env var is read as text)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                try:
                    return json.loads(text)
                except ValueError as exc:
                    raise ValueError(f"not a JSON list ({exc})") from exc
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("disclaimer")
    @classmethod
    def _disclaimer_says_automated(cls, value: str, info: ValidationInfo) -> str:
        number, _ = emergency_contacts(
            str(info.data.get("country", "")), str(info.data.get("emergency_number", ""))
        )
        return disclaimer_text(value, number)

    chunk_tokens: int = Field(128, ge=32, le=200, description="chunk budget in cl100k tokens")
    overlap_tokens: int = Field(32, ge=0, le=100, description="tokens repeated between chunks")
    top_k: int = Field(8, ge=1, le=50, description="passages retrieved per question")
    max_quotes: int = Field(4, ge=1, le=10, description="most quotes in one answer")
    min_relevance: float = Field(
        0.475,
        description="relevance (see README 'Answer quality': best sentence cosine and lexical "
        "match, lowered for words the articles never use) under which the bot abstains; "
        "chosen on the dev half of tests/questions.jsonl",
    )
    max_question_chars: int = Field(2000, ge=50, description="longest accepted message")

    staff_username: str = Field("staff", description="login name for /staff")
    staff_password_hash: str = Field(
        "", description="hash of the staff password; empty keeps /staff switched off"
    )
    retention_days: int = Field(
        0, ge=0, description="delete logged conversations older than this; 0 keeps them"
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="sites that may embed the chat widget (frame-ancestors and CORS): "
        'comma-separated ("https://a.example, https://b.example") or a JSON list',
    )
    rate_limit_per_minute: int = Field(30, ge=1, description="questions per client per minute")
    query_cache_size: int = Field(
        2048, ge=0, description="query embeddings kept in memory when serving; 0 turns it off"
    )

    host: str = Field("127.0.0.1", description="address the app listens on")
    port: int = Field(7860, description="port the app listens on")


def load_settings(**overrides: Any) -> Settings:
    """``Settings`` from the environment and ``overrides``, or one clear ``ConfigError`` naming
    each bad variable (never pydantic's own report)."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "CHATBOT_" + "_".join(str(p) for p in err["loc"][:1]).upper()
            got = err.get("input")
            shown = f" (got {str(got)[:60]!r})" if isinstance(got, str | int | float) else ""
            problems.append(f"{name}: {err['msg']}{shown}")
        raise ConfigError("bad setting: " + "; ".join(problems)) from None
    except SettingsError as exc:
        raise ConfigError(f"bad setting: {exc}") from None
