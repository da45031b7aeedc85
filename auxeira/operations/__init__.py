"""Operations: what an on-call engineer or a developer runs over the whole pipeline
(the local pipeline, the demo, replay, backfill, dead-letter redrive, status, verify,
erasure). A library the command line calls."""

__all__: list[str] = []
