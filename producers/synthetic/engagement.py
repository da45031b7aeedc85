"""What a startup does on the platform over the range: activities that earn and spend aux
tokens, documents, chatbot conversations, event registrations, partner activations and
investor matches (seed ``000``, tables 3-12).

Pure. The pieces agree with each other and with the startup's series: a ``metric_update``
activity carries the MRR of a metric point and the one before it, a document's extracted
metrics are those of the point before its upload, every upload and attended event is an
activity that earns the catalogue's tokens, and a benefit redemption never spends more
tokens than the startup had earned by then.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from producers.synthetic import names
from producers.synthetic.dashboards import SNAPSHOT_TIME
from producers.synthetic.ops import Create
from producers.synthetic.startups import StartupSeries
from producers.synthetic.tenants import TenantContext

__all__ = ["MATCHER", "Engagement", "build_engagement"]

#: Actor of writes the platform makes on its own (investor matching).
MATCHER = "system:matcher"
_DOCUMENTS = ("pitch_deck", "financial_model", "cap_table", "business_plan")
_OTHER_ACTIVITIES = ("pitch_practice", "customer_interview", "mentor_session")
_REDEMPTION_COST = 100
_RETENTION = timedelta(days=365)  # chatbot TTL: what the seed keeps conversations for


@dataclass
class Engagement:
    """A startup's creates in time order, and the aux tokens they earned and spent."""

    creates: list[Create] = field(default_factory=list)
    tokens_earned: int = 0
    tokens_spent: int = 0


def build_engagement(rng: random.Random, tenant: TenantContext, startup: StartupSeries, *, as_of: date) -> Engagement:
    """Every create of one startup's platform use, with its token totals."""
    ctx = _Ctx(rng, tenant, startup, as_of)
    for kind in rng.sample(_DOCUMENTS, rng.randint(1, 3)):
        ctx.document(kind)
    for _ in range(rng.randint(1, 3)):
        ctx.metric_update()
    for kind in rng.choices(_OTHER_ACTIVITIES, k=rng.randint(1, 3)):
        ctx.activity(kind, ctx.random_time(), description=kind.replace("_", " ").capitalize())
    for _ in range(1 if rng.random() < 0.7 else 2):
        ctx.conversation()
    for event in rng.sample(tenant.events, rng.randint(0, 2)):
        ctx.registration(event)
    for partner in rng.sample(tenant.partners, rng.randint(0, min(2, len(tenant.partners)))):
        ctx.activation(partner)
    for investor in rng.sample(tenant.investors(), rng.randint(1, 3)):
        ctx.match(investor)
    return ctx.finish()


