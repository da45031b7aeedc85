"""The shared runtime: settings, clients, retry policy, batch processing, dead letters,
checkpoints and the event-source-mapping runner that Lambda handlers, the local runner,
replay and backfill all share. It imports only the contracts (``schemas``)."""

__all__: list[str] = []
