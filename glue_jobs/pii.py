"""Pii tokenization: a keyed hash, so joins still work and values do not leak.

A pii value becomes ``HMAC-SHA256(key, text)`` in hex. The same value gives the same
token in every table and every run with the same key (``user.email`` joins
``loan_participant.lender_email``), and without the key a token cannot be reversed or
checked against a guessed value (a bare SHA-256 of an email can: hash the guess).

``text`` is the value's text (:func:`glue_jobs.values.json_text`): a string as it is,
a number or boolean as its JSON text. A pii *map* (``location``, ``headquarters_address``)
keeps its keys and tokenizes each value, so ``location.country`` can still be counted.

Where the key comes from (:func:`resolve_key`): ``--pii-key-secret`` names a Secrets
Manager secret (deployed jobs); ``--pii-key`` gives it directly (tests, one-off runs). A
lake on S3 without either is refused: the local development key below is used only for
a lake on this machine's disk, and only when no key is given.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["LOCAL_DEVELOPMENT_KEY", "PiiKeyError", "Tokenizer", "resolve_key"]

#: Only ever used for a lake on local disk (``auxeira demo``, tests); never for s3://.
LOCAL_DEVELOPMENT_KEY = b"auxeira-local-development-pii-key"
_BLOCK = 64  # SHA-256 block size (RFC 2104)


class PiiKeyError(ValueError):
    """No usable tokenization key for this lake."""


@dataclass(frozen=True)
class Tokenizer:
    """Keyed tokens of pii values."""

    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise PiiKeyError("the pii tokenization key must be at least 16 bytes")

    def token(self, text: str) -> str:
        """The token of one value's text."""
        return hmac.new(self.key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def pads(self) -> tuple[bytes, bytes]:
        """``(K xor ipad, K xor opad)`` of RFC 2104, for engines that build HMAC from SHA-256
        (Spark has ``sha2`` but no ``hmac``): token = sha256(opad || sha256(ipad || text))."""
        key = hashlib.sha256(self.key).digest() if len(self.key) > _BLOCK else self.key
        key = key.ljust(_BLOCK, b"\x00")
        return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def resolve_key(
    lake_root: str,
    key: str | None = None,
    secret_id: str | None = None,
    fetch_secret: Callable[[str], Any] | None = None,
) -> bytes:
    """The tokenization key of a job run (see the module docstring for the order).

    Args:
        fetch_secret: reads a secret's string by id (Secrets Manager's ``GetSecretValue``);
            built from boto3 when not given.

    Raises:
        PiiKeyError: an s3:// lake and no key given.
    """
    if secret_id:
        fetch = fetch_secret or _secrets_manager
        return str(fetch(secret_id)).encode("utf-8")
    if key:
        return key.encode("utf-8")
    if lake_root.startswith("s3://"):
        raise PiiKeyError(
            "a lake on S3 needs a pii tokenization key: pass --pii-key-secret <Secrets Manager id> (or --pii-key)"
        )
    return LOCAL_DEVELOPMENT_KEY


def _secrets_manager(secret_id: str) -> str:
    import boto3

    return str(boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])
