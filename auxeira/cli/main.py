"""The ``auxeira`` command: a thin shell over the operations, the producers and the local stack.

Commands come in two groups. **Operations** read and repair a deployed (or the local)
environment: ``search``, ``counters``, ``history`` and the on-call tools.
**Development** commands work on this machine only: the local emulator stack, the
end-to-end demo, the local event source mappings and the synthetic data generator.

Errors never surface as a traceback: every error this project raises on purpose, and
every AWS or connection error, becomes one line on stderr and an exit code
(:mod:`auxeira.cli.output`). ``--debug`` shows the traceback of an unexpected error.
"""

from __future__ import annotations

from typing import Any

import typer
from typer._click.exceptions import ClickException
from typer.core import TyperGroup

from auxeira.cli import (
    backfill,
    counters,
    demo,
    dlq,
    erase,
    generate,
    history,
    infra,
    lake,
    local,
    query,
    replay,
    run,
    search,
    status,
    verify,
)
from auxeira.cli.context import CliContext
from auxeira.cli.output import INTERRUPTED, PROBLEM, UNAVAILABLE, USAGE, Output

__all__ = ["app", "main"]

DEV = "Development (this machine)"
OPS = "Operations"


class _ErrorsAsExitCodes(TyperGroup):
    """Maps exceptions to one line and an exit code, for the real command and for tests alike."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except KeyboardInterrupt:
            raise typer.Exit(INTERRUPTED) from None
        except Exception as exc:
            code, message = classify(exc)
            if code == PROBLEM and isinstance(ctx.obj, CliContext) and ctx.obj.debug:
                raise
            Output().error(message)
            raise typer.Exit(code) from None


def classify(exc: BaseException) -> tuple[int, str]:
    """(exit code, one-line message) of an exception."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError, ProfileNotFound

    from schemas.errors import PipelineError

    if isinstance(exc, (PipelineError, ValueError, KeyError, FileNotFoundError)):
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        return USAGE, str(text)
    if isinstance(exc, (NoCredentialsError, NoRegionError, ProfileNotFound)):
        return USAGE, f"{exc} (use --profile/--region, or AWS_PROFILE)"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return UNAVAILABLE, f"AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}"
    if isinstance(exc, (BotoCoreError, ConnectionError, TimeoutError, OSError)):
        return UNAVAILABLE, f"a service did not answer: {exc}"
    if type(exc).__module__.startswith(("redis", "opensearchpy")):
        return UNAVAILABLE, f"{type(exc).__name__}: {exc}"
    return PROBLEM, f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)"


app = typer.Typer(
    cls=_ErrorsAsExitCodes,
    help="Auxeira change-data pipeline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    env: str | None = typer.Option(None, "--env", help="Environment (default: AUXEIRA_ENV, else local)."),
    profile: str | None = typer.Option(None, "--profile", help="AWS profile (default: AWS_PROFILE)."),
    region: str | None = typer.Option(None, "--region", help="AWS region (default: AUXEIRA_REGION or AWS_REGION)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON document on stdout."),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an unexpected error."),
) -> None:
    """Auxeira change-data pipeline: stdout carries JSON only, humans read stderr."""
    ctx.obj = CliContext(env=env, profile=profile, region=region, as_json=as_json, debug=debug)


# -- operations --------------------------------------------------------------------------
app.command("search", rich_help_panel=OPS)(search.search)
app.add_typer(counters.app, name="counters", rich_help_panel=OPS)
app.command("history", rich_help_panel=OPS)(history.history_command)
app.command("query", rich_help_panel=OPS)(query.query)
app.add_typer(lake.app, name="lake", rich_help_panel=OPS)
app.command("status", rich_help_panel=OPS)(status.status)
app.command("verify", rich_help_panel=OPS)(verify.verify)
app.add_typer(dlq.app, name="dlq", rich_help_panel=OPS)
app.command("replay", rich_help_panel=OPS)(replay.replay)
app.command("backfill", rich_help_panel=OPS)(backfill.backfill)
app.command("erase", rich_help_panel=OPS)(erase.erase_command)

# -- development -------------------------------------------------------------------------
app.add_typer(local.app, name="local", rich_help_panel=DEV)
app.command("demo", rich_help_panel=DEV)(demo.demo)
app.command("run", rich_help_panel=DEV)(run.run)
app.command("generate", rich_help_panel=DEV)(generate.generate)
app.add_typer(infra.app, name="infra", rich_help_panel=DEV)


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
