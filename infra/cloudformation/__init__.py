"""CloudFormation rendered from the resource registry (``auxeira infra render``).

One module per resource family (``tables``, ``stream``, ``buckets``, ``network``,
``search_domain``, ``cache_cluster``, ``functions`` with ``iam`` and ``environment``,
``event_source_mappings``, ``alarms``, ``dashboard``, ``glue``, ``athena``), each returning
a :class:`~infra.cloudformation.model.Fragment`; ``assemble`` merges them into the
templates and ``render`` writes them to ``infra/templates``.
"""

__all__ = ["assemble", "event_source_mappings", "render"]
