"""The right to be forgotten, as pure rules: who a subject is, which items are about them,
and what an item, an image or an envelope looks like once they are erased.

A **subject** is a user, named ``USER#<id>`` (:func:`parse_subject`). Which items are
about a user is declared in the catalog (:attr:`schemas.tables.EntitySpec.subject_attrs`,
``erasure`` and ``pii_subject``); :func:`relation` reads those declarations:

* ``owned``: a subject attribute of an *owned* entity names the subject: the item goes;
* ``shared``: a subject attribute of a *shared* entity names the subject, or one of its
  pii values is one of the subject's (a pending loan invitation to the subject's email):
  the item stays, :func:`scrubbed` replaces the subject's ids by the subject's
  pseudonym and tokenizes or blanks the pii paths about the subject;
* ``audit``: only ``created_by``/``updated_by``/``deleted_by`` name the subject (a
  startup the subject created): those become the pseudonym.

**Keyed hashes** (:class:`ErasureKeys`): an HMAC-SHA256 under the lake's pii key, one
domain per kind of value (subject id, item key, pii value), so a hash of one kind never
equals another's and none equals the lake's own pii tokens. Without the key nobody can
test a guessed id or email against them. The **pseudonym** of a subject is
``erased-`` and the first 24 hex digits of its subject hash: the same subject gets the
same pseudonym in every store and every run, so what others share with it still joins
(two activities of one erased user still count as one user), and the pseudonym can be
computed from the erasure ledger alone, which holds only hashes.

Two ways of recognising the subject, one interface (:class:`Matcher`): while erasing, by
its id and its pii values (held in memory only, :func:`subject_matcher`); afterwards, by
the ledger's hashes alone (:func:`ledger_matcher`), which is how a replay or a redrive
keeps an erased subject from coming back (:func:`scrub_envelope`).

Pii values shorter than :data:`MIN_PII_CHARS` are not matched by value ("Last" as a last
name would match strangers); they are still removed wherever a path says they are the
subject's. Ids match whole, never inside another id (``u1`` is not in ``u10``).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from schemas import catalog
from schemas.events import REGISTRY
from schemas.ids import entity_id_problem
from schemas.tables import EntitySpec

__all__ = [
    "AUDIT_ACTORS",
    "MIN_PII_CHARS",
    "PSEUDONYM_PREFIX",
    "SUBJECT_PREFIX",
    "ErasureKeys",
    "Matcher",
    "Relation",
    "id_pattern",
    "ledger_matcher",
    "parse_subject",
    "pii_replacement",
    "pseudonym_of",
    "relation",
    "scrub_envelope",
    "scrubbed",
    "subject_matcher",
    "subject_values",
    "user_id_like",
]

SUBJECT_PREFIX = "USER#"
PSEUDONYM_PREFIX = "erased-"
#: Audit attributes the repository keeps; a subject named there becomes its pseudonym.
AUDIT_ACTORS = ("created_by", "updated_by", "deleted_by")
MIN_PII_CHARS = 6
Relation = Literal["owned", "shared", "audit"]

#: Attribute names that hold a user's id (the ownership test checks every model against it).
_USER_ID_LIKE = re.compile(
    r"^(?:.*_)?(?:user|assessor|borrower|lender|investor|owner|member)_?id$|^invited_?by$|^shared_with$", re.I
)
#: Characters an id is made of: an id matches only between characters that are none of these.
_ID_CHARS = r"A-Za-z0-9_.@+\-"


def user_id_like(name: str) -> bool:
    """Whether an attribute name reads as a user id (``user_id``, ``lenderId``, ``invited_by``)."""
    return bool(_USER_ID_LIKE.match(name))


def parse_subject(text: str) -> str:
    """The user id of ``USER#<id>``.

    Raises:
        ValueError: not ``USER#`` and a valid id.
    """
    if not text.startswith(SUBJECT_PREFIX):
        raise ValueError(f"--subject must be USER#<id>, got {text!r}")
    subject = text[len(SUBJECT_PREFIX) :]
    problem = entity_id_problem(subject)
    if problem:
        raise ValueError(f"--subject {text!r}: the id {problem}")
    return subject


@lru_cache(maxsize=4096)
def id_pattern(value: str) -> re.Pattern[str]:
    """``value`` as a whole token: not preceded or followed by an id character."""
    return re.compile(rf"(?<![{_ID_CHARS}]){re.escape(value)}(?![{_ID_CHARS}])")


@dataclass(frozen=True)
class ErasureKeys:
    """Keyed hashes of what an erasure must name without revealing (see the module docstring)."""

    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise ValueError("the erasure key must be at least 16 bytes")

    def _mac(self, domain: str, text: str) -> str:
        return hmac.new(self.key, f"auxeira-erasure:{domain}\x1f{text}".encode(), hashlib.sha256).hexdigest()

    def subject_hash(self, subject: str) -> str:
        return self._mac("subject", subject)

    def item_hash(self, entity: str, key: str) -> str:
        return self._mac("item", f"{entity}\x1f{key}")

    def value_hash(self, value: str) -> str:
        return self._mac("pii", value)

    def pseudonym(self, subject: str) -> str:
        return pseudonym_of(self.subject_hash(subject))


def pseudonym_of(subject_hash: str) -> str:
    return PSEUDONYM_PREFIX + subject_hash[:24]


@dataclass(frozen=True)
class Matcher:
    """How one erasure recognises its subject.

    Attributes:
        pseudonym_for: the pseudonym that replaces ``value`` when it names an erased
            subject, else None.
        is_pii: whether a text value is one of an erased subject's pii values.
        token: a stand-in for a required pii value (deterministic: same value, same token).
    """

    pseudonym_for: Callable[[str], str | None]
    is_pii: Callable[[str], bool]
    token: Callable[[str], str]

    def names_subject(self, value: Any) -> bool:
        return isinstance(value, str) and self.pseudonym_for(value) is not None


def subject_matcher(keys: ErasureKeys, subject: str, pii_values: Iterable[str] = ()) -> Matcher:
    """The matcher of an erasure in progress: the subject's id and its pii values, in memory."""
    pseudonym = keys.pseudonym(subject)
    values = frozenset(v for v in pii_values if len(v) >= MIN_PII_CHARS)
    return Matcher(lambda v: pseudonym if v == subject else None, values.__contains__, keys.value_hash)


