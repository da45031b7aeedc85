"""Published events: the facts services put on the bus with no table behind them.

A published event is a frozen pydantic model deriving :class:`PublishedEvent`. Its
class variables say how it becomes an :class:`~schemas.envelope.Envelope`:

* ``entity``: the entity name; the event type is ``{entity}.recorded``
  (:attr:`Action.RECORDED <schemas.envelope.Action.RECORDED>`);
* ``key_fields``: the fields whose values, joined by ``|``, are the envelope key (and,
  with tenant and entity, the Kinesis partition key, as for table events);
* ``id_fields``: the event's own id (default: ``key_fields``); the envelope's
  ``event_id`` is ``event_id_for(publisher, "{entity}:{own id}")``, so publishing the
  same fact again (a service retrying after a failure) gives the same event id;
* ``tenant_field``: the field holding the tenant;
* ``version_field``: see below; ``actor_field``: who caused the fact, if anyone;
* ``kind``: ``"occurrence"`` when every event is its own key (a page view happens
  once), ``"state"`` when a key is observed again and again and the latest observation
  is what a projection keeps (a startup's Stripe MRR). A hint for projections.

Staleness of published facts
----------------------------
The envelope ``version`` is ``occurred_at`` in microseconds since the epoch, unless a
model names an integer ``version_field`` (a source's own counter). Projections keep
their rule (apply only a strictly greater version), which for facts means:

* an occurrence has one event per key, so the version only makes a redelivery or a
  re-publish of the same fact a no-op;
* a state keeps the observation with the latest ``occurred_at`` (the time its figures
  are *as of*), whatever order the events arrive in. Two observations of one key in
  the same microsecond are one observation: the second is ignored. Time comes from
  the publisher's clock, so sources with their own monotonic counter should use
  ``version_field`` instead.

The registry
------------
:class:`EventRegistry` maps entities to models; :data:`REGISTRY` is the default one
and :func:`register` its decorator. An unknown event type raises
:class:`UnknownEventTypeError`, an invalid payload :class:`EventValidationError`; both
name the event type, the latter every offending field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from schemas import catalog
from schemas.envelope import Action, Envelope, Source, event_id_for
from schemas.errors import EntityValidationError, PipelineError
from schemas.ids import entity_id_problem, tenant_problem
from schemas.wire.json_values import to_json

__all__ = [
    "REGISTRY",
    "EventRegistry",
    "EventValidationError",
    "PublishedEvent",
    "UnknownEventTypeError",
    "register",
    "to_envelope",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_ENTITY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SUFFIX = "." + Action.RECORDED.value

P = TypeVar("P", bound="PublishedEvent")


class UnknownEventTypeError(PipelineError, LookupError):
    """No model is registered for an event type."""

    def __init__(self, event_type: str, known: list[str]):
        self.event_type = event_type
        super().__init__(f"unknown event type {event_type!r}; registered: {', '.join(known) or 'none'}")


class EventValidationError(EntityValidationError):
    """A payload does not match its event model; names the event type and every field."""

    def __init__(self, event_type: str, errors: list[tuple[str, str]]):
        super().__init__(event_type, "", errors)
        self.event_type = event_type
        detail = "; ".join(f"{field}: {msg}" for field, msg in errors)
        self.args = (f"invalid {event_type} event: {detail}",)


class PublishedEvent(BaseModel):
    """Base of every published event model (see the module docstring for the class vars)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    entity: ClassVar[str]
    key_fields: ClassVar[tuple[str, ...]]
    id_fields: ClassVar[tuple[str, ...] | None] = None
    tenant_field: ClassVar[str] = "tenant_id"
    version_field: ClassVar[str | None] = None
    actor_field: ClassVar[str | None] = None
    kind: ClassVar[Literal["occurrence", "state"]] = "occurrence"

    #: When the fact happened (for an observation: the time its figures are as of).
    occurred_at: AwareDatetime

    @field_validator("occurred_at")
    @classmethod
    def _after_epoch(cls, value: datetime) -> datetime:
        # The version is derived from it and must be >= 0 (Envelope.version).
        if value < _EPOCH:
            raise ValueError("must be after 1970-01-01T00:00:00Z")
        return value

    @model_validator(mode="after")
    def _json_values(self) -> PublishedEvent:
        """Free-form fields (``properties``, ``entities``) hold JSON: a NaN or infinity has no
        JSON form (it would silently become null), so it is refused, naming where it is."""
        for name in type(self).model_fields:
            bad = _non_finite(getattr(self, name), name)
            if bad:
                raise ValueError(f"{bad}: NaN and infinity are not JSON values")
        for label, fields in (("key", type(self).key_fields), ("tenant", (type(self).tenant_field,))):
            for name in fields:
                problem = (tenant_problem if label == "tenant" else entity_id_problem)(str(getattr(self, name)))
                if problem:
                    raise ValueError(f"{name} {problem}")
        return self

    @classmethod
    def event_type(cls) -> str:
        """``{entity}.recorded``."""
        return cls.entity + _SUFFIX


