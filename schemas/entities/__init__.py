"""Entity models: pydantic validation for every item the repository writes."""

from schemas.entities import assistant, auxeira, base, lending, organizations
from schemas.entities.assistant import *  # noqa: F403
from schemas.entities.auxeira import *  # noqa: F403
from schemas.entities.base import *  # noqa: F403
from schemas.entities.lending import *  # noqa: F403
from schemas.entities.organizations import *  # noqa: F403

__all__ = [*assistant.__all__, *auxeira.__all__, *base.__all__, *lending.__all__, *organizations.__all__]
