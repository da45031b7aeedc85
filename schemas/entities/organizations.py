"""The single-table ``organizations`` design (seed ``002_0088728a6d542df4.txt``).

One table holds many entity types, told apart by the ``entityType`` attribute (and by
the sort-key prefix when an older item lacks it). The tenant is the organization:
``organizationId`` is on every item. ``expiresAt`` is the TTL attribute; the seed shows
it in milliseconds, but DynamoDB TTL reads epoch *seconds*, so these models require
seconds (a millisecond value would keep items for ~50,000 years).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.entities.base import AuditedModel, Json

__all__ = ["GithubData", "Invitation", "Member", "Organization", "TeamReport"]

_EPOCH_SECONDS_MAX = 10_000_000_000  # year 2286: anything larger is milliseconds


class _OrgItem(AuditedModel):
    organizationId: str = Field(min_length=1)
    GSI1PK: str | None = None
    GSI1SK: str | None = None
    GSI2PK: str | None = None
    GSI2SK: str | None = None
    createdAt: int | None = None
    updatedAt: int | None = None


class Organization(_OrgItem):
    entityType: Literal["ORGANIZATION"] = "ORGANIZATION"
    name: str
    plan: Literal["free", "pro", "enterprise"] = "free"
    maxMembers: int = 10
    currentMembers: int = 0
    ownerId: str
    settings: Json | None = None


class Member(_OrgItem):
    entityType: Literal["MEMBER"] = "MEMBER"
    userId: str
    email: str
    name: str | None = None
    role: Literal["owner", "admin", "member", "viewer"] = "member"
    githubUsername: str | None = None
    joinedAt: int | None = None


class Invitation(_OrgItem):
    entityType: Literal["INVITATION"] = "INVITATION"
    invitationId: str
    email: str
    role: Literal["admin", "member", "viewer"] = "member"
    invitedBy: str
    status: Literal["pending", "accepted", "revoked"] = "pending"
    token: str
    expiresAt: int = Field(gt=0, lt=_EPOCH_SECONDS_MAX)


class GithubData(_OrgItem):
    entityType: Literal["GITHUB_DATA"] = "GITHUB_DATA"
    githubUsername: str
    userId: str | None = None
    metrics: Json | None = None
    burnoutRisk: Json | None = None
    expiresAt: int | None = Field(default=None, gt=0, lt=_EPOCH_SECONDS_MAX)


class TeamReport(_OrgItem):
    entityType: Literal["TEAM_REPORT"] = "TEAM_REPORT"
    reportDate: str
    summary: Json | None = None
    burnoutRisks: list[Json] = Field(default_factory=list)
    expiresAt: int | None = Field(default=None, gt=0, lt=_EPOCH_SECONDS_MAX)
