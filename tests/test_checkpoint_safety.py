"""Issue 10: no checkpoint is ever lost (``AtomicCheckpointHook``,
``tools/train.py --resume`` fallback), resume is exact. As a script
(``python tests/test_checkpoint_safety.py``): the kill figures of
docs/benchmarks.md, mmengine's hook and ours."""
import glob
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _cli import run  # noqa: E402
from conftest import PYTHON, ROOT, TINY_CONFIG  # noqa: E402

SMALL = [
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'train_dataloader.batch_size=8', 'randomness.seed=0',
    'randomness.deterministic=True', 'default_hooks.logger.interval=1'
]
# a checkpoint after every iteration, only the newest one kept
EVERY_ITER = SMALL + [
    'train_dataloader.dataset.indices=32', 'train_cfg.max_epochs=40',
    'default_hooks.checkpoint.by_epoch=False',
    'default_hooks.checkpoint.interval=1',
    'default_hooks.checkpoint.max_keep_ckpts=1'
]


# --- (a) the hook in-process, with a toy model -------------------------------
def _toy_runner(work_dir: str, hook: str, epochs=1, resume=False, **hook_args):
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Toy(BaseModel):

        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 1)

        def forward(self, x, mode='loss'):
            return dict(loss=self.fc(torch.stack(x)).pow(2).mean())

    return Runner(
        model=Toy(),
        work_dir=work_dir,
        train_dataloader=dict(
            dataset=[dict(x=torch.randn(2)) for _ in range(4)],
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='pseudo_collate'),
            batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=epochs),
        resume=resume,
        default_hooks=dict(
            logger=None,
            checkpoint=dict(
                dict(type=hook, interval=1, max_keep_ckpts=1), **hook_args)),
        randomness=dict(seed=0),
        # a message hub of its own (runners of one second share theirs)
        experiment_name=f'toy_{time.time_ns()}',
        default_scope='mmpose')


def _checkpoint_hook(runner):
    from mmengine.hooks import CheckpointHook
    return next(h for h in runner.hooks if isinstance(h, CheckpointHook))


