"""Staff passwords: salted scrypt hashes (``hashlib``), compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from chatbot.errors import ChatbotError

MIN_PASSWORD_CHARS = 12
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


class PasswordHashError(ChatbotError):
    """The configured staff password hash cannot be used."""


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``, as ``scrypt$N$r$p$salt$hash`` (base64 parts).

    Raises:
        PasswordHashError: the password is shorter than ``MIN_PASSWORD_CHARS``.
    """
    if len(password) < MIN_PASSWORD_CHARS:
        raise PasswordHashError(
            f"the staff password must have at least {MIN_PASSWORD_CHARS} characters"
        )
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32
    )


def parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    """The parameters of a hash made by ``hash_password``, or PasswordHashError."""
    parts = encoded.strip().split("$")
    try:
        if len(parts) != 6 or parts[0] != "scrypt":
            raise ValueError("not an scrypt hash")
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
        if n < 2**14 or n > 2**20 or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16:
            raise ValueError("parameters out of range")
        if len(salt) < 16 or len(digest) != 32:
            raise ValueError("salt or hash too short")
    except (ValueError, binascii.Error) as exc:
        raise PasswordHashError(
            "CHATBOT_STAFF_PASSWORD_HASH is not a hash made by "
            f"`python -m chatbot review hash-password` ({exc})"
        ) from exc
    return n, r, p, salt, digest


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches the hash (compared in constant time)."""
    n, r, p, salt, digest = parse_hash(encoded)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)
