# Copyright (c) prtr authors. All rights reserved.
"""Safe loading of mmengine checkpoints with ``weights_only=True``.

torch >= 2.6 unpickles checkpoints with ``weights_only=True`` by default, and
mmengine 0.10.7 calls ``torch.load`` without saying otherwise. Its
checkpoints hold, besides tensors, numpy arrays and scalars (dataset meta,
message-hub history) and mmengine's ``HistoryBuffer``, whose pickled state
refers to its statistics methods as ``getattr(HistoryBuffer, 'mean')``.
We allow exactly those, instead of switching ``weights_only`` off (which
would let any pickle run code): ``builtins.getattr`` resolves to a version
that only fetches HistoryBuffer's statistics methods, and a checkpoint with
any other pickled global is still refused by torch.
"""
import pickle
import zipfile
from typing import Any, List

import numpy as np
import torch
from mmengine.logging import HistoryBuffer


def _history_buffer_getattr(obj, name: str):
    """``getattr`` as mmengine checkpoints use it, and nothing more."""
    # the built-in statistics (registered lazily) and any custom ones
    methods = {'min', 'max', 'current', 'mean'}
    methods.update(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in methods:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}): only '
        'HistoryBuffer statistics methods are allowed')


def mmengine_checkpoint_globals() -> List[object]:
    """The non-tensor types that mmengine/mmpose checkpoints contain."""
    try:  # numpy >= 1.25 keeps these in numpy.core, numpy 2 in numpy._core
        from numpy.core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover
        from numpy._core.multiarray import _reconstruct, scalar
    dtype_classes = [
        type(np.dtype(t))
        for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                  np.uint16, np.uint32, np.uint64, np.float16, np.float32,
                  np.float64, np.str_, np.object_)
    ]
    return [
        _reconstruct, scalar, np.ndarray, np.dtype, HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr')
    ] + dtype_classes


def allow_mmengine_checkpoints() -> None:
    """Register :func:`mmengine_checkpoint_globals` as torch safe globals."""
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(mmengine_checkpoint_globals())


def load_lazily(path: str) -> Any:
    """``torch.load`` as the tools probe a checkpoint: ``weights_only``
    (with the globals :func:`allow_mmengine_checkpoints` allows), on the
    CPU, memory-mapped when it is a zip checkpoint so that its tensors are
    not read."""
    return torch.load(
        path,
        map_location='cpu',
        weights_only=True,
        mmap=zipfile.is_zipfile(path))


def error_line(e: Exception) -> str:
    """``'Type: first line of the message'`` of a loading failure."""
    lines = str(e).strip().splitlines()
    return f'{type(e).__name__}: {lines[0] if lines else ""}'.strip()