def _put_half_then_interrupt(self, obj, filepath):
    """``LocalBackend.put`` killed half-way through the file."""
    with open(filepath, 'wb') as f:
        f.write(obj[:len(obj) // 2])
    raise KeyboardInterrupt


@pytest.mark.parametrize('hook', ['AtomicCheckpointHook', 'CheckpointHook'])
def test_interrupted_save_keeps_previous_checkpoint(tmp_path, monkeypatch,
                                                    hook):
    """A save interrupted while the file is written: with our hook the
    previous checkpoint and last_checkpoint are intact; mmengine's hook
    (the contrast) has removed the previous checkpoint already."""
    from mmengine.fileio.backends import LocalBackend

    import prtr.engine
    runner = _toy_runner(str(tmp_path), hook)
    runner.train()
    first = osp.join(str(tmp_path), 'epoch_1.pth')
    with open(first, 'rb') as f:
        first_bytes = f.read()
    monkeypatch.setattr(LocalBackend, 'put', _put_half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        _checkpoint_hook(runner)._save_checkpoint(runner)  # epoch 2
    monkeypatch.undo()
    with open(osp.join(str(tmp_path), 'last_checkpoint')) as f:
        last = f.read()
    survived = osp.isfile(first)
    if hook == 'CheckpointHook':
        assert not survived and last == first
        assert prtr.engine.resume.checkpoint_error(last) == 'no such file'
        return
    assert survived and last == first
    with open(first, 'rb') as f:
        assert f.read() == first_bytes
    assert prtr.engine.resume.checkpoint_error(first) is None
    # no epoch_2.pth, no temporary file left
    assert [
        n for n in os.listdir(tmp_path)
        if n.startswith('.') or n.endswith('.pth')
    ] == ['epoch_1.pth']


def test_removal_cut_short_is_finished_on_resume(tmp_path, monkeypatch):
    """Killed after the new checkpoint is in place but before the old one
    is removed: both remain, and the resumed run removes the old one."""
    import prtr.engine.atomic_local_backend as module
    runner = _toy_runner(str(tmp_path), 'AtomicCheckpointHook')
    runner.train()

    def interrupt(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, 'remove_now', interrupt)
    with pytest.raises(KeyboardInterrupt):
        _checkpoint_hook(runner)._save_checkpoint(runner)  # epoch 2
    monkeypatch.undo()
    ckpts = [osp.join(str(tmp_path), f'epoch_{i}.pth') for i in (1, 2)]
    assert all(osp.isfile(p) for p in ckpts)
    assert open(osp.join(str(tmp_path), 'last_checkpoint')).read() == ckpts[1]
    _toy_runner(str(tmp_path), 'AtomicCheckpointHook', 3, True).train()
    assert not osp.exists(ckpts[0]) and not osp.exists(ckpts[1])
    assert osp.isfile(osp.join(str(tmp_path), 'epoch_3.pth'))


def test_checkpoints_in_a_subfolder_are_removed(tmp_path):
    """``filename_tmpl`` with a folder: the oldest checkpoints beyond
    ``max_keep_ckpts`` are still removed once the new one is complete."""
    runner = _toy_runner(
        str(tmp_path), 'AtomicCheckpointHook', 3, filename_tmpl='c/e_{}.pth')
    runner.train()
    assert os.listdir(tmp_path / 'c') == ['e_3.pth']


def test_remote_out_dir_keeps_its_backend():
    """The atomic backend is for local folders; an ``s3://`` out_dir gets
    the backend mmengine picks from its prefix."""
    from prtr.engine import AtomicCheckpointHook
    assert AtomicCheckpointHook(out_dir='s3://bucket/run').backend_args is None
    assert AtomicCheckpointHook().backend_args == dict(backend='atomic_local')


def test_fine_tuning_leaves_the_removals_of_another_run(tmp_path, monkeypatch):
    """A checkpoint saved while a removal waited, loaded with ``load_from``
    into a new run: the other run's file is not the new run's to remove."""
    import prtr.engine.atomic_local_backend as module
    first = tmp_path / 'first'
    _toy_runner(str(first), 'AtomicCheckpointHook').train()

    def interrupt(path):
        raise KeyboardInterrupt

    runner = _toy_runner(str(first), 'AtomicCheckpointHook', 2, True)
    monkeypatch.setattr(module, 'remove_now', interrupt)
    with pytest.raises(KeyboardInterrupt):
        runner.train()  # epoch 2 saved, epoch_1.pth not removed
    monkeypatch.undo()
    module.PENDING.clear()
    mine = tmp_path / 'second' / 'epoch_1.pth'  # as the pending one is named
    mine.parent.mkdir()
    mine.write_bytes(b'a file of the user')
    tuned = _toy_runner(
        str(mine.parent), 'AtomicCheckpointHook', filename_tmpl='tuned_{}.pth')
    tuned._load_from = str(first / 'epoch_2.pth')
    tuned.train()  # a fine-tuning from epoch 2 (at iteration 0, not 4)
    assert mine.read_bytes() == b'a file of the user'


def test_interrupted_best_save_keeps_previous_best(tmp_path, monkeypatch):
    from mmengine.fileio.backends import LocalBackend
    runner = _toy_runner(
        str(tmp_path), 'AtomicCheckpointHook', save_best='acc', rule='greater')
    runner.train()
    hook = _checkpoint_hook(runner)
    hook.after_val_epoch(runner, dict(acc=0.5))
    best = glob.glob(osp.join(str(tmp_path), 'best_acc_*.pth'))
    assert len(best) == 1
    runner.train_loop._epoch = 2  # a later, better evaluation
    monkeypatch.setattr(LocalBackend, 'put', _put_half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        hook.after_val_epoch(runner, dict(acc=0.9))
    monkeypatch.undo()
    assert glob.glob(osp.join(str(tmp_path), 'best_acc_*.pth')) == best
    assert not glob.glob(osp.join(str(tmp_path), '.*'))
    hook.after_val_epoch(runner, dict(acc=0.95))  # now it completes
    new_best = glob.glob(osp.join(str(tmp_path), 'best_acc_*.pth'))
    assert [osp.basename(p) for p in new_best] == ['best_acc_epoch_2.pth']


def test_find_resumable_checkpoint(tmp_path):
    from prtr.engine import find_resumable_checkpoint
    from prtr.utils import UserInputError
    work = str(tmp_path)
    assert find_resumable_checkpoint(work) is None  # nothing: start afresh
    runner = _toy_runner(work, 'AtomicCheckpointHook', max_keep_ckpts=3)
    runner.train()
    runner.train_loop._max_epochs = 3
    runner.train_loop.run()
    ckpts = [osp.join(work, f'epoch_{i}.pth') for i in (1, 2, 3)]
    for i, path in enumerate(ckpts):  # mtimes in epoch order
        os.utime(path, (1000 + i, 1000 + i))
    assert find_resumable_checkpoint(work) == ckpts[2]
    with open(ckpts[2], 'r+b') as f:  # truncated newest checkpoint
        f.truncate(100)
    assert find_resumable_checkpoint(work) == ckpts[1]
    [os.remove(p) for p in ckpts[1:]]
    assert find_resumable_checkpoint(work) == ckpts[0]
    os.remove(osp.join(work, 'last_checkpoint'))
    assert find_resumable_checkpoint(work) == ckpts[0]
    open(ckpts[0], 'wb').close()  # empty: not a checkpoint
    with pytest.raises(UserInputError, match='no loadable checkpoint'):
        find_resumable_checkpoint(work)


def test_train_resume_without_loadable_checkpoint_is_one_line(tmp_path):
    (tmp_path / 'epoch_3.pth').write_bytes(b'truncated')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_4.pth'))
    proc = run([
        PYTHON, 'tools/train.py', TINY_CONFIG, '--work-dir',
        str(tmp_path), '--resume'
    ])
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert 'no loadable checkpoint' in last and str(tmp_path) in last, last


# --- (b) kill training while it saves ---------------------------------------
def _train(work_dir: str, resume: bool, options: List[str]):
    log = open(osp.join(work_dir, f'console-{time.time():.3f}.log'), 'w')
    cmd = [PYTHON, 'tools/train.py', TINY_CONFIG, '--work-dir', work_dir]
    cmd += ['--no-validate'] + ['--resume'] * resume + ['--cfg-options']
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    return subprocess.Popen(
        cmd + options, cwd=ROOT, env=env, stdout=log,
        stderr=subprocess.STDOUT), log


def _saving(work_dir: str, atomic: bool, seen: set) -> bool:
    """True while a checkpoint is being written, after one was complete.

    ``seen``: for our hook, the temporary files there before this run
    started (left by a SIGKILL); for mmengine's, the checkpoints of the
    previous poll (it removes the previous one when a save starts).
    """
    names = set(os.listdir(work_dir))
    if 'last_checkpoint' not in names:
        return False
    if atomic:
        return bool({n for n in names if '.pth.tmp-' in n} - seen)
    ckpts = {n for n in names if n.endswith('.pth')}
    gone = bool(seen) and not (seen & ckpts)
    seen.clear()
    seen.update(ckpts)
    return gone


def kill_while_saving(work_dir: str, sig: int, delay: float, atomic: bool,
                      options: List[str]) -> Tuple[bool, str]:
    """Start (or resume) training, send ``sig`` ``delay`` s after a save
    started; returns (whether a save was caught, the console log)."""
    resume = osp.isfile(osp.join(work_dir, 'last_checkpoint'))
    seen = set(os.listdir(work_dir)) if atomic else set()
    proc, log = _train(work_dir, resume, options)
    caught, deadline = False, time.time() + 120
    while not caught and proc.poll() is None and time.time() < deadline:
        caught = _saving(work_dir, atomic, seen)
        time.sleep(0.001 * (not caught))
    time.sleep(delay)
    proc.send_signal(sig)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:  # SIGINT in an odd place
        proc.kill()
        proc.wait()
    log.close()
    with open(log.name) as f:
        return caught, f.read()


def last_loadable(work_dir: str) -> Optional[str]:
    """The file last_checkpoint names, if it exists and loads."""
    from prtr.engine.resume import checkpoint_error
    save_file = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(save_file):
        return None
    path = Path(save_file).read_text().strip()
    return path if checkpoint_error(path) is None else None


@pytest.mark.slow
def test_kill_while_saving_then_resume(tmp_path):
    """Five kills (SIGKILL and SIGINT) at staggered delays inside the save
    window: each time last_checkpoint names a loadable checkpoint, and the
    next run resumes from exactly that one."""
    work = str(tmp_path)
    options = EVERY_ITER + [
        'default_hooks.checkpoint.type=AtomicCheckpointHook'
    ]
    kills = [(signal.SIGKILL, 0.0), (signal.SIGINT, 0.0),
             (signal.SIGKILL, 0.02), (signal.SIGINT, 0.04),
             (signal.SIGKILL, 0.08)]
    expected, left_tmp = None, 0  # expected: the log line of the resume
    for sig, delay in kills:
        caught, console = kill_while_saving(work, sig, delay, True, options)
        assert caught, console[-3000:]
        if expected is not None:  # this run continued the last one
            assert expected in console, console[-3000:]
        left_tmp += bool(glob.glob(osp.join(work, '.*.tmp-*')))
        resumed_from = last_loadable(work)
        assert resumed_from is not None, console[-3000:]
        meta = torch.load(resumed_from, weights_only=True)['meta']
        expected = f"resumed epoch: {meta['epoch']}, iter: {meta['iter']}"
    # a SIGKILL inside the write left a temporary file at least once (the
    # kills did land in the window), which the next run removes
    assert left_tmp >= 1
    proc, log = _train(work, True,
                       options + [f"train_cfg.max_epochs={meta['epoch'] + 1}"])
    assert proc.wait(timeout=120) == 0
    log.close()
    with open(log.name) as f:
        console = f.read()
    assert expected in console, console[-3000:]
    assert not glob.glob(osp.join(work, '.*.tmp-*'))
    # the epoch is replayed from its start (mmengine's epoch-based resume)
    assert last_loadable(work) == osp.join(work,
                                           f"iter_{meta['iter'] + 4}.pth")


# --- (c) resume is exact ----------------------------------------------------
def _logged_losses(work_dir: str) -> List[Tuple[int, float]]:
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    entries = [
        json.loads(line) for path in sorted(files)
        for line in Path(path).read_text().splitlines()
    ]
    return [(e['iter'], e['loss']) for e in entries if 'loss' in e]


@pytest.mark.slow
@pytest.mark.parametrize('workers', [0, 2])
def test_resume_is_bit_exact(tmp_path, workers):
    """2 epochs straight == 1 epoch + ``--resume`` to 2: weights,
    optimizer state, per-iteration losses and logged losses. 2 workers:
    the config's persistent workers."""
    options = SMALL + [
        'train_dataloader.dataset.indices=16',
        'default_hooks.checkpoint.interval=1',
        f'train_dataloader.num_workers={workers}',
        f'train_dataloader.persistent_workers={workers > 0}'
    ]
    straight, parts = str(tmp_path / 'straight'), str(tmp_path / 'parts')
    [os.makedirs(d) for d in (straight, parts)]
    runs = [  # the first two side by side (one thread each)
        _train(straight, False, options + ['train_cfg.max_epochs=2']),
        _train(parts, False, options + ['train_cfg.max_epochs=1'])
    ]
    runs.append(
        _train(parts, True, options +
               ['train_cfg.max_epochs=2']) if runs[1][0].wait(
                   timeout=300) == 0 else runs[1])
    for proc, log in runs:
        log.close()
        assert proc.wait(timeout=300) == 0, Path(log.name).read_text()[-3000:]
    assert 'resumed epoch: 1, iter: 2' in Path(runs[2][1].name).read_text()
    a = torch.load(osp.join(straight, 'epoch_2.pth'), weights_only=True)
    b = torch.load(osp.join(parts, 'epoch_2.pth'), weights_only=True)
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key, value in a['state_dict'].items():
        assert torch.equal(value, b['state_dict'][key]), key
    for sa, sb in zip(a['optimizer']['state'].values(),
                      b['optimizer']['state'].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    hist_a = a['message_hub']['log_scalars']['train/loss']._log_history
    hist_b = b['message_hub']['log_scalars']['train/loss']._log_history
    assert len(hist_a) == 4 and list(hist_a) == list(hist_b)
    assert len(_logged_losses(straight)) == 4
    assert _logged_losses(straight) == _logged_losses(parts)


def _window(work_dir: str, seconds: float) -> List[float]:
    """How long (s) last_checkpoint named a missing file, or a temporary
    checkpoint existed, each time."""
    spans, start, end = [], None, time.time() + seconds
    while time.time() < end:
        names = os.listdir(work_dir)
        busy = any('.pth.tmp-' in n for n in names)
        if not busy and 'last_checkpoint' in names:
            with open(osp.join(work_dir, 'last_checkpoint')) as f:
                busy = not osp.isfile(f.read().strip())
        if busy and start is None:
            start = time.time()
        elif not busy and start is not None:
            spans.append(time.time() - start)
            start = None
        time.sleep(0.0005)
    return spans


def main(kills: int = 10) -> None:
    """Kill figures of docs/benchmarks.md, mmengine's hook and ours."""
    import tempfile
    for hook in ('CheckpointHook', 'AtomicCheckpointHook'):
        options = EVERY_ITER + [f'default_hooks.checkpoint.type={hook}']
        with tempfile.TemporaryDirectory() as work:
            proc, log = _train(work, False, options)
            spans = _window(work, 20)
            proc.kill()
            proc.wait()
            log.close()
        print(f'{hook}: {len(spans)} saves, window median '
              f'{1000 * sorted(spans)[len(spans) // 2]:.0f} ms, max '
              f'{1000 * max(spans):.0f} ms')
        survived = caught = 0
        for i in range(kills):
            sig = (signal.SIGKILL, signal.SIGINT)[i % 2]
            with tempfile.TemporaryDirectory() as work:
                caught += kill_while_saving(work, sig, 0.005 * i, hook
                                            != 'CheckpointHook', options)[0]
                survived += last_loadable(work) is not None
        print(f'{hook}: {kills} kills, {caught} inside a save, '
              f'{survived} left a loadable last_checkpoint')


if __name__ == '__main__':
    import prtr  # noqa: F401
    main()