class _Ctx:
    """Builds one startup's creates; ids and times come from the one RNG, in call order."""

    def __init__(self, rng: random.Random, tenant: TenantContext, startup: StartupSeries, as_of: date) -> None:
        self.rng, self.tenant, self.startup = rng, tenant, startup
        self.sid, self.uid = startup.startup_id, startup.founder["user_id"]
        self.points = [datetime.combine(date.fromisoformat(m["date"]), SNAPSHOT_TIME) for m in startup.metrics]
        self.start, self.end = self.points[0], datetime.combine(as_of, SNAPSHOT_TIME)
        self.creates: list[Create] = []
        self.redemptions: list[tuple[datetime, dict[str, Any]]] = []
        self.session = names.seeded_uuid(rng)

    def random_time(self, after: datetime | None = None) -> datetime:
        low = after or self.start
        span = max(0, int((self.end - low).total_seconds()))
        return low + timedelta(seconds=self.rng.randint(0, span))

    def point_before(self, at: datetime) -> dict[str, Any]:
        return self.startup.metrics[max(0, bisect.bisect_right(self.points, at) - 1)]

    def add(self, at: datetime, entity: str, values: dict[str, Any], actor: str | None = None) -> None:
        values = {"tenant_id": self.tenant.tenant_id, **values}
        self.creates.append(Create(entity, values, actor or self.uid, at))

    def activity(
        self,
        kind: str,
        at: datetime,
        *,
        description: str,
        value: float | None = None,
        previous: float | None = None,
        spent: int = 0,
    ) -> None:
        entry = next((c for c in self.tenant.catalog if c["name"] == kind), None)
        earned = entry["aux_tokens_reward"] if entry else 0
        city, country = self.rng.choice(names.CITIES)
        values = {
            "activity_id": names.seeded_uuid(self.rng),
            "startup_id": self.sid,
            "user_id": self.uid,
            "timestamp": at,
            "activity_type": kind,
            "activity_category": entry["category"] if entry else "rewards",
            "activity_description": description,
            "activity_value": value,
            "previous_value": previous,
            "activity_metadata": {"source": "synthetic", "verified": True},
            "ip_address": f"203.0.113.{self.rng.randint(1, 254)}",
            "device_type": "desktop",
            "browser": "Chrome",
            "location": {"city": city, "country": country},
            "session_id": self.session,
            "aux_tokens_earned": earned,
            "aux_tokens_spent": spent,
        }
        if kind == "benefit_redemption":  # spent is settled in finish(), in time order
            self.redemptions.append((at, values))
        else:
            self.add(at, "activity", values)

    def metric_update(self) -> None:
        i = self.rng.randrange(len(self.points))
        now, before = self.startup.metrics[i], self.startup.metrics[max(0, i - 1)]
        self.activity(
            "metric_update",
            self.points[i],
            description=f"Updated MRR to ${now['mrr']:,}",
            value=now["mrr"],
            previous=before["mrr"],
        )

    def document(self, kind: str) -> None:
        at = self.random_time()
        point = self.point_before(at)
        name = f"{self.startup.profile['company_name']} {kind.replace('_', ' ').title()}.pdf"
        document_id = names.seeded_uuid(self.rng)
        self.add(
            at,
            "document",
            {
                "document_id": document_id,
                "startup_id": self.sid,
                "user_id": self.uid,
                "document_type": kind,
                "document_name": name,
                "file_format": "pdf",
                "file_size_bytes": self.rng.randint(200_000, 9_000_000),
                "upload_date": at,
                "s3_bucket": "auxeira-documents",
                "s3_key": f"startups/{self.sid}/{document_id}.pdf",
                "access_level": self.rng.choice(("private", "team", "investors")),
                "tags": ["fundraising", kind],
                "ai_extracted_data": {"key_metrics_extracted": {"mrr": point["mrr"], "team_size": point["team_size"]}},
            },
        )
        self.activity("document_upload", at, description=f"Uploaded {name}")

    def conversation(self) -> None:
        at = self.random_time()
        conversation_id = names.seeded_uuid(self.rng)
        ttl = int((at + _RETENTION).timestamp())
        self.add(
            at,
            "chatbot_conversation",
            {
                "conversation_id": conversation_id,
                "startup_id": self.sid,
                "user_id": self.uid,
                "started_at": at,
                "topic": "metrics",
                "ttl": ttl,
            },
        )
        i = max(1, bisect.bisect_right(self.points, at) - 1)
        now, before = self.startup.metrics[min(i, len(self.points) - 1)], self.startup.metrics[i - 1]
        growth = (now["mrr"] - before["mrr"]) / before["mrr"] if before["mrr"] else 0.0
        for turn in range(self.rng.randint(1, 2)):
            sent = at + timedelta(minutes=2 * turn)
            self._message(conversation_id, sent, "user", _user_text(growth, turn), growth, ttl)
            self._message(
                conversation_id,
                sent + timedelta(seconds=5),
                "assistant",
                "Thanks, I've updated your metrics. What drove the change?",
                growth,
                ttl,
            )

    def _message(self, conversation_id: str, at: datetime, sender: str, text: str, growth: float, ttl: int) -> None:
        user = sender == "user"
        self.add(
            at,
            "chatbot_message",
            {
                "conversation_id": conversation_id,
                "message_id": names.seeded_uuid(self.rng),
                "startup_id": self.sid,
                "user_id": self.uid,
                "message_timestamp": at,
                "message_sender": sender,
                "message_text": text,
                "message_intent": "metric_update" if user else "acknowledgement",
                "message_entities": {"metric_type": "mrr", "growth_percentage": round(growth, 4)} if user else None,
                "message_sentiment": ("positive" if growth > 0.01 else "negative" if growth < -0.01 else "neutral")
                if user
                else "positive",
                "ai_confidence_score": round(self.rng.uniform(0.7, 0.99), 2) if not user else None,
                "aux_tokens_awarded": 25 if user and self.rng.random() < 0.5 else 0,
                "ttl": ttl,
            },
        )

    def registration(self, event: dict[str, Any]) -> None:
        starts: datetime = event["starts_at"]
        registered = self.random_time() if starts > self.end else min(self.random_time(), starts)
        attended = starts <= self.end and self.rng.random() < 0.8
        status = "attended" if attended else "registered" if starts > self.end else "cancelled"
        self.add(
            registered,
            "event_registration",
            {
                "event_id": event["event_id"],
                "user_id": self.uid,
                "startup_id": self.sid,
                "status": status,
                "registered_at": registered,
            },
        )
        if attended:
            self.activity("event_attendance", starts, description=f"Attended {event['title']}")

    def activation(self, partner: dict[str, Any]) -> None:
        at = self.random_time()
        benefit, value = self.tenant.benefits[partner["partner_id"]]
        self.add(
            at,
            "partner_activation",
            {
                "partner_id": partner["partner_id"],
                "activation_id": names.seeded_uuid(self.rng),
                "startup_id": self.sid,
                "user_id": self.uid,
                "benefit": benefit,
                "activated_at": at,
                "status": self.rng.choice(("active", "redeemed")),
                "value_usd": value,
                "redemption_code": f"AUX-{self.rng.getrandbits(40):010X}",
            },
        )
        self.activity("benefit_redemption", at, description=f"Redeemed {benefit}", spent=_REDEMPTION_COST)

    def match(self, investor: dict[str, Any]) -> None:
        at = self.random_time()
        reasons = self.rng.sample(("stage fit", "industry fit", "ticket size", "impact thesis"), 2)
        self.add(
            at,
            "investor_match",
            {
                "startup_id": self.sid,
                "investor_id": investor["user_id"],
                "matched_at": at,
                "match_score": round(self.rng.uniform(0.4, 0.99), 2),
                "reasons": reasons,
                "status": self.rng.choice(("suggested", "intro_requested", "connected", "passed")),
            },
            MATCHER,
        )

    def finish(self) -> Engagement:
        """Token totals, with each redemption capped by what was earned before it."""
        earned_at = [(_at(c), _earned(c.values)) for c in self.creates]
        spent_total = 0
        for at, values in sorted(self.redemptions, key=lambda r: r[0]):
            balance = sum(e for when, e in earned_at if when <= at) - spent_total
            spent = min(_REDEMPTION_COST, max(0, balance))
            spent_total += spent
            self.add(at, "activity", {**values, "aux_tokens_spent": spent})
        creates = sorted(self.creates, key=_at)
        return Engagement(creates, sum(_earned(c.values) for c in creates), spent_total)


def _at(create: Create) -> datetime:
    """A create's time: :meth:`_Ctx.add` gives every one its own."""
    assert create.at is not None
    return create.at


def _earned(values: Mapping[str, Any]) -> int:
    return int(values.get("aux_tokens_earned") or values.get("aux_tokens_awarded") or 0)


def _user_text(growth: float, turn: int) -> str:
    if turn:
        return "Can you show me how that compares with last quarter?"
    verb = "grew" if growth >= 0 else "dropped"
    return f"Our MRR {verb} {abs(growth):.0%} since the last update!"
