"""Writing a snapshot: every file into a hidden folder, then one rename makes it `out/<D>/`."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import polars as pl


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_frames(folder: Path, frames: dict[str, pl.DataFrame]) -> dict[str, dict]:
    """Write each frame by file name (.parquet or .csv); rows and sha256 of each."""
    written = {}
    for name, frame in frames.items():
        path = folder / name
        if name.endswith(".parquet"):
            frame.write_parquet(path, compression="zstd", statistics=True)
        else:
            frame.write_csv(path, datetime_format="%Y-%m-%dT%H:%M:%S%.f%:z")
        written[name] = {"rows": frame.height, "sha256": sha256_of(path)}
    return written


def publish_folder(out_root: Path, name: str, frames: dict[str, pl.DataFrame], manifest: dict) -> Path:
    """Write everything under out_root/.name.partial, then swap it in as out_root/name."""
    out_root.mkdir(parents=True, exist_ok=True)
    staging = out_root / f".{name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    manifest["outputs"] = write_frames(staging, frames)
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    final = out_root / name
    previous = out_root / f".{name}.previous"
    if previous.exists():
        shutil.rmtree(previous)
    if final.exists():
        final.rename(previous)
    staging.rename(final)
    if previous.exists():
        shutil.rmtree(previous)
    return final
