# Copyright (c) prtr authors. All rights reserved.
"""Crash-safe file writes: a file is either complete or absent.

The data goes to a temporary file in the target's directory (a rename is
atomic only within one file system), is flushed to disk with ``fsync``, and
``os.replace`` puts it in place; the directory is synced so the rename itself
survives a power loss. Neither mmengine nor the standard library offers this.
"""
import os
import os.path as osp
import shutil


def fsync_path(path: str) -> None:
    """``fsync`` a file or a directory (best effort for directories)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # directories cannot be opened on some systems
        if osp.isdir(path):
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not osp.isdir(path):
            raise
    finally:
        os.close(fd)


def commit_file(tmp_path: str, path: str) -> None:
    """Make the complete file ``tmp_path`` appear as ``path`` atomically.

    Args:
        tmp_path (str): A written file in the directory of ``path``.
        path (str): The final name; an existing file is replaced.
    """
    fsync_path(tmp_path)
    os.replace(tmp_path, path)
    fsync_path(osp.dirname(osp.abspath(path)))


def atomic_write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new
    content, never a partial one."""
    # a fixed temporary name (not tempfile's): the file gets the mode of
    # a plainly written one (umask), not 0600
    tmp_path = osp.join(
        osp.dirname(osp.abspath(path)),
        f'.{osp.basename(path)}.tmp-{os.getpid()}')
    try:
        with open(tmp_path, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        commit_file(tmp_path, path)
    finally:
        if osp.exists(tmp_path):
            os.remove(tmp_path)


def remove_path(path: str) -> None:
    """Remove a file or a directory (deepspeed checkpoints) if it exists."""
    if osp.isdir(path):
        shutil.rmtree(path)
    elif osp.lexists(path):
        os.remove(path)
