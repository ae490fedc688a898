"""A study's output folder: where each file lives, the checksums that guard every table, and the lock that
keeps one study per folder.

Every table a study writes (each shard, its adaptive outcome rows, the merged ``scores.parquet``,
``rates.csv``, ``adaptive.parquet`` and the adaptive CSVs) is written atomically with its SHA-256 beside it
(``NAME.sha256``). A shard that does not match its checksum is computed again; a merged table that does not
match is refused by ``python -m helpers.report`` (:func:`verify_checksum`) and merged again by a re-run of the
study. While a study runs it holds ``out_dir/.study.lock`` (:func:`study_lock`): a second run into the same
folder at the same time is refused with the running study's process, host and start time.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import Timeout

from helpers.runtime import file_lock, write_atomically
from helpers.scores import load_scores, save_scores
from helpers.study_setup import identity

LOCK = ".study.lock"  # held by the running study (flock); removed when it ends
LOCK_INFO = ".study.lock.json"  # who holds it: pid, host, start time, parameters


def shard_path(out_dir: str | Path, shard: int, n_shards: int) -> Path:
    """The file of a shard's rows.

    Returns:
        ``out_dir/shards/shard-XXXX-of-YYYY.parquet``."""
    return Path(out_dir) / "shards" / f"shard-{shard:04d}-of-{n_shards:04d}.parquet"


def outcome_path(path: Path) -> Path:
    """Where a shard's adaptive outcome rows are kept: beside it, ``shard-XXXX-of-YYYY.adaptive.parquet``."""
    return path.with_name(path.name.replace(".parquet", ".adaptive.parquet"))


def checksum_path(path: Path) -> Path:
    """Where a shard's SHA-256 is kept: beside it, ``NAME.parquet.sha256``."""
    return path.with_name(path.name + ".sha256")


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_shard(table: pd.DataFrame, path: Path, metadata: dict, outcomes: pd.DataFrame | None = None) -> None:
    """The adaptive outcome rows if any, then the shard, each followed by its checksum (all atomically): a
    shard without one counts as damaged.

    Args:
        table: the shard's rows of the score table.
        path: the shard's file (:func:`shard_path`).
        metadata: the run's metadata, saved in the shard's schema."""
    if outcomes is not None:
        write_checked(outcome_path(path), lambda tmp: outcomes.to_parquet(tmp, index=False), ".parquet")
    write_checked(path, lambda tmp: save_scores(table, tmp, metadata), ".parquet")


def _intact(path: Path) -> bool:
    """Whether a shard file exists and matches the checksum beside it; if not, say so and remove both,
    so that the shard is computed again."""
    if not path.is_file():
        return False
    record = checksum_path(path)
    if record.is_file() and record.read_text().strip() == sha256(path):
        return True
    why = "does not match its checksum" if record.is_file() else "has no checksum (its write was interrupted?)"
    warnings.warn(f"shard {path} {why}: computing it again", stacklevel=3)
    path.unlink()
    record.unlink(missing_ok=True)
    return False


def shard_intact(path: Path, adaptive: bool) -> bool:
    """:func:`_intact` for the shard and, in a study with adaptive sets, for its outcome rows; when either is
    not, both are removed, so that the shard is computed again.

    Args:
        adaptive: whether the study has adaptive sets (outcome rows beside each shard)."""
    if _intact(path) and (not adaptive or _intact(outcome_path(path))):
        return True
    for p in (path, outcome_path(path)):
        p.unlink(missing_ok=True)
        checksum_path(p).unlink(missing_ok=True)
    return False


STUDY_RECORD = "study.json"  # the parameters of the study a folder holds


def check_same_study(out_dir: Path, config: Mapping[str, Any]) -> None:
    """Refuse a folder that holds another study (its ``study.json``, or for a folder written before there was
    one, any shard's parameters); then record this study's parameters there.

    Raises:
        ValueError: the folder holds a study with other parameters, naming each that differs."""
    record = out_dir / STUDY_RECORD
    shards = sorted((out_dir / "shards").glob("shard-*-of-*[0-9].parquet"))
    if record.is_file():
        try:
            made_with, where = json.loads(record.read_text()), record
        except ValueError as exc:
            raise ValueError(f"{record} is not the study record helpers.study writes ({exc}): restore it, or "
                             "use another out_dir") from None
    elif shards:
        made_with, where = identity(load_scores(shards[0])[1].get("parameters") or {}), shards[0]
    else:
        made_with, where = None, None
    now = identity(config)
    if made_with is not None:
        pairs = {k: (made_with.get(k, "(absent)"), now.get(k, "(absent)")) for k in made_with.keys() | now.keys()}
        differ = {k: pair for k, pair in sorted(pairs.items()) if pair[0] != pair[1]}
        if differ:
            raise ValueError(f"{out_dir} holds another study ({where.name}): "
                             + "; ".join(f"{k} = {old!r} there, {new!r} now" for k, (old, new) in differ.items())
                             + ". A folder holds one study: use another out_dir, or delete that folder")
    write_atomically(record, lambda tmp: Path(tmp).write_text(json.dumps(now, indent=1, sort_keys=True) + "\n"))


