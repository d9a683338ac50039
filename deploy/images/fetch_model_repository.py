"""Copy a Triton model repository from object storage into a local directory.

Runs as the init container of the Triton pod (and in the Triton image's
entrypoint), so a model version is an object-storage prefix: publishing a new
one and rolling the Deployment is the update, pointing back is the rollback.

Sources: ``s3://bucket/prefix/`` (boto3, credentials from the pod's IAM role)
or a local directory / ``file://`` path (tests, air-gapped sites). The copy is
checked before Triton sees it: every model directory needs a ``config.pbtxt``
and at least one numeric version directory, and ``--require MODEL`` names the
models that must be present. Standard library only, plus boto3 for ``s3://``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse


class RepositoryError(Exception):
    """The fetched repository is unusable; the message says what to fix."""


def _copy_local(source: Path, dest: Path) -> int:
    if not source.is_dir():
        raise RepositoryError(f"model repository source {source} is not a directory")
    count = 0
    for path in sorted(source.rglob("*")):
        if path.is_file():
            target = dest / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            count += 1
    return count


def _copy_s3(bucket: str, prefix: str, dest: Path) -> int:
    import boto3  # only the s3:// path needs it

    prefix = prefix.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    client = boto3.client("s3")
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.endswith("/"):
                continue
            target = dest / key[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, key, str(target))
            count += 1
    return count


def check_repository(root: Path, required: list[str]) -> list[str]:
    """Names of the models under ``root``; raises RepositoryError if one is malformed."""
    models = []
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if not (model_dir / "config.pbtxt").is_file():
            raise RepositoryError(f"model {model_dir.name!r} has no config.pbtxt")
        if not any(p.is_dir() and p.name.isdigit() for p in model_dir.iterdir()):
            raise RepositoryError(f"model {model_dir.name!r} has no numeric version directory")
        models.append(model_dir.name)
    missing = sorted(set(required) - set(models))
    if missing:
        raise RepositoryError(
            f"required model(s) {', '.join(missing)} not in the repository (found: "
            f"{', '.join(models) or 'none'}); publish them under the source prefix"
        )
    return models


def fetch(source: str, dest: Path, required: list[str]) -> list[str]:
    """Copy ``source`` into ``dest`` (replacing its content) and check it."""
    url = urlparse(source)
    dest.mkdir(parents=True, exist_ok=True)
    # Download beside the destination, check, then swap in: Triton never sees
    # a half-copied repository.
    with tempfile.TemporaryDirectory(dir=dest, prefix=".fetch-") as tmp:
        staging = Path(tmp)
        if url.scheme == "s3":
            count = _copy_s3(url.netloc, url.path, staging)
        elif url.scheme in ("", "file"):
            count = _copy_local(Path(url.path if url.scheme else source), staging)
        else:
            raise RepositoryError(
                f"unsupported model repository URI scheme {url.scheme!r}; use s3:// or a path"
            )
        if count == 0:
            raise RepositoryError(f"no files under {source}")
        models = check_repository(staging, required)
        for old in dest.iterdir():
            if old.name.startswith(".fetch-"):
                continue
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink()
        for entry in staging.iterdir():
            entry.rename(dest / entry.name)
    return models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", required=True, help="s3://bucket/prefix/ or a directory")
    parser.add_argument("--dest", required=True, type=Path, help="local model repository")
    parser.add_argument("--require", action="append", default=[], help="model that must be present")
    args = parser.parse_args(argv)
    try:
        models = fetch(args.source, args.dest, args.require)
    except RepositoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"model repository ready in {args.dest}: {', '.join(models)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
