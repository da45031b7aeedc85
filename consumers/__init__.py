"""Everything that reads the bus: projections (pure), sinks (I/O), runner, handlers."""

__all__: list[str] = []