def write_checked(path: Path, write: Callable[[str], object], suffix: str) -> Path:
    """Write ``path`` atomically (``write(tmp)``), then its SHA-256 beside it (``NAME.sha256``), atomically.
    A reader sees the old checksum with the new table only between the two renames: it then reports a
    mismatch, never reads a wrong table as right.

    Args:
        write: called with a temporary file's name; writes the whole table there.
        suffix: the temporary file's suffix (pandas and pyarrow choose the format by it).

    Returns:
        ``path``."""
    write_atomically(path, write, suffix=suffix)
    write_atomically(checksum_path(path), lambda tmp: Path(tmp).write_text(sha256(path) + "\n"))
    return path


def verify_checksum(path: Path) -> None:
    """Check a study's table against the SHA-256 beside it.

    Raises:
        OSError: naming the file, when it or its checksum is missing or they do not match."""
    record = checksum_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    if not record.is_file():
        raise OSError(f"{path} has no checksum ({record.name}): it was not written by helpers.study, or its write "
                      "was interrupted. Re-run the study into that folder to merge its shards again")
    if record.read_text().strip() != sha256(path):
        raise OSError(f"{path} does not match its checksum {record.name}: the file was changed or damaged after "
                      "the study wrote it. Re-run the study into that folder to merge its shards again")


def merged_intact(path: Path) -> bool:
    """Whether a merged table of an earlier run is intact; warns when one is there but damaged.

    Returns:
        True when it exists and matches its checksum (False when absent)."""
    if not path.exists():
        return False
    try:
        verify_checksum(path)
    except OSError as exc:
        warnings.warn(f"{exc}: merging it again from the shards", stacklevel=2)
        return False
    return True


def remove_other_splits(out_dir: Path, n_shards: int) -> int:
    """Remove the shard files (and their checksums and outcome rows) of another ``n_shards`` of the same study,
    so that the folder holds one split.

    Returns:
        how many shards were removed."""
    keep = f"-of-{n_shards:04d}."
    stale = [p for p in (out_dir / "shards").glob("shard-*-of-*.parquet*") if keep not in p.name]
    for p in stale:
        p.unlink(missing_ok=True)
    return len([p for p in stale if p.name.endswith(".parquet") and ".adaptive." not in p.name])


@contextmanager
def study_lock(out_dir: Path, config: Mapping[str, Any]) -> Iterator[None]:
    """Hold ``out_dir``'s study lock while the block runs: a second study run into the folder at the same time
    (another process, or another host on a shared file system with working ``flock``) is refused.

    Args:
        out_dir: the study's output folder (it exists).
        config: the study's configuration, recorded beside the lock for the error a second run gets.

    Yields:
        nothing; the lock and its record are removed on exit.

    Raises:
        RuntimeError: the folder is in use by a running study, naming the folder and that study."""
    info, held = out_dir / LOCK_INFO, False
    try:
        with file_lock(out_dir / LOCK, timeout=0):
            held = True
            try:
                record = {"pid": os.getpid(), "host": socket.gethostname(),
                          "started": time.strftime("%Y-%m-%d %H:%M:%S"), "parameters": identity(config)}
                write_atomically(info, lambda tmp: Path(tmp).write_text(json.dumps(record)))
                yield
            finally:
                info.unlink(missing_ok=True)
    except Timeout:
        if held:  # not ours: raised by the study itself
            raise
        raise RuntimeError(f"{out_dir} is in use by a running study ({_holder(info)}). A folder holds one study: "
                           "wait for that run to finish, or choose another out_dir (--out)") from None


def _holder(info: Path) -> str:
    """Who holds a study lock, from its record."""
    try:
        r = json.loads(info.read_text())
        p = r["parameters"]
        return (f"process {r['pid']} on {r['host']}, started {r['started']}: model {p.get('model')!r}, "
                f"{p.get('n_images')} images of {p.get('image_source')!r}, attacks {p.get('attacks')}")
    except (OSError, ValueError, KeyError, TypeError):
        return "its record is not readable yet"
