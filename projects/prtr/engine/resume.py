# Copyright (c) prtr authors. All rights reserved.
"""Which checkpoint ``tools/train.py --resume`` (no value) continues from.

mmengine's auto-resume trusts ``last_checkpoint``: if it names a file that
was removed or is incomplete (a run killed while saving, with mmengine's own
CheckpointHook), resuming fails although older checkpoints may be fine.
"""
import glob
import logging
import os.path as osp
from typing import List, Optional

from mmengine.logging import print_log

from prtr.checkpoint import error_line, load_lazily


def checkpoint_error(path: str) -> Optional[str]:
    """Why ``path`` cannot be resumed from, or None if it can.

    The file is unpickled with ``weights_only=True`` (the globals
    ``import prtr`` allows) and memory-mapped, so the tensors are not read.
    """
    if not osp.isfile(path):
        return 'no such file'
    try:
        ckpt = load_lazily(path)
    except Exception as e:  # any failure to load means "not resumable"
        return error_line(e)
    if not isinstance(ckpt, dict) or not {'state_dict', 'meta'} <= set(ckpt):
        return 'not an mmengine checkpoint (no state_dict/meta)'
    return None


def _candidates(directories: List[str]) -> List[str]:
    """Checkpoints in ``directories``, newest first; best checkpoints (no
    optimizer state) and temporary files are left out."""
    paths = set()
    for directory in directories:
        for path in glob.glob(osp.join(directory, '*.pth')):
            name = osp.basename(path)
            if not name.startswith(('best_', '.')):
                paths.add(osp.abspath(path))
    return sorted(paths, key=lambda p: (osp.getmtime(p), p), reverse=True)


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint to resume from in ``work_dir``.

    The one ``last_checkpoint`` names if it loads; otherwise, with a
    warning, the newest loadable checkpoint of the work directory (and of
    the directory ``last_checkpoint`` points to).

    Args:
        work_dir (str): The training's work directory.

    Returns:
        Optional[str]: The checkpoint path, or None if the directory holds
        neither ``last_checkpoint`` nor a checkpoint (training starts from
        scratch, as with mmengine).

    Raises:
        prtr.utils.UserInputError: There are checkpoints, none loads.
    """
    from prtr.utils import UserInputError
    save_file = osp.join(work_dir, 'last_checkpoint')
    last = None
    if osp.isfile(save_file):
        with open(save_file) as f:
            last = f.read().strip() or None
    directories = [work_dir] + ([osp.dirname(last)] if last else [])
    if last is not None:
        error = checkpoint_error(last)
        if error is None:
            return last
        print_log(
            f'{save_file} names {last}, which cannot be resumed from '
            f'({error}); looking for an older checkpoint',
            logger='current',
            level=logging.WARNING)
    candidates = _candidates(directories)
    if last is None and not candidates:
        return None
    if last is None:
        print_log(
            f'no {save_file}; looking for the newest checkpoint',
            logger='current',
            level=logging.WARNING)
    for path in candidates:
        error = checkpoint_error(path)
        if error is None:
            print_log(
                f'resuming from {path}',
                logger='current',
                level=logging.WARNING)
            return path
        print_log(
            f'skipping {path}: {error}',
            logger='current',
            level=logging.WARNING)
    raise UserInputError(
        f'--resume: no loadable checkpoint in {work_dir} (last_checkpoint: '
        f'{last or "missing"}; {len(candidates)} other checkpoint file(s), '
        'all corrupt)')
