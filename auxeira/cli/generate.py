"""``auxeira generate``: synthetic data written into the local pipeline (see :mod:`auxeira.operations.generate`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import typer

from auxeira.cli.context import context_of
from auxeira.operations.generate import GenerateOptions, run_generate, today
from producers.synthetic.config import WorkloadConfig
from producers.synthetic.ratelimit import parse_rate

__all__ = ["generate"]


class TrendChoice(StrEnum):
    improving = "improving"
    declining = "declining"
    stable = "stable"
    volatile = "volatile"


class ViaChoice(StrEnum):
    repository = "repository"
    publisher = "publisher"


def generate(
    ctx: typer.Context,
    tenants: Annotated[int, typer.Option(min=1, help="Tenants (programmes or funds).")] = 3,
    startups: Annotated[int, typer.Option(min=0, help="Startups per tenant.")] = 10,
    days: Annotated[int, typer.Option(min=1, help="Days of history, ending on --as-of.")] = 60,
    trend: Annotated[TrendChoice | None, typer.Option(help="One trend for every series (default: a mix).")] = None,
    seed: Annotated[int, typer.Option(help="Same seed and --as-of, same data.")] = 42,
    rate: Annotated[str | None, typer.Option(help="Cap, e.g. 200/s or 6000/min (default: none).")] = None,
    via: Annotated[
        ViaChoice, typer.Option(help="repository: tables (+ dashboards as events); publisher: events only.")
    ] = ViaChoice.repository,
    threads: Annotated[int, typer.Option(min=1, max=32, help="Writer threads.")] = 4,
    points: Annotated[int | None, typer.Option(min=1, help="Metric points per series (default: weekly).")] = None,
    as_of: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last day (default: today, UTC).")
    ] = None,
    history: Annotated[
        bool,
        typer.Option(
            help="Keep each write's previous image in the history table, as "
            "services do; --no-history seeds about twice as fast."
        ),
    ] = True,
) -> None:
    """Write synthetic tenants, startups, metrics, platform use, loans and dashboards.

    The last line printed is one JSON object; the exit code is non-zero if a write failed.
    """
    try:
        per_second = parse_rate(rate) if rate is not None else None
        config = WorkloadConfig(
            tenants=tenants,
            startups=startups,
            days=days,
            points=points,
            trend=trend.value if trend else None,
            seed=seed,
            as_of=as_of.date() if as_of else today(),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    cli = context_of(ctx)
    result = run_generate(
        GenerateOptions(config, via.value, per_second, threads, history), cli.out.console, settings=cli.settings
    )
    cli.out.json_line(result["line"])
    raise typer.Exit(0 if result["summary"]["failed"] == 0 else 1)
