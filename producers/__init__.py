"""Everything that puts events on the bus.

Modules: ``kinesis_writer`` (PutRecords with per-record retries and per-key order),
``backoff`` (full-jitter delays).
"""

__all__ = ["backoff", "kinesis_writer"]
