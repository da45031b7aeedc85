"""Plain-key tables of the AI assistant (seed ``004_fabe90a38df6aee4.txt``).

Keys are ordinary attributes (``userId``; ``userId`` + ``documentId``), with no
``PK``/``SK`` convention. Each user's data is its own scope, so ``userId`` is the
tenant attribute.
"""

from __future__ import annotations

from typing import Literal

from schemas.entities.base import AuditedModel, Json

__all__ = ["AssistantDocument", "AssistantUser"]


class AssistantUser(AuditedModel):
    userId: str
    email: str
    firstName: str | None = None
    lastName: str | None = None
    role: Literal["user", "admin"] = "user"
    provider: Literal["COGNITO", "Google", "LoginWithAmazon"] = "COGNITO"
    isActive: bool = True
    createdAt: str | None = None
    updatedAt: str | None = None
    lastLoginAt: str | None = None
    loginCount: int = 0
    preferences: Json | None = None
    metadata: Json | None = None
    refreshToken: str | None = None


class AssistantDocument(AuditedModel):
    userId: str
    documentId: str
    fileName: str
    fileType: str
    fileSize: int = 0
    s3Key: str | None = None
    s3Bucket: str | None = None
    uploadDate: str | None = None
    updatedAt: str | None = None
    status: Literal["uploading", "processing", "ready", "error"] = "uploading"
    processingStatus: Json | None = None
    metadata: Json | None = None
    searchableContent: Json | None = None
    access: Json | None = None
