"""Reproducible zip files: the same files give the same bytes, on any machine, at any time.

Entries are sorted by name, stamped 1980-01-01 00:00 (the zip format's epoch), marked as
made on Unix with mode 0644 (0755 where the source is executable), and deflated at one
fixed level; no directory entries, no extra fields. Two builds of one release are then
byte-identical, so a release's hash names it and an unchanged release is not uploaded
or deployed again.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Artifact", "write_zip"]

_EPOCH = (1980, 1, 1, 0, 0, 0)
_LEVEL = 9
_UNIX = 3


@dataclass(frozen=True)
class Artifact:
    """A written zip: where, its hash, and its size zipped and unzipped (what Lambda's 250 MB limit counts)."""

    path: Path
    sha256: str
    zipped_bytes: int
    unzipped_bytes: int
    files: int

    def summary(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "zipped_bytes": self.zipped_bytes,
            "unzipped_bytes": self.unzipped_bytes,
            "files": self.files,
        }


def write_zip(entries: Iterable[tuple[str, Path]], out: Path) -> Artifact:
    """Write ``(name in the zip, source file)`` pairs to ``out``; a name given twice is an error."""
    by_name: dict[str, Path] = {}
    for name, source in entries:
        if name in by_name:
            raise ValueError(f"{name} would be in {out.name} twice ({by_name[name]} and {source})")
        by_name[name] = source
    out.parent.mkdir(parents=True, exist_ok=True)
    unzipped = 0
    tmp = out.with_name(f".{out.name}.tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for name in sorted(by_name):
            source = by_name[name]
            data = source.read_bytes()
            unzipped += len(data)
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.create_system = _UNIX
            executable = os.stat(source).st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=_LEVEL)
    os.replace(tmp, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    return Artifact(out, digest, out.stat().st_size, unzipped, len(by_name))
