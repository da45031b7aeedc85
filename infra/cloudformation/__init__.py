"""CloudFormation rendered from the resource registry (``auxeira infra render``)."""

__all__ = ["event_source_mappings"]
