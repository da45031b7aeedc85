"""Objects under the lake root: a local directory here, ``s3://bucket/prefix`` on AWS.

Dead letters, failure records and the raw archive all write through :class:`ObjectStore`,
so each is one piece of code tested on both (moto for S3). Keys are ``/``-separated
paths relative to the root.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

__all__ = ["LocalObjects", "ObjectStore", "S3Objects", "object_store", "split_s3_uri"]


class ObjectStore(Protocol):
    """What the pipeline needs of a bucket or a directory."""

    root: str

    def put(self, key: str, body: bytes, content_type: str = "application/json") -> None: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> Iterator[str]: ...

    def delete(self, key: str) -> None: ...


class LocalObjects:
    """Objects as files under a directory; writes are atomic (write, then rename)."""

    def __init__(self, root: str | Path):
        self.root = str(root)
        self._base = Path(root)

    def put(self, key: str, body: bytes, content_type: str = "application/json") -> None:
        path = self._base / key
        path.parent.mkdir(parents=True, exist_ok=True)
        # A unique temporary name: two writers of one key never share a half-written file.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)

    def get(self, key: str) -> bytes:
        return (self._base / key).read_bytes()

    def exists(self, key: str) -> bool:
        return (self._base / key).is_file()

    def list(self, prefix: str) -> Iterator[str]:
        """Keys under ``prefix`` (a folder path), sorted; temporary files are never listed."""
        base = self._base / prefix
        if not base.exists():
            return
        for path in sorted(p for p in base.rglob("*") if p.is_file() and not p.name.startswith(".")):
            yield path.relative_to(self._base).as_posix()

    def delete(self, key: str) -> None:
        (self._base / key).unlink(missing_ok=True)


class S3Objects:
    """Objects in ``s3://bucket/prefix``."""

    def __init__(self, client: Any, bucket: str, prefix: str = ""):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.root = f"s3://{bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, body: bytes, content_type: str = "application/json") -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=body, ContentType=content_type)

    def get(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read())

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def list(self, prefix: str) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:]

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"{uri!r} names no bucket")
    return bucket, prefix


def object_store(lake_root: str, s3_client: Any = None) -> ObjectStore:
    """The store of a lake root: S3 for ``s3://`` roots (``s3_client`` built if not given), a directory otherwise."""
    if lake_root.startswith("s3://"):
        bucket, prefix = split_s3_uri(lake_root)
        if s3_client is None:
            import boto3

            from auxeira.runtime.clients import SDK_RETRIES

            s3_client = boto3.client("s3", config=SDK_RETRIES)
        return S3Objects(s3_client, bucket, prefix)
    return LocalObjects(lake_root)