class EventRegistry:
    """Event models by entity; validates payloads before anything is sent."""

    def __init__(self) -> None:
        self._models: dict[str, type[PublishedEvent]] = {}

    def register(self, model: type[P]) -> type[P]:
        """Register ``model`` (usable as a class decorator); checks its class variables.

        Raises:
            TypeError: not a :class:`PublishedEvent`, or its class variables name
                fields it does not have.
            ValueError: a bad entity name, one a table already uses, or one another
                model registered.
        """
        if not (isinstance(model, type) and issubclass(model, PublishedEvent)):
            raise TypeError(f"{model!r} is not a PublishedEvent model")
        entity = getattr(model, "entity", None)
        if not isinstance(entity, str) or not _ENTITY_NAME.match(entity):
            raise ValueError(f"{model.__name__}.entity must match {_ENTITY_NAME.pattern}, got {entity!r}")
        if entity in catalog.ENTITIES:
            raise ValueError(f"{model.__name__}: entity {entity!r} is a table entity")
        if self._models.get(entity, model) is not model:
            raise ValueError(f"entity {entity!r} is already registered by {self._models[entity].__name__}")
        _check_fields(model)
        self._models[entity] = model
        return model

    def __contains__(self, entity: object) -> bool:
        return entity in self._models

    def model(self, entity: str) -> type[PublishedEvent] | None:
        """The model registered for an entity, or None."""
        return self._models.get(entity)

    @property
    def entities(self) -> frozenset[str]:
        """Names of the registered entities."""
        return frozenset(self._models)

    def model_for(self, event_type: str) -> type[PublishedEvent]:
        """The model of ``event_type`` (``"page_view.recorded"``, or the bare entity).

        Raises:
            UnknownEventTypeError: nothing registered under that type.
        """
        entity = event_type[: -len(_SUFFIX)] if event_type.endswith(_SUFFIX) else event_type
        try:
            return self._models[entity]
        except (KeyError, TypeError):
            raise UnknownEventTypeError(event_type, self._known()) from None

    def parse(self, event_type: str, payload: Mapping[str, Any]) -> PublishedEvent:
        """Validate ``payload`` as an event of ``event_type``.

        Raises:
            UnknownEventTypeError: unknown type.
            EventValidationError: invalid payload; names the type and every field.
        """
        model = self.model_for(event_type)
        try:
            return model.model_validate(payload)
        except ValidationError as exc:
            raise EventValidationError(model.event_type(), _field_errors(exc)) from None

    def coerce(self, event: PublishedEvent | Mapping[str, Any]) -> PublishedEvent:
        """An event model instance, from an instance or a mapping with ``event_type``.

        An instance was validated when built (models are frozen); it only has to be of
        a registered model.
        """
        if isinstance(event, PublishedEvent):
            if self._models.get(type(event).entity) is not type(event):
                raise UnknownEventTypeError(type(event).event_type(), self._known())
            return event
        if not isinstance(event, Mapping):
            raise TypeError(f"an event is a PublishedEvent or a mapping, got {type(event).__name__}")
        payload = dict(event)
        event_type = payload.pop("event_type", None)
        if not isinstance(event_type, str):
            raise EventValidationError("(unknown)", [("event_type", "required: a registered event type")])
        return self.parse(event_type, payload)

    def _known(self) -> list[str]:
        return sorted(model.event_type() for model in self._models.values())


def to_envelope(event: PublishedEvent, publisher: str) -> Envelope:
    """The envelope of a published event (pure).

    ``after`` is the event's JSON form without unset (None) fields, as a DynamoDB image
    has no attribute for them; ``before`` is None (a fact has no previous state).

    Args:
        event: a validated event.
        publisher: the publishing service's stable name; with the event's own id it
            makes the deterministic ``event_id``.

    Raises:
        EventValidationError: the event cannot make a valid envelope (an empty key or
            tenant, a negative version); names the fields.
    """
    model = type(event)
    own_id = _joined(event, model.id_fields or model.key_fields)
    try:
        return Envelope(
            event_id=event_id_for(publisher, f"{model.entity}:{own_id}"),
            event_type=model.event_type(),
            tenant_id=str(getattr(event, model.tenant_field)),
            entity=model.entity,
            key=_joined(event, model.key_fields),
            version=_version(event),
            source=Source(publisher=publisher),
            occurred_at=event.occurred_at,
            actor=_actor(event),
            before=None,
            # JSON form, then exact: an integer past int64 in a free-form field travels as a tag.
            after=to_json(event.model_dump(mode="json", exclude_none=True)),
        )
    except ValidationError as exc:
        raise EventValidationError(model.event_type(), _field_errors(exc)) from None


REGISTRY = EventRegistry()
register = REGISTRY.register


def _check_fields(model: type[PublishedEvent]) -> None:
    named = [*model.key_fields, *(model.id_fields or ()), model.tenant_field]
    named += [f for f in (model.version_field, model.actor_field) if f]
    missing = [name for name in named if name not in model.model_fields]
    if not model.key_fields or missing:
        raise TypeError(f"{model.__name__}: key/id/tenant/version/actor fields {missing or '()'} are not fields")


def _non_finite(value: Any, path: str) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, Mapping):
        return next((p for k, v in value.items() if (p := _non_finite(v, f"{path}.{k}"))), None)
    if isinstance(value, (list, tuple)):
        return next((p for i, v in enumerate(value) if (p := _non_finite(v, f"{path}[{i}]"))), None)
    return None


def _joined(event: PublishedEvent, fields: tuple[str, ...]) -> str:
    return "|".join(str(getattr(event, name)) for name in fields)


def _version(event: PublishedEvent) -> int:
    field = type(event).version_field
    if field is not None:
        return int(getattr(event, field))
    return (event.occurred_at - _EPOCH) // _MICROSECOND


def _actor(event: PublishedEvent) -> str | None:
    field = type(event).actor_field
    value = getattr(event, field) if field else None
    return None if value is None else str(value)


def _field_errors(exc: ValidationError) -> list[tuple[str, str]]:
    return [(".".join(str(p) for p in err["loc"]) or "(event)", err["msg"]) for err in exc.errors()]
