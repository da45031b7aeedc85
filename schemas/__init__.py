"""Pure models shared by every part of the pipeline: envelope, entities, table specs, errors.

Nothing here does I/O; every other package imports inward to this one.
"""

__all__ = ["catalog", "entities", "envelope", "errors", "fields", "search_fields", "tables"]
