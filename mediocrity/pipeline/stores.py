"""Zarr stores of every study: written atomically (a store either does not exist or is
complete), marked as this project's, and never replacing anything else.

On disk: Zarr format 2 with consolidated metadata (zarr-python 3 reads and writes it
without warnings; consolidated metadata is still an experimental extension of format 3),
so `xr.open_zarr(path)` opens every store directly.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import xarray as xr

from .._version import __version__

ZARR_FORMAT = 2


def _fsync_tree(root: Path) -> None:
    """Flush every file and directory under root to disk (so a rename that survives a
    node crash never points at unwritten data)."""
    for dirpath, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_stale_temps(final: Path) -> None:
    """Delete temporaries (.tmp-, .old-) of `final` left by dead writers on this host."""
    host = socket.gethostname()
    for tmp in [*final.parent.glob(f"{final.name}.tmp-*"),
                *final.parent.glob(f"{final.name}.old-*")]:
        owner = tmp.name[len(final.name) + 5:]
        owner_host, _, pid = owner.rpartition("-")
        if owner_host != host or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except PermissionError:  # alive, someone else's
            pass


STORE_MARK = ".mediocrity-store"  # a file in every store write_atomic writes


def is_project_store(path) -> bool:
    """True for a Zarr store written by this project (its mark file, or, for stores
    written before the mark existed, consolidated metadata with mediocrity_version)."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return False
    if (path / STORE_MARK).is_file():
        return True
    try:
        import json

        meta = json.loads((path / ".zmetadata").read_text(encoding="utf-8"))
        return "mediocrity_version" in meta["metadata"][".zattrs"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def check_replaceable(path) -> None:
    """ValueError unless path is absent, an empty directory or a store of this project:
    nothing else is ever replaced (a user's file or directory at --out stays intact)."""
    path = Path(path)
    if path.is_symlink():
        raise ValueError(f"output {str(path)!r} is a symbolic link: refusing to replace it "
                         "(allowed: a new path or a store written by mediocrity)")
    if not path.exists():
        return
    if path.is_dir() and (is_project_store(path) or not any(path.iterdir())):
        return
    kind = "directory" if path.is_dir() else "file"
    raise ValueError(f"output {str(path)!r} is an existing {kind} that is not a store of "
                     "mediocrity: refusing to replace it (allowed: a new path, an empty "
                     "directory or a store written by mediocrity)")


def write_atomic(ds: xr.Dataset, path, encoding: dict | None = None) -> None:
    """Write ds as a Zarr store at path such that path either does not exist or is
    complete: write to <path>.tmp-<host>-<pid> in the same directory, fsync, rename.
    Refuses (ValueError) to replace anything but an empty directory or a store of this
    project."""
    final = Path(path)
    check_replaceable(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(final)
    tmp = final.with_name(f"{final.name}.tmp-{socket.gethostname()}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    ds.to_zarr(tmp, mode="w", zarr_format=ZARR_FORMAT, consolidated=True, encoding=encoding)
    (tmp / STORE_MARK).write_text(f"written by mediocrity {__version__}\n", encoding="utf-8")
    _fsync_tree(tmp)
    if final.exists():  # an older result (or the empty directory Snakemake made)
        check_replaceable(final)  # (again: it may have changed while we computed)
        old = final.with_name(f"{final.name}.old-{socket.gethostname()}-{os.getpid()}")
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old)
    else:
        os.rename(tmp, final)


def open_store(path) -> xr.Dataset:
    """A store of this module, lazily (dask-backed)."""
    return xr.open_zarr(path)


# -- metadata --------------------------------------------------------------------------
