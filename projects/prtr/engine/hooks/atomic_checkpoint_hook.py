# Copyright (c) prtr authors. All rights reserved.
"""A CheckpointHook that never loses the last complete checkpoint and makes
``--resume`` continue exactly where training stopped."""
import glob
import inspect
import os.path as osp
import random
from typing import List, Optional

import numpy as np
import torch
from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import CheckpointHook
from mmpose.registry import HOOKS

from .. import atomic_local_backend as backend

PENDING_KEY = 'prtr_pending_removal'


def get_rng_state() -> dict:
    """The state of python's, numpy's and torch's global generators."""
    state = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by :func:`get_rng_state`."""
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (all of its behaviour: intervals,
    ``max_keep_ckpts``, ``save_best``, ...) with crash-safe saving and exact
    resume. mmengine's removes the oldest kept checkpoint *before* writing
    the new one in place (with ``max_keep_ckpts=1`` a kill while saving
    leaves none) and does not save the random generators. This one:

    * writes local checkpoints through
      :class:`~prtr.engine.atomic_local_backend.AtomicLocalBackend` (the
      default ``backend_args``): a checkpoint is complete or absent, and
      old ones are removed after the new one is complete (removals a kill
      cut short are finished on resume);
    * saves python's, numpy's and torch's generators in the checkpoint
      (``rng_state``) and restores them on resume, right before training
      continues; validation runs between a save and a restore of them, so
      validating does not change the training's randomness;
    * restarts persistent training dataloader workers at each epoch: they
      are seeded when they start (mmengine's ``worker_init_fn``), so
      workers kept alive would draw other augmentations after a resume.

    Args:
        save_rng_state (bool): Save and restore the random generators.
            Defaults to True.
        restart_workers (bool): Restart persistent training dataloader
            workers at each epoch. Defaults to True.
        **kwargs: ``CheckpointHook``'s arguments.
    """

    def __init__(self,
                 *args,
                 save_rng_state: bool = True,
                 restart_workers: bool = True,
                 **kwargs) -> None:
        local = '://' not in str(kwargs.get('out_dir'))
        if local and not (kwargs.get('backend_args')
                          or kwargs.get('file_client_args')):
            kwargs['backend_args'] = dict(backend='atomic_local')
        super().__init__(*args, **kwargs)
        # CheckpointHook passes other keys to Runner.save_checkpoint, which
        # would reject them only at the first save
        from mmengine.runner import Runner
        unknown = set(self.args) - set(
            inspect.signature(Runner.save_checkpoint).parameters)
        if unknown:
            raise TypeError(f'{type(self).__name__} takes no argument(s) '
                            f'{", ".join(sorted(unknown))}')
        self.save_rng_state = save_rng_state
        self.restart_workers = restart_workers
        self._resumed_rng: Optional[dict] = None
        self._resumed_iter: Optional[int] = None
        self._val_rng: Optional[dict] = None
        self._unfinished: List[str] = []

    def before_train(self, runner) -> None:
        """mmengine's set-up, then the removals a kill cut short and the
        random state of the resumed checkpoint."""
        super().before_train(runner)
        kept = [runner.message_hub.get_info('last_ckpt')]
        kept += [runner.message_hub.get_info('best_ckpt')] + [
            osp.join(self.out_dir, self.filename_tmpl.format(step))
            for step in getattr(self, 'keep_ckpt_ids', ())
        ]
        resumed = runner.iter == self._resumed_iter  # not a fine-tuning
        # and the temporary files of saves that a SIGKILL cut short
        paths = glob.glob(osp.join(self.out_dir, '.*.tmp-*'))
        paths += [
            osp.join(self.out_dir, p) for p in self._unfinished * resumed
        ]
        removed = {osp.abspath(p) for p in paths}
        for path in removed - {osp.abspath(p) for p in kept if p}:
            if is_main_process():
                backend.remove_now(path)
        self._unfinished = []
        if self._resumed_rng is not None and resumed:
            set_rng_state(self._resumed_rng)
            runner.logger.info('restored the random generators of the '
                               'resumed checkpoint')
        self._resumed_rng = None

    def _save_checkpoint_with_step(self, runner, step: int,
                                   meta: dict) -> None:
        """mmengine's save, then the removal it asked for."""
        super()._save_checkpoint_with_step(runner, step, meta)
        self._finish_removals()

    def _save_best_checkpoint(self, runner, metrics: dict) -> None:
        """mmengine's save, then the removal it asked for."""
        super()._save_best_checkpoint(runner, metrics)
        self._finish_removals()

    def _finish_removals(self) -> None:
        if is_main_process() and self.out_dir:
            written = [self.last_ckpt, getattr(self, 'best_ckpt_path', None)]
            written += list(getattr(self, 'best_ckpt_path_dict', {}).values())
            backend.finish_removals(self.out_dir, written)

    # --- random state -----------------------------------------------------

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add ``rng_state`` (see :func:`get_rng_state`) and the removals
        waiting for this checkpoint to be complete."""
        out_dir = self.out_dir or runner.work_dir
        checkpoint[PENDING_KEY] = [
            osp.relpath(p, out_dir) for p in backend.pending_in(out_dir)
        ]
        if self.save_rng_state:
            checkpoint['rng_state'] = get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the checkpoint's random state and removals for
        :meth:`before_train`, which restores and finishes them only if
        training continues at its iteration: ``Runner.resume`` may re-seed
        after loading, and a fine-tuning (``load_from``) keeps its own."""
        self._unfinished = checkpoint.get(PENDING_KEY, [])
        self._resumed_iter = checkpoint.get('meta', {}).get('iter')
        state = checkpoint.get('rng_state')
        if not self.save_rng_state or state is None:
            return
        if get_world_size() > 1:
            # one process's generators are saved; restoring them on every
            # rank would make the ranks draw the same augmentations
            runner.logger.warning('distributed resume: the random '
                                  'generators are not restored')
            return
        self._resumed_rng = state

    def before_train_epoch(self, runner) -> None:
        """Stop the persistent workers of the previous epoch, if any: the
        next epoch starts (and seeds) new ones."""
        loader = runner.train_loop.dataloader
        iterator = getattr(loader, '_iterator', None)
        if (self.restart_workers and iterator is not None
                and getattr(loader, 'persistent_workers', False)):
            # torch keeps persistent workers in DataLoader._iterator; with
            # None there, iter(loader) builds a new multi-process iterator
            iterator._shutdown_workers()
            loader._iterator = None

    def before_val(self, runner) -> None:
        """Save the generators: validation must not consume them."""
        if self.save_rng_state:
            self._val_rng = get_rng_state()

    def after_val(self, runner) -> None:
        """Restore the generators saved by :meth:`before_val`."""
        if self._val_rng is not None:
            set_rng_state(self._val_rng)
            self._val_rng = None
