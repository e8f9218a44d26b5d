# Copyright (c) prtr authors. All rights reserved.
"""A CheckpointHook that never loses the last complete checkpoint and makes
``--resume`` continue exactly where training stopped.

mmengine's ``CheckpointHook`` (0.10.7) removes the oldest kept checkpoint
*before* writing the new one, writes the new one in place (a kill leaves a
truncated file) and then rewrites ``last_checkpoint`` in place; with
``max_keep_ckpts=1`` an interrupted save leaves no checkpoint at all. It also
does not save the global random number generators, so a resumed run draws
other augmentations than an uninterrupted one. This hook keeps all of
mmengine's behaviour (intervals, ``max_keep_ckpts``, ``save_best``,
``published_keys``, ...) and changes only that.
"""
import copy
import os
import os.path as osp
import random
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional

import numpy as np
import torch
from mmengine.dist import get_world_size, is_main_process
from mmengine.fileio.backends import LocalBackend
from mmengine.hooks import CheckpointHook
from mmpose.registry import HOOKS

from ..atomic_io import atomic_write_text, commit_file, remove_path

TMP_MARK = '.tmp-'
PENDING_KEY = 'prtr_ckpt_pending_removal'


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


class _DeferredRemoval:
    """A file backend that records removals instead of doing them.

    mmengine's ``_save_best_checkpoint`` removes the previous best
    checkpoint before it writes the new one; with this wrapper in place of
    ``CheckpointHook.file_backend`` the removal happens after the new file
    is complete (see :meth:`AtomicCheckpointHook._save_best_checkpoint`).
    """

    def __init__(self, backend, removed: List[str]) -> None:
        self._backend = backend
        self._removed = removed

    def remove(self, path: str) -> None:
        self._removed.append(path)

    def rmtree(self, path: str) -> None:
        self._removed.append(path)

    def __getattr__(self, name: str):
        return getattr(self._backend, name)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with crash-safe saving and exact resume.

    What it adds to ``CheckpointHook``:

    * every checkpoint is written to a temporary file in its directory,
      flushed to disk (fsync) and renamed over its final name
      (``os.replace`` is atomic), so a checkpoint file is either complete
      or absent;
    * ``last_checkpoint`` is written the same way, and only after the
      checkpoint it names is complete;
    * checkpoints beyond ``max_keep_ckpts`` and the previous best
      checkpoint are removed only after the new one is complete; one whose
      removal was interrupted is removed when training resumes;
    * the global random generators (python, numpy, torch) are saved in the
      checkpoint (``rng_state``) and restored on resume, right before
      training continues; validation runs with the generators saved and
      restored around it, so whether (and how often) a run validates does
      not change its training randomness.

    Checkpoints on non-local storage (``backend_args``, ``file_client_args``)
    are saved as mmengine does; the random state is saved in every case.

    * persistent training dataloader workers are restarted at each epoch
      (as with ``persistent_workers=False``): their generators are seeded
      when they start (mmengine's ``worker_init_fn``), so workers kept
      alive across epochs would draw other augmentations after a resume
      than in an uninterrupted run.

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
        super().__init__(*args, **kwargs)
        self.save_rng_state = save_rng_state
        self.restart_workers = restart_workers
        self._resumed_rng: Optional[dict] = None
        self._resumed_iter: Optional[int] = None
        self._val_rng: Optional[dict] = None

    # --- crash-safe files -------------------------------------------------

    @property
    def _atomic(self) -> bool:
        backend = getattr(self.file_backend, '_backend', self.file_backend)
        return isinstance(backend, LocalBackend)

    def _write(self, runner, filename: str, **kwargs) -> None:
        """``runner.save_checkpoint`` into a temporary file, then rename.

        mmengine writes the file in place (``LocalBackend.put``), so the
        name must be a temporary one until the content is on disk.
        """
        tmp_name = f'.{filename}{TMP_MARK}{os.getpid()}'
        tmp_path = osp.join(self.out_dir, tmp_name)
        try:
            # the class's method: during _save_best_checkpoint the instance
            # attribute is this hook's wrapper
            type(runner).save_checkpoint(runner, self.out_dir, tmp_name,
                                         **kwargs)
            if is_main_process():
                commit_file(tmp_path, osp.join(self.out_dir, filename))
        finally:
            if osp.exists(tmp_path):
                os.remove(tmp_path)

    @contextmanager
    def _rollback_on_error(self, runner) -> Iterator[None]:
        """Undo the bookkeeping of a save that did not complete.

        mmengine records a checkpoint (``keep_ckpt_ids``, ``last_ckpt``,
        ``best_score``, ``best_ckpt``, in the hook and the message hub)
        before writing it; if the write fails, they would name a file that
        does not exist and the previous one would never be removed.
        """
        info = runner.message_hub.runtime_info
        saved_info = copy.deepcopy(info)
        saved = {
            k: copy.deepcopy(getattr(self, k))
            for k in ('keep_ckpt_ids', 'last_ckpt', 'best_ckpt_path',
                      'best_ckpt_path_dict') if hasattr(self, k)
        }
        try:
            yield
        except BaseException:
            info.clear()
            info.update(saved_info)
            for key, value in saved.items():
                setattr(self, key, value)
            raise

    def _save_checkpoint_with_step(self, runner, step: int,
                                   meta: dict) -> None:
        """Save ``filename_tmpl.format(step)``; the order differs from
        mmengine's: write, then ``last_checkpoint``, then remove."""
        if not self._atomic:
            return super()._save_checkpoint_with_step(runner, step, meta)
        with self._rollback_on_error(runner):
            dropped = None
            if self.max_keep_ckpts > 0 and not (
                    self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
                if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                    dropped = self.keep_ckpt_ids.popleft()
                self.keep_ckpt_ids.append(step)
                runner.message_hub.update_info('keep_ckpt_ids',
                                               list(self.keep_ckpt_ids))
            # saved in the new checkpoint: a resume after a kill between the
            # rename and the removal below finishes the removal
            runner.message_hub.update_info(
                PENDING_KEY, [] if dropped is None else [dropped])
            filename = self.filename_tmpl.format(step)
            self.last_ckpt = osp.join(self.out_dir, filename)
            runner.message_hub.update_info('last_ckpt', self.last_ckpt)
            self._write(
                runner,
                filename,
                file_client_args=self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
        if not is_main_process():
            return
        atomic_write_text(
            osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        if dropped is not None:
            path = osp.join(self.out_dir, self.filename_tmpl.format(dropped))
            if isinstance(self.file_backend, _DeferredRemoval):
                self.file_backend.remove(path)  # removed by the caller
            else:
                remove_path(path)

    def _save_best_checkpoint(self, runner, metrics: Dict[str, float]) -> None:
        """mmengine's best-checkpoint logic, with its file removals deferred
        until the new best checkpoint is complete and its writes atomic."""
        if not (self.save_best and self._atomic):
            return super()._save_best_checkpoint(runner, metrics)
        backend, removed = self.file_backend, []
        self.file_backend = _DeferredRemoval(backend, removed)

        def save(out_dir: str, filename: str, **kwargs) -> None:
            self._write(runner, filename, **kwargs)

        runner.save_checkpoint = save
        try:
            with self._rollback_on_error(runner):
                super()._save_best_checkpoint(runner, metrics)
        finally:
            del runner.save_checkpoint  # the class's method again
            self.file_backend = backend
        for path in removed:
            remove_path(path)

    def before_train(self, runner) -> None:
        """mmengine's set-up, then clean-up of what a kill left behind and
        the random state of the resumed checkpoint."""
        super().before_train(runner)
        if is_main_process() and self._atomic and osp.isdir(self.out_dir):
            for name in os.listdir(self.out_dir):
                if name.startswith('.') and TMP_MARK in name:
                    remove_path(osp.join(self.out_dir, name))
            keep = set(getattr(self, 'keep_ckpt_ids', ()))
            for step in runner.message_hub.get_info(PENDING_KEY) or []:
                if step not in keep:
                    remove_path(
                        osp.join(self.out_dir,
                                 self.filename_tmpl.format(step)))
        if self._resumed_rng is not None and runner.iter == self._resumed_iter:
            set_rng_state(self._resumed_rng)
            runner.logger.info('restored the random generators of the '
                               'resumed checkpoint')
        self._resumed_rng = None

    # --- random state -----------------------------------------------------

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Add ``rng_state`` (see :func:`get_rng_state`)."""
        if self.save_rng_state:
            checkpoint['rng_state'] = get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the checkpoint's random state for :meth:`before_train`.

        Not restored here: ``Runner.resume`` may re-seed after loading, and
        a checkpoint loaded with ``load_from`` (no resume) must not change
        the new run's randomness; :meth:`before_train` restores it only if
        training continues at the checkpoint's iteration.
        """
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
        self._resumed_iter = checkpoint.get('meta', {}).get('iter')

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
