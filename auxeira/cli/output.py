"""Where the command line writes: JSON to stdout, everything for humans to stderr.

stdout carries only machine-readable output (one JSON document with ``--json``, and
the demo's and generator's closing JSON line), so ``auxeira --json status | jq`` always
parses. Tables, progress bars and error messages go to stderr.

Exit codes, for every command:

====  ======================================================================
0     done; nothing wrong found
1     the command ran and found a problem: drift, mismatches, a failed write,
      nothing found for the key asked about
2     the user's mistake: a bad option or argument, invalid settings, a local
      stack that is not running, a busy port
3     a service did not answer or refused us (AWS, the local stack, Redis,
      OpenSearch): try again, or check credentials and network
130   interrupted (Ctrl-C)
====  ======================================================================
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import orjson
from rich.console import Console

__all__ = ["INTERRUPTED", "OK", "PROBLEM", "UNAVAILABLE", "USAGE", "Output"]

OK, PROBLEM, USAGE, UNAVAILABLE, INTERRUPTED = 0, 1, 2, 3, 130


class Output:
    """The two streams of one command run."""

    def __init__(self, as_json: bool = False, console: Console | None = None):
        self.as_json = as_json
        self.console = console or Console(stderr=True, highlight=False)

    def emit(self, data: Any, human: Callable[[Console], None] | None = None) -> None:
        """The command's result: JSON on stdout with ``--json``, else ``human`` on stderr."""
        if self.as_json or human is None:
            self.json_line(data)
        else:
            human(self.console)

    def json_line(self, data: Any) -> None:
        """One JSON document on stdout, whatever ``--json`` says (closing summary lines)."""
        sys.stdout.write(orjson.dumps(data, default=_plain).decode() + "\n")
        sys.stdout.flush()

    def say(self, text: str) -> None:
        """A line for humans (stderr)."""
        self.console.print(text)

    def error(self, text: str) -> None:
        self.console.print(f"[red]error:[/] {text}", markup=True, highlight=False, soft_wrap=True)


def _plain(value: Any) -> Any:
    from datetime import date, datetime
    from decimal import Decimal

    if isinstance(value, Decimal):
        # Exact digits as a JSON number (orjson.Fragment is written as it is).
        return orjson.Fragment(format(value, "f") if value == value.to_integral_value() else str(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "value") and isinstance(value.value, str):  # enums
        return value.value
    raise TypeError(f"cannot encode {type(value).__name__}")
