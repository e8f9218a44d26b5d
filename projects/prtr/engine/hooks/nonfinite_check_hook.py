# Copyright (c) prtr authors. All rights reserved.
"""Stop a step on non-finite inputs or losses before any state changes."""
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from mmengine.dist import all_reduce, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from prtr.utils.errors import UserInputError


class NonFiniteError(UserInputError):
    """A batch's images, targets or losses hold NaN or infinity."""


def _non_finite(value: Any) -> bool:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return not bool(torch.isfinite(value).all())
    if isinstance(value, np.ndarray) and value.dtype.kind == 'f':
        return not bool(np.isfinite(value).all())
    return False


def _ranks_flagged(flag: torch.Tensor) -> List[int]:
    """The ranks whose ``flag`` (a bool scalar) is set. Every rank calls it
    at the same point (one all-reduce), so that a failure on one rank stops
    all of them instead of leaving the others waiting in the next
    collective."""
    if get_world_size() == 1:
        return [0] if bool(flag) else []
    flags = torch.zeros(get_world_size(), device=flag.device)
    flags[get_rank()] = flag.float()
    all_reduce(flags)  # one collective, one host synchronisation
    return [rank for rank, f in enumerate(flags.tolist()) if f]


def _stop_with(ranks: List[int], what: str) -> None:
    """Raise on a rank that is not at fault, naming the one that is."""
    if ranks and get_rank() not in ranks:
        raise NonFiniteError(
            f'{what} on rank {", ".join(map(str, ranks))} (its log names '
            f'it); rank {get_rank()} stopped with it')


def _image_paths(data_batch: Any) -> List[str]:
    batch = data_batch if isinstance(data_batch, dict) else {}
    metas = [
        getattr(s, 'metainfo', {}) for s in batch.get('data_samples') or []
    ]
    return [str(m.get('img_path', m.get('img_id', '?'))) for m in metas]


def find_non_finite(data_batch: Any) -> Optional[str]:
    """Where a batch (as the dataloader yields it) holds NaN or infinity:
    ``'input image PATH'`` or ``'FIELD of image PATH'``; None if nowhere."""
    if not isinstance(data_batch, dict):
        return None
    paths = _image_paths(data_batch)
    inputs = data_batch.get('inputs')
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    if len(inputs) == 1 and getattr(inputs[0], 'ndim', 0) == 4:
        inputs = list(inputs[0])  # a stacked batch
    for i, img in enumerate(inputs):
        if _non_finite(img):
            return 'input image ' + (
                paths[i] if i < len(paths) else f'#{i} of the batch')
    for path, sample in zip(paths, data_batch.get('data_samples') or []):
        for field in ('gt_instances', 'gt_instance_labels', 'gt_fields'):
            for key, value in getattr(sample, field, {}).items():
                if _non_finite(value):
                    return f'{field}.{key} of image {path}'
    return None


@HOOKS.register_module()
class NonFiniteCheckHook(Hook):
    """Stop training (or testing) at the first non-finite input or loss,
    before BatchNorm's statistics or the weights turn NaN (the step would
    fail later, e.g. in the Hungarian matching, naming nothing): a batch is
    checked before the model sees it (the error names the image), a loss
    before ``backward`` (the buffers of before the step are restored). The
    ranks of a distributed run agree first (one all-reduce per check), so a
    failure on one stops all.

    Args:
        check_loss (bool): Also check the losses of every training step.
            Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, check_loss: bool = True) -> None:
        self.check_loss = check_loss
        # the model's buffers during a step (empty between steps), a copy
        # of them from before it, the batch and where training is
        self._buffers: List[torch.Tensor] = []
        self._saved: List[torch.Tensor] = []
        self._batch: Any = None
        self._where = ''

    @staticmethod
    def _model(runner) -> torch.nn.Module:
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        """Check the losses where the model sums them (``parse_losses``)."""
        model = self._model(runner)
        parse_losses = model.parse_losses
        if not self.check_loss or hasattr(parse_losses, '_checked'):
            return

        def checked(losses: Dict[str, Any]):
            self.check_losses(losses, model)
            return parse_losses(losses)

        checked._checked = True
        model.parse_losses = checked

    def check_losses(self, losses: Dict[str, Any],
                     model: torch.nn.Module) -> None:
        """Raise on a non-finite loss (the terms ``parse_losses`` sums),
        after restoring the model's buffers."""
        named = [
            (name, v) for name, value in losses.items() if 'loss' in name
            for v in (value if isinstance(value, (list, tuple)) else [value])
            if isinstance(v, torch.Tensor)
        ]
        if not named:
            return
        # one host synchronisation for all the terms (and all ranks)
        sums = torch.stack([v.detach().float().sum() for _, v in named])
        bad_ranks = _ranks_flagged(~torch.isfinite(sums).all())
        if not bad_ranks:
            return
        if self._buffers:  # a step of this hook's runner is under way
            with torch.no_grad():
                torch._foreach_copy_(self._buffers, self._saved)
        _stop_with(bad_ranks, f'non-finite loss {self._where}')
        # every term finite but their sum overflowed: name the sum
        name, bad = next(((n, v) for n, v in named if _non_finite(v)),
                         ('sum', sums))
        bad = bad.detach().flatten()
        images = ', '.join(_image_paths(self._batch)) or '?'
        raise NonFiniteError(
            f'non-finite loss {name} ({float(bad[~torch.isfinite(bad)][0])}) '
            f'{self._where} (images: {images}); stopped before backward, '
            'weights, optimizer and BatchNorm statistics are those before '
            'the step (lower the learning rate or check these images)')

    @staticmethod
    def _check_batch(data_batch: Any, when: str, agree: bool) -> None:
        where = find_non_finite(data_batch)
        # training: every rank runs the same iterations; validation and
        # test (DefaultSampler(round_up=False)) may not, so no collective
        if agree:
            _stop_with(
                _ranks_flagged(torch.tensor(where is not None)),
                f'non-finite batch ({when})')
        if where is not None:
            raise NonFiniteError(
                f'{where} holds NaN or infinite values ({when}); the step '
                'was stopped before the model saw it')

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Any = None) -> None:
        """Check the batch; keep the buffers for a loss failure."""
        self._where = (f'at epoch {runner.epoch + 1} iteration '
                       f'{runner.iter + 1}')
        self._check_batch(data_batch, f'training, {self._where}', True)
        self._batch = data_batch
        if self.check_loss:
            # one multi-tensor copy per step, into storage kept across steps
            buffers = [b.detach() for b in self._model(runner).buffers()]
            layout = [(b.shape, b.dtype, b.device) for b in buffers]
            with torch.no_grad():
                if layout == [(b.shape, b.dtype, b.device)
                              for b in self._saved]:
                    torch._foreach_copy_(self._saved, buffers)
                else:
                    self._saved = [b.clone() for b in buffers]
            self._buffers = buffers

    def before_val_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Any = None) -> None:
        self._check_batch(data_batch, f'validation batch {batch_idx + 1}',
                          False)

    def before_test_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Any = None) -> None:
        self._check_batch(data_batch, f'test batch {batch_idx + 1}', False)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Any = None,
                         outputs: Any = None) -> None:
        """The step is over (the buffers' copy stays as storage)."""
        self._batch = None
        self._buffers = []