def ledger_matcher(keys: ErasureKeys, subject_hashes: Iterable[str], pii_hashes: Iterable[str] = ()) -> Matcher:
    """The matcher of every erasure done, from the ledger's hashes alone."""
    subjects, pii = frozenset(subject_hashes), frozenset(pii_hashes)

    def pseudonym_for(value: str) -> str | None:
        if not subjects or not value or value.startswith(PSEUDONYM_PREFIX):
            return None
        digest = keys.subject_hash(value)
        return pseudonym_of(digest) if digest in subjects else None

    def is_pii(value: str) -> bool:
        return bool(pii) and len(value) >= MIN_PII_CHARS and keys.value_hash(value) in pii

    return Matcher(pseudonym_for, is_pii, keys.value_hash)


# -- paths ----------------------------------------------------------------------------------


def subject_values(item: Mapping[str, Any], path: str) -> list[str]:
    """The user ids at a subject path: ``user_id``, a list attribute's members, ``a[].b``."""
    head, _, rest = path.partition("[].")
    value = item.get(head)
    if rest:
        return [str(m[rest]) for m in value or () if isinstance(m, Mapping) and isinstance(m.get(rest), str)]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return [value] if isinstance(value, str) else []


def _replace_ids(item: dict[str, Any], path: str, matcher: Matcher) -> bool:
    """Replace the subject's ids at ``path`` in place; True when one was replaced."""
    head, _, rest = path.partition("[].")
    value = item.get(head)
    swap = matcher.pseudonym_for
    if rest:
        hit = False
        for member in value if isinstance(value, list) else ():
            if isinstance(member, dict) and isinstance(member.get(rest), str) and (p := swap(member[rest])):
                member[rest], hit = p, True
        return hit
    if isinstance(value, list):
        replaced = [(swap(v) or v) if isinstance(v, str) else v for v in value]
        item[head] = replaced
        return replaced != value
    if isinstance(value, str) and (p := swap(value)):
        item[head] = p
        return True
    return False


