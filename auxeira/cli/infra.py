"""``auxeira infra render | package``: the CloudFormation templates and the release artifacts.

Both are development-time tools over this checkout; the work is in
``infra.cloudformation.render`` and ``infra.package``.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from auxeira.cli.context import context_of
from auxeira.cli.output import OK, PROBLEM

__all__ = ["app"]

app = typer.Typer(
    help="Render the CloudFormation templates; package the Lambda and Glue artifacts.", no_args_is_help=True
)


@app.command()
def render(
    ctx: typer.Context,
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 if a committed template differs."),
) -> None:
    """Write infra/templates/*.yaml from the resource registry, the schemas and the lake catalog."""
    from infra.cloudformation.render import TEMPLATE_DIR, write
    from infra.cloudformation.render import check as drift_of

    out = context_of(ctx).out
    if check:
        drift = drift_of(TEMPLATE_DIR)
        out.emit(
            {"templates": str(TEMPLATE_DIR), "drift": [{"template": d.name, "state": d.state} for d in drift]},
            lambda c: c.print(
                "\n".join(f"[red]{d.state}[/]: {TEMPLATE_DIR / d.name}" for d in drift)
                + ("\nrun `auxeira infra render` and commit the result" if drift else "templates are up to date")
            ),
        )
        raise typer.Exit(PROBLEM if drift else OK)
    written = write(TEMPLATE_DIR)
    out.emit(
        {"templates": str(TEMPLATE_DIR), "written": written},
        lambda c: c.print(f"wrote {', '.join(written)}" if written else "templates already up to date"),
    )


@app.command()
def package(
    ctx: typer.Context,
    out_dir: str = typer.Option("build/release", "--out", help="Where the release is written."),
    cache: str = typer.Option("build/cache", "--cache", help="Installed Lambda dependencies, kept per lock."),
) -> None:
    """Build lambda.zip, glue-extra-py-files.zip and the Glue scripts, reproducibly, and print their sizes."""
    from infra.package.release import build_release, project_root

    release = build_release(project_root(), Path(out_dir), cache=Path(cache))
    summary = release.summary()
    context_of(ctx).out.emit(summary, lambda c: _print(c, summary))


def _print(console: Console, summary: dict[str, object]) -> None:
    for key in ("lambda", "glue_extra_py_files"):
        artifact = summary[key]
        assert isinstance(artifact, dict)
        console.print(
            f"{artifact['path']}: {artifact['zipped_bytes'] / 1e6:.1f} MB zipped, "
            f"{artifact['unzipped_bytes'] / 1e6:.1f} MB unzipped, {artifact['files']} files, sha256 {artifact['sha256'][:12]}"
        )
    console.print(f"glue scripts: {', '.join(summary['glue_scripts']) or 'none'}")  # type: ignore[arg-type]
    console.print(f"release prefix (ArtifactsPrefix): [bold]{summary['prefix']}[/]")
