"""Ownership declarations for the right to be forgotten: every entity that names a user says so,
and says whether erasing that user deletes the item (owned) or pseudonymizes it (shared)."""

from __future__ import annotations

import pytest

from schemas import catalog
from schemas.entities.base import TenantModel
from schemas.erasure import user_id_like
from schemas.tables import EntitySpec, KeyStyle, TableSpec

AUDIT = {"created_by", "updated_by", "deleted_by"}


def undeclared(spec: EntitySpec) -> list[str]:
    """Model fields that read as a user id but are not among the entity's subject attributes."""
    declared = {path.partition("[].")[0] for path in spec.subject_attrs}
    return sorted(f for f in spec.model.model_fields if user_id_like(f) and f not in AUDIT and f not in declared)


def key_fields(spec: EntitySpec, table: TableSpec) -> set[str]:
    return set(table.key_attrs) if table.style is KeyStyle.PLAIN else set(spec.template_fields())


@pytest.mark.parametrize("name", sorted(catalog.ENTITIES))
def test_every_entity_with_a_user_id_like_attribute_declares_it(name):
    # GIVEN an entity of the catalog WHEN its model fields are read THEN none that names a user is undeclared
    spec = catalog.entity(name)
    assert undeclared(spec) == [], f"{name}: declare {undeclared(spec)} in subject_attrs (schemas/catalog.py)"


@pytest.mark.parametrize("name", sorted(catalog.ENTITIES))
def test_declared_subject_attributes_are_fields_and_shared_items_never_hold_one_in_their_key(name):
    spec, table = catalog.entity(name), catalog.table_of_entity(name)
    for path in spec.subject_attrs:
        assert path.partition("[].")[0] in spec.model.model_fields, f"{name}: {path} is no field"
    if spec.erasure == "shared":
        # a key cannot be rewritten: an item that stays for others must not be keyed by the subject
        assert not key_fields(spec, table) & set(spec.subject_attrs)
    if key_fields(spec, table) & set(spec.subject_attrs):
        assert spec.erasure == "owned"


def test_the_suggested_rule_holds_for_the_platforms_entities():
    owned = {n for n, e in catalog.ENTITIES.items() if e.erasure == "owned"}
    shared = {n for n, e in catalog.ENTITIES.items() if e.erasure == "shared"}
    assert {
        "user",
        "user_session",
        "notification",
        "user_startup",
        "event_registration",
        "chatbot_conversation",
        "chatbot_message",
        "peer_assessment",
        "investor_match",
        "assistant_user",
        "assistant_document",
        "member",
    } <= owned
    assert {"activity", "document", "activity_submission", "partner_activation", "loan", "loan_participant"} <= shared
    # the pii of an activity is its user's; of a participant, its lender's
    assert catalog.entity("activity").pii_subject == "user_id"
    assert catalog.entity("loan_participant").pii_subject == "lender_id"


def test_a_new_entity_that_forgets_its_user_attribute_is_caught():
    # GIVEN a model with a lender id and a spec that declares nothing
    class Pledge(TenantModel):
        pledge_id: str
        lenderId: str

    forgot = EntitySpec("pledge", Pledge, pk="PLEDGE#{pledge_id}", sk="META")
    # THEN the check names the attribute, and the declared spec passes it
    assert undeclared(forgot) == ["lenderId"]
    declared = EntitySpec(
        "pledge", Pledge, pk="PLEDGE#{pledge_id}", sk="META", subject_attrs=("lenderId",), erasure="shared"
    )
    assert undeclared(declared) == []


def test_a_declaration_needs_both_halves_and_a_pii_subject_among_them():
    class Note(TenantModel):
        note_id: str
        user_id: str

    with pytest.raises(ValueError, match="together"):
        EntitySpec("note", Note, pk="NOTE#{note_id}", subject_attrs=("user_id",))
    with pytest.raises(ValueError, match="together"):
        EntitySpec("note", Note, pk="NOTE#{note_id}", erasure="owned")
    with pytest.raises(ValueError, match="pii_subject"):
        EntitySpec("note", Note, pk="NOTE#{note_id}", subject_attrs=("user_id",), erasure="shared", pii_subject="x")


@pytest.mark.parametrize(
    "name",
    [
        "user_id",
        "assessor_id",
        "borrower_id",
        "lender_id",
        "investor_id",
        "userId",
        "ownerId",
        "invited_by",
        "invitedBy",
    ],
)
def test_user_id_like_names(name):
    assert user_id_like(name)


@pytest.mark.parametrize("name", ["startup_id", "session_id", "activity_id", "user_type", "tenant_id", "created_by"])
def test_names_that_are_not_user_ids(name):
    assert not user_id_like(name)
