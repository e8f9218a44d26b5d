# Copyright (c) prtr authors. All rights reserved.
"""mmengine's local file backend with crash-safe writes, registered as
``backend_args=dict(backend='atomic_local')`` (mmengine has none; its
backend registry is the extension point for one).

``LocalBackend.put`` writes in place, and ``CheckpointHook`` removes the
oldest kept (or the previous best) checkpoint *before* writing the new one.
Here ``put`` writes a temporary file, fsyncs it and renames it over the
target, and ``remove`` waits for :func:`finish_removals`, which
``AtomicCheckpointHook`` calls once the new checkpoint is complete.
"""
import os
import os.path as osp
import shutil
from typing import Iterable, List, Union

from mmengine.fileio import LocalBackend, register_backend

# removals waiting (global: each hook and save builds its own backend)
PENDING: List[str] = []


def _fsync(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # a folder that cannot be opened or synced (Windows)
        if not osp.isdir(path):
            raise


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """A file written by :meth:`put` is complete or absent; :meth:`remove`
    waits for :func:`finish_removals`."""

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        path = osp.abspath(filepath)
        folder = osp.dirname(path)
        tmp = osp.join(folder, f'.{osp.basename(path)}.tmp-{os.getpid()}')
        try:
            super().put(obj, tmp)
            _fsync(tmp)
            os.replace(tmp, path)
            _fsync(folder)  # the rename itself survives a power loss
        finally:
            if osp.exists(tmp):
                os.remove(tmp)

    def remove(self, filepath: Union[str, os.PathLike]) -> None:
        PENDING.append(osp.abspath(filepath))

    rmtree = remove  # checkpoints of deepspeed are folders


def pending_in(folder: str) -> List[str]:
    """The waiting removals of files under ``folder``."""
    folder = osp.join(osp.abspath(folder), '')
    return [path for path in PENDING if path.startswith(folder)]


def finish_removals(folder: str, keep: Iterable[str] = ()) -> None:
    """Remove the files under ``folder`` whose removal was requested, but
    those in ``keep`` (written again since)."""
    keep = {osp.abspath(p) for p in keep if p}
    for path in pending_in(folder):
        PENDING.remove(path)
        if path not in keep:
            remove_now(path)


def remove_now(path: str) -> None:
    """Remove a file or a folder if it exists."""
    if osp.isdir(path):
        shutil.rmtree(path)
    elif osp.lexists(path):
        os.remove(path)
