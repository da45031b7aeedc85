"""Everything that puts events on the bus.

Modules: ``repository`` (the write path: validation, audit fields, versions, history,
batch writes, pagination), ``stream_router`` and ``handlers.router`` (DynamoDB Streams ->
envelopes), ``kinesis_writer`` (PutRecords with per-record retries and per-key order),
``backoff`` (full-jitter delays), ``events`` (published event models and their
registry), ``publisher`` (the publishing SDK), ``aggregation`` (KPL record aggregation),
``synthetic`` (the workload generator).
"""

__all__ = [
    "aggregation",
    "backoff",
    "events",
    "kinesis_writer",
    "publisher",
    "repository",
    "stream_router",
]
