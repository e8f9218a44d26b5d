# Copyright (c) prtr authors. All rights reserved.
"""Which checkpoint ``tools/train.py --resume`` (no value) continues from:
mmengine's auto-resume trusts ``last_checkpoint``, which may name a file
that was removed or is incomplete while older checkpoints are fine."""
import glob
import logging
import os.path as osp
from functools import partial
from typing import Optional

from mmengine.logging import print_log
from mmengine.runner import find_latest_checkpoint

from prtr.checkpoint import error_line, load_lazily
from prtr.utils import UserInputError


def checkpoint_error(path: str) -> Optional[str]:
    """Why ``path`` cannot be resumed from, or None if it can (unpickled
    with ``weights_only=True`` and memory-mapped: tensors are not read)."""
    if not osp.isfile(path):
        return 'no such file'
    try:
        ckpt = load_lazily(path)
    except Exception as e:  # any failure to load means "not resumable"
        return error_line(e)
    if not isinstance(ckpt, dict) or not {'state_dict', 'meta'} <= set(ckpt):
        return 'not an mmengine checkpoint (no state_dict/meta)'
    return None


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint named by ``last_checkpoint`` (mmengine's
    ``find_latest_checkpoint``) if it loads; else, with a warning, the
    newest loadable checkpoint of ``work_dir`` and of the folder
    ``last_checkpoint`` points to (best checkpoints, which hold no
    optimizer state, left out); None if there is no checkpoint at all.

    Raises:
        UserInputError: There are checkpoints, none loads.
    """
    last = find_latest_checkpoint(work_dir) or None
    if last is not None and checkpoint_error(last) is None:
        return last
    folders = {work_dir} | ({osp.dirname(last)} if last else set())
    paths = {
        osp.abspath(p)
        for folder in folders
        for p in glob.glob(osp.join(folder, '*.pth'))
        if not osp.basename(p).startswith('best_')
    }
    candidates = sorted(
        paths, key=lambda p: (osp.getmtime(p), p), reverse=True)
    if last is None and not candidates:
        return None
    why = f'{last} cannot be resumed from ({checkpoint_error(last)})' \
        if last else 'no last_checkpoint'
    warn = partial(print_log, logger='current', level=logging.WARNING)
    warn(f'{work_dir}: {why}; looking for the newest loadable checkpoint')
    for path in candidates:
        error = checkpoint_error(path)
        warn(f'skipping {path}: {error}' if error else f'resuming from {path}')
        if error is None:
            return path
    raise UserInputError(
        f'--resume: no loadable checkpoint in {work_dir} (last_checkpoint: '
        f'{last or "missing"}; {len(candidates)} other checkpoint file(s), '
        'all corrupt)')
