# Copyright (c) prtr authors. All rights reserved.
"""Stop a step on non-finite inputs or losses before any state changes."""
from typing import Any, Dict, List, Optional, Sequence

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
    if isinstance(value, torch.Tensor):
        return value.is_floating_point() and not bool(
            torch.isfinite(value).all())
    if isinstance(value, np.ndarray):
        return value.dtype.kind == 'f' and not bool(np.isfinite(value).all())
    return False


def _first_bad(value: torch.Tensor) -> float:
    flat = value.detach().flatten()
    return float(flat[~torch.isfinite(flat)][0])


def _ranks_flagged(flag: torch.Tensor) -> List[int]:
    """The ranks whose ``flag`` (a bool scalar) is set; this process alone
    when not distributed. Every rank calls it at the same point, so that a
    failure on one rank stops all of them instead of leaving the others
    waiting in the next collective (DDP's gradient all-reduce,
    evaluation's result gathering)."""
    world_size = get_world_size()
    if world_size == 1:
        return [0] if bool(flag) else []
    flags = torch.zeros(world_size, device=flag.device)
    flags[get_rank()] = flag.float()
    all_reduce(flags)  # one collective, one host synchronisation
    return [rank for rank, f in enumerate(flags.tolist()) if f]


def _elsewhere(ranks: List[int], what: str) -> NonFiniteError:
    return NonFiniteError(
        f'{what} on rank {", ".join(map(str, ranks))} (its log names it); '
        f'rank {get_rank()} stopped with it')


def _image_paths(samples: Optional[Sequence]) -> List[str]:
    paths = []
    for sample in samples or []:
        meta = getattr(sample, 'metainfo', {}) or {}
        paths.append(str(meta.get('img_path', meta.get('img_id', '?'))))
    return paths


def find_non_finite(data_batch: Any) -> Optional[str]:
    """Where a batch (as the dataloader yields it) holds NaN or infinity:
    ``'input image PATH'`` or ``'FIELD of image PATH'``; None if nowhere."""
    if not isinstance(data_batch, dict):
        return None
    samples = data_batch.get('data_samples')
    paths = _image_paths(samples)
    inputs = data_batch.get('inputs')
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    if len(inputs) == 1 and isinstance(inputs[0], torch.Tensor) and \
            inputs[0].dim() == 4:  # a stacked batch
        inputs = list(inputs[0])
    for i, img in enumerate(inputs):
        if _non_finite(img):
            where = paths[i] if i < len(paths) else f'#{i} of the batch'
            return f'input image {where}'
    for i, sample in enumerate(samples or []):
        for field in ('gt_instances', 'gt_instance_labels', 'gt_fields'):
            data = getattr(sample, field, None)
            if data is None:
                continue
            for key, value in data.items():
                if _non_finite(value):
                    return f'{field}.{key} of image {paths[i]}'
    return None


@HOOKS.register_module()
class NonFiniteCheckHook(Hook):
    """Stop training (or testing) at the first non-finite input or loss.

    A NaN image or target otherwise flows through the network: BatchNorm's
    running statistics turn NaN in the forward pass, and the step fails
    later (e.g. in the Hungarian matching) with a message that names
    nothing, leaving a broken model. This hook raises
    :class:`NonFiniteError`, naming the image, before the model sees a
    non-finite batch; a non-finite loss is caught before ``backward``, and
    the model's buffers (BatchNorm statistics) are restored to their
    values before the step. Weights and optimizer state are untouched.
    In distributed runs the ranks agree first (one all-reduce of a flag per
    check), so a failure on one rank stops every rank rather than leaving
    the others waiting in DDP's gradient all-reduce.

    Args:
        check_loss (bool): Also check the losses of every training step.
            Defaults to True.
    """

    priority = 'VERY_HIGH'

    def __init__(self, check_loss: bool = True) -> None:
        self.check_loss = check_loss
        # the model's buffers during a step (empty between steps) and a
        # copy of them from before it
        self._buffers: List[torch.Tensor] = []
        self._saved: List[torch.Tensor] = []
        self._batch: Any = None
        self._where = ''

    @staticmethod
    def _model(runner) -> torch.nn.Module:
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        """Wrap the model's ``parse_losses`` with the loss check."""
        if not self.check_loss:
            return
        model = self._model(runner)
        parse_losses = model.parse_losses
        if getattr(parse_losses, '_nonfinite_checked', False):
            return

        def checked(losses: Dict[str, Any]):
            self.check_losses(losses, model)
            return parse_losses(losses)

        checked._nonfinite_checked = True
        model.parse_losses = checked

    def check_losses(self, losses: Dict[str, Any],
                     model: torch.nn.Module) -> None:
        """Raise on a non-finite loss (keys holding ``'loss'``, those
        ``parse_losses`` sums), after restoring the model's buffers.

        Raises:
            NonFiniteError: A loss is NaN or infinite.
        """
        named = [
            (name, v) for name, value in losses.items()
            if 'loss' in name  # logged only, as in parse_losses
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
        if get_rank() not in bad_ranks:
            raise _elsewhere(bad_ranks, f'non-finite loss {self._where}')
        # every term finite but their sum overflowed float32: name the sum
        name, bad = next(((n, v) for n, v in named if _non_finite(v)),
                         ('sum', sums))
        paths = _image_paths((self._batch or {}).get('data_samples'))
        raise NonFiniteError(
            f'non-finite loss {name} ({_first_bad(bad)}) {self._where} '
            f'(images: {", ".join(paths) or "?"}); the step was stopped '
            'before backward: weights, optimizer and BatchNorm statistics '
            'are those before it (lower the learning rate or check these '
            'images)')

    @staticmethod
    def _check_batch(data_batch: Any, when: str, agree: bool) -> None:
        where = find_non_finite(data_batch)
        # training: every rank runs the same iterations; validation and
        # test (DefaultSampler(round_up=False)) may not, so no collective
        bad_ranks = _ranks_flagged(torch.tensor(where is not None)) \
            if agree else []
        if bad_ranks and where is None:
            raise _elsewhere(bad_ranks, f'non-finite batch ({when})')
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
        """Check the batch."""
        self._check_batch(data_batch, f'validation batch {batch_idx + 1}',
                          False)

    def before_test_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Any = None) -> None:
        """Check the batch."""
        self._check_batch(data_batch, f'test batch {batch_idx + 1}', False)

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: Any = None,
                         outputs: Any = None) -> None:
        """Drop the batch; the step is over (the buffers' copy is kept as
        storage for the next step's)."""
        self._batch = None
        self._buffers = []