def _get(item: Mapping[str, Any], path: str) -> Any:
    node: Any = item
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _set(item: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = item
    for part in parents:
        node = node.get(part)
        if not isinstance(node, dict):
            return
    if value is None:
        node.pop(last, None)
    else:
        node[last] = value


def _holds_pii(value: Any, matcher: Matcher) -> bool:
    if isinstance(value, str):
        return matcher.is_pii(value)
    if isinstance(value, Mapping):
        return any(_holds_pii(v, matcher) for v in value.values())
    if isinstance(value, list):
        return any(_holds_pii(v, matcher) for v in value)
    return False


def pii_replacement(spec: EntitySpec, path: str, value: Any, matcher: Matcher) -> Any | None:
    """What a pii value about the subject becomes: None (removed) where the model allows it,
    else a token of the same kind (an address for an email field, so validation passes)."""
    field = spec.model.model_fields.get(path)
    if field is None or not field.is_required():
        return None
    token = matcher.token(str(value))[:16]
    return f"{PSEUDONYM_PREFIX}{token}@erased.invalid" if "email" in path.lower() else f"{PSEUDONYM_PREFIX}{token}"


# -- items ----------------------------------------------------------------------------------


def relation(spec: EntitySpec, item: Mapping[str, Any], matcher: Matcher) -> Relation | None:
    """How an item of ``spec`` is about the matcher's subject (see the module docstring)."""
    ids = [v for path in spec.subject_attrs for v in subject_values(item, path)]
    if spec.erasure is not None and any(matcher.pseudonym_for(v) for v in ids):
        return spec.erasure
    if spec.erasure == "shared" and any(_holds_pii(_get(item, p), matcher) for p in spec.pii):
        return "shared"
    if any(matcher.names_subject(item.get(a)) for a in AUDIT_ACTORS):
        return "audit"
    return None


def scrubbed(spec: EntitySpec, item: Mapping[str, Any], matcher: Matcher) -> dict[str, Any]:
    """``item`` with the subject erased from it: ids and audit actors pseudonymized, the pii
    paths about the subject replaced (:func:`pii_replacement`). Key attributes never change."""
    out = copy.deepcopy(dict(item))
    principal = False
    for path in spec.subject_attrs:
        hit = _replace_ids(out, path, matcher)
        principal = principal or (hit and path == spec.pii_subject)
    for attr in AUDIT_ACTORS:
        if (p := _pseudonym(out.get(attr), matcher)) is not None:
            out[attr] = p
    for path in spec.pii:
        value = _get(out, path)
        if value is not None and (principal or _holds_pii(value, matcher)):
            _set(out, path, pii_replacement(spec, path, value, matcher))
    return out


def _pseudonym(value: Any, matcher: Matcher) -> str | None:
    return matcher.pseudonym_for(value) if isinstance(value, str) else None


# -- envelopes ------------------------------------------------------------------------------


def scrub_envelope(
    doc: Mapping[str, Any], matcher: Matcher, erased_item: Callable[[str, str], bool]
) -> dict[str, Any] | None:
    """An envelope (as its JSON object) with the subject erased, or None when it must go.

    It goes when it is about an erased owned item (``erased_item(entity, key)``, or an
    owned entity whose image names the subject) or is a published occurrence of the
    subject (its model's ``actor_field``, or the envelope's ``actor``). An envelope of a
    shared item keeps its place with its images scrubbed; any other is returned as it is.
    """
    entity, key = str(doc.get("entity", "")), str(doc.get("key", ""))
    spec = catalog.ENTITIES.get(entity)
    if spec is None:
        model = REGISTRY.model(entity)
        field = getattr(model, "actor_field", None) if model is not None else None
        after = doc.get("after") or {}
        if matcher.names_subject(doc.get("actor")) or (field and matcher.names_subject(after.get(field))):
            return None
        return dict(doc)
    if erased_item(entity, key):
        return None
    out = dict(doc)
    for side in ("before", "after"):
        image = doc.get(side)
        if not isinstance(image, Mapping):
            continue
        found = relation(spec, image, matcher)
        if found == "owned":
            return None
        if found is not None:
            out[side] = scrubbed(spec, image, matcher)
    if (p := _pseudonym(doc.get("actor"), matcher)) is not None:
        out["actor"] = p
    return out
