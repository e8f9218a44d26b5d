# Copyright (c) prtr authors. All rights reserved.
"""Checks of the checkpoints a tool is given, run before any work."""
import copy
import os.path as osp
import pickle
import zipfile
from typing import Any, Optional

import torch

from prtr.checkpoint import error_line, load_lazily
from prtr.utils import UserInputError


def check_checkpoint(path: Optional[str], what: str = 'checkpoint') -> None:
    """Fail early, naming the file, on a missing, corrupt, foreign or unsafe
    checkpoint (loaded as :func:`prtr.checkpoint.load_lazily` does)."""
    if not path or '://' in path:
        return
    if not osp.isfile(path):
        raise UserInputError(f'{what} not found: {path}')
    try:
        obj = load_lazily(path)
    except Exception as e:  # noqa: BLE001  (any failure: not loadable)
        unsafe = []
        if isinstance(e, pickle.UnpicklingError) and zipfile.is_zipfile(path):
            # the globals weights_only refused, as torch reads them
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        if unsafe:
            raise UserInputError(
                f'{what} {path} holds pickled objects that are not tensors '
                'or mmengine checkpoint types (unsafe globals: '
                f'{", ".join(sorted(unsafe))}); it was refused. Load it '
                'only if you trust its source: allow those types with '
                'torch.serialization.add_safe_globals([...]) or re-save '
                'the state dict alone') from None
        raise UserInputError(f'{what} {path} is not a PyTorch checkpoint or '
                             f'is corrupt ({error_line(e)})') from None
    if not isinstance(obj, dict):
        raise UserInputError(f'{what} {path} is not a PyTorch checkpoint (it '
                             f'holds a {type(obj).__name__}, not a dict)')


def _shapes_of_model(cfg: Any) -> dict:
    """``{name: shape}`` of the state dict of ``cfg.model``, built on the
    meta device (no memory, no initialisation)."""
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmpose'))
    # a copy: mmdet's DETRHead writes into its loss config
    with torch.device('meta'):
        model = MODELS.build(copy.deepcopy(cfg.model))
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check_checkpoint_fits(cfg: Any,
                          path: Optional[str],
                          config: str,
                          what: str = 'checkpoint',
                          strict: bool = True) -> None:
    """The checkpoint (already checked by :func:`check_checkpoint`) holds
    the tensors of the config's model with their shapes, so that testing,
    inference or resuming runs the trained weights; mmengine loads with
    ``strict=False`` and only warns. ``strict=False`` (``load_from`` for
    fine-tuning): fail only when none of the model's tensors fits."""
    if not path or '://' in path:
        return
    ckpt = load_lazily(path)
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict):
        raise UserInputError(f'{what} {path} holds no state dict')
    state = {
        str(k)[len('module.'):] if str(k).startswith('module.') else str(k):
        tuple(getattr(v, 'shape', ()))
        for k, v in state.items()
    }
    model = _shapes_of_model(cfg)
    missing = [k for k in model if k not in state]
    wrong = [k for k in model if k in state and state[k] != model[k]]
    if not (missing or wrong) or (not strict
                                  and len(missing) + len(wrong) < len(model)):
        return
    parts = []
    if wrong:
        k = wrong[0]
        parts.append(f'{len(wrong)} have other shapes (e.g. {k}: '
                     f'{list(state[k])} in the checkpoint, {list(model[k])} '
                     'in the model)')
    if missing:
        parts.append(f'{len(missing)} are missing (e.g. {missing[0]})')
    raise UserInputError(
        f'{what} {path} does not fit the model of {config}: of its '
        f'{len(model)} tensors, {" and ".join(parts)}; is it a checkpoint '
        'of another config?')
