"""Template building blocks: intrinsic functions, logical ids, fragments and suppressions.

Every resource family module returns a :class:`Fragment` (its parameters, conditions,
resources and outputs); :mod:`infra.cloudformation.assemble` merges them into a
template. A logical id defined twice is an error, not a silent overwrite, so two
families can never fight over one resource.

Suppressions are data (:class:`Suppression`): a linter finding may only be silenced
with a reason, and the reason is written into the template beside the silencing
(``Metadata.checkov.skip[].comment``, ``Metadata.cfn-lint.config.ignore_reasons``),
where a reviewer of the template reads it. ``infra.policy_checks`` refuses a
suppression without one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "NO_VALUE",
    "Fragment",
    "Suppression",
    "account_arn",
    "get_att",
    "if_",
    "join",
    "logical_id",
    "ref",
    "sub",
    "suppress",
]

NO_VALUE: dict[str, str] = {"Ref": "AWS::NoValue"}


def ref(name: str) -> dict[str, Any]:
    return {"Ref": name}


def get_att(resource: str, attribute: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [resource, attribute]}


def sub(text: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``Fn::Sub``; ``${Name}`` resolves parameters, resources and pseudo parameters."""
    return {"Fn::Sub": [text, dict(variables)] if variables else text}


def join(delimiter: str, values: list[Any]) -> dict[str, Any]:
    return {"Fn::Join": [delimiter, values]}


def if_(condition: str, when_true: Any, when_false: Any) -> dict[str, Any]:
    return {"Fn::If": [condition, when_true, when_false]}


def account_arn(service: str, resource: str) -> dict[str, Any]:
    """``arn:${AWS::Partition}:{service}:${AWS::Region}:${AWS::AccountId}:{resource}``."""
    return sub(f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}")


_WORD = re.compile(r"[A-Za-z0-9]+")


def logical_id(*parts: str) -> str:
    """A CloudFormation logical id from names (``logical_id("chatbot-conversations", "Table")``
    is ``ChatbotConversationsTable``): alphanumeric, each word capitalised."""
    words = [w for part in parts for w in _WORD.findall(part)]
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name or not name[0].isalpha():
        raise ValueError(f"no logical id can be made of {parts!r}")
    return name


@dataclass(frozen=True)
class Suppression:
    """One linter finding silenced on one resource, with the reason it does not apply.

    Attributes:
        tool: ``checkov`` or ``cfn-lint`` (core and serverless rules alike).
        rule: the rule id (``CKV_AWS_117``, ``W3002``, ``ES1007``).
        reason: why the finding does not apply here; never empty.
    """

    tool: Literal["checkov", "cfn-lint"]
    rule: str
    reason: str

    def __post_init__(self) -> None:
        if len(self.reason.strip()) < 20:
            raise ValueError(f"suppression of {self.rule} needs a reason (got {self.reason!r})")


def suppress(resource: dict[str, Any], *suppressions: Suppression) -> dict[str, Any]:
    """``resource`` with its suppressions written into its ``Metadata``; returns it."""
    metadata = resource.setdefault("Metadata", {})
    for s in suppressions:
        if s.tool == "checkov":
            skips = metadata.setdefault("checkov", {}).setdefault("skip", [])
            skips.append({"id": s.rule, "comment": s.reason})
        else:
            config = metadata.setdefault("cfn-lint", {}).setdefault("config", {})
            config.setdefault("ignore_checks", []).append(s.rule)
            config.setdefault("ignore_reasons", {})[s.rule] = s.reason
    return resource


@dataclass
class Fragment:
    """Part of a template: what one resource family contributes.

    Order is kept as inserted (the renderers insert in a stable order), so the same
    registry always renders the same bytes.
    """

    parameters: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def resource(self, name: str, kind: str, properties: Mapping[str, Any], **attributes: Any) -> dict[str, Any]:
        """Add one resource (``DependsOn``, ``DeletionPolicy`` ... as keyword attributes); returns it."""
        if name in self.resources:
            raise ValueError(f"resource {name} is defined twice")
        body: dict[str, Any] = {"Type": kind, **attributes, "Properties": dict(properties)}
        self.resources[name] = body
        return body

    def output(self, name: str, value: Any, description: str, export: Any = None) -> None:
        body: dict[str, Any] = {"Description": description, "Value": value}
        if export is not None:
            body["Export"] = {"Name": export}
        self.outputs[name] = body

    def merge(self, *others: Fragment) -> Fragment:
        """This fragment with ``others`` added; a name defined twice with different bodies is an error."""
        for other in others:
            for section in ("parameters", "conditions", "resources", "outputs"):
                mine, theirs = getattr(self, section), getattr(other, section)
                for key, value in theirs.items():
                    if key in mine and mine[key] != value:
                        raise ValueError(f"{section[:-1]} {key} is defined twice, differently")
                    mine[key] = value
        return self

    @classmethod
    def of(cls, fragments: Iterable[Fragment]) -> Fragment:
        return cls().merge(*fragments)
