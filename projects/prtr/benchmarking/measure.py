# Copyright (c) prtr authors. All rights reserved.
"""Measurements of one model: parameters and FLOPs, step times, peak
memory, COCO AP; and one benchmark job (:func:`run_worker`), meant to run
in a fresh process (see :mod:`prtr.benchmarking.worker`)."""
import contextlib
import functools
import logging
import os.path as osp
import resource
import tempfile
import time
from typing import Callable, List, Sequence, Union

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger

from .batch import make_batch
from .config import build_model, input_size_of, load_config
from .machine import proc_field_kib


def setup_scope() -> None:
    """mmpose's registries as default scope; no INFO logs of weight
    initialisation."""
    from mmpose.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    if not MMLogger.check_instance_created('benchmark'):
        MMLogger.get_instance('benchmark', log_level='WARNING')


def quiet_logs(fn: Callable) -> Callable:
    """``fn`` with mmengine's logs below ERROR held back (uncounted
    operators, weights not loaded, pipelines built)."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            return fn(*args, **kwargs)
        finally:
            logger.setLevel(level)

    return call


@contextlib.contextmanager
def mmdet_transformer_forward(model: torch.nn.Module):
    """Run the DETR transformers of ``model`` through mmdet's modules.

    FLOPs are counted there: the lean forward computes the same function
    through operators mmengine's counter has no rule for (``baddbmm``,
    ``scaled_dot_product_attention``): the R-50 head would count 1.70
    GFLOPs instead of 2.04.
    """
    lean = [m for m in model.modules() if getattr(m, 'lean_forward', False)]
    for m in lean:
        m.lean_forward = False
    try:
        yield
    finally:
        for m in lean:
            m.lean_forward = True


def model_figures(cfg: Config) -> dict:
    """Parameters (all, and trainable in ``train()``) and FLOPs of one
    forward pass on one input of the config's size, on CPU.

    FLOPs are counted by mmengine's ``get_model_complexity_info`` on the
    model's ``_forward`` (network only: no flip, no decoding), as mmpose's
    ``tools/analysis_tools/get_flops.py`` does; one multiply-add is one
    FLOP.

    Returns:
        dict: ``params`` and ``trainable`` (millions), ``gflops`` and
        ``input_size`` (w, h).
    """
    from mmengine.analysis import get_model_complexity_info
    model = build_model(cfg)
    w, h = input_size_of(cfg)
    model.train()  # frozen stages take effect in train()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    model.eval()
    if hasattr(model, '_forward'):
        model.forward = model._forward
    # no warnings of uncounted operators and uncalled modules (the data
    # preprocessor, the loss)
    with torch.no_grad(), mmdet_transformer_forward(model):
        info = quiet_logs(get_model_complexity_info)(
            model, input_shape=(3, h, w), show_table=False, show_arch=False)
    return dict(
        params=info['params'] / 1e6,
        trainable=trainable / 1e6,
        gflops=info['flops'] / 1e9,
        input_size=(w, h))


def _proc_status_kib(field: str) -> int:
    return proc_field_kib('/proc/self/status', field)


class PeakMemory:
    """Peak memory of the code run between :meth:`start` and :meth:`stop`.

    CPU: the process's peak resident set (VmHWM, reset at ``start`` where
    the kernel allows, else ``getrusage``'s, which includes anything before
    ``start``) minus its resident set at ``start``. CUDA:
    ``torch.cuda.max_memory_allocated`` minus the memory allocated at
    ``start`` (tensors only).

    Args:
        device (str): ``'cpu'`` or a CUDA device.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self.cuda = device.startswith('cuda')

    def start(self) -> None:
        """Take the baseline and reset the peak."""
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return
        self.base = _proc_status_kib('VmRSS')
        try:  # reset VmHWM to the current resident set (Linux >= 4.0)
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')
            self.hwm = _proc_status_kib('VmHWM') <= self.base + 1024
        except OSError:
            self.hwm = False

    def stop(self) -> float:
        """The peak since :meth:`start` above the baseline, in MiB (0 when
        the process freed memory and never grew past the baseline)."""
        if self.cuda:
            torch.cuda.synchronize()
            return max(0.,
                       (torch.cuda.max_memory_allocated() - self.base) / 2**20)
        if self.hwm:
            peak = _proc_status_kib('VmHWM')
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return max(0., (peak - self.base) / 1024)


def time_steps(steps: Sequence[Callable[[], object]],
               sync: Callable[[], None] = lambda: None,
               warmup: int = 1,
               repeats: int = 10,
               time_limit: float = float('inf'),
               min_repeats: int = 1) -> List[List[float]]:
    """Wall times of step functions, in seconds.

    With several steps they alternate (A B, then B A, ...) so that all see
    the same load on the machine. Not ``torch.utils.benchmark.Timer``: its
    ``timeit`` runs two untimed calls before every measurement and its
    ``blocked_autorange`` more to size its blocks, which triples the cost
    of a train step of seconds, and it times one statement at a time, so
    the steps could not alternate.

    Args:
        steps: functions to time.
        sync: waits for the device (``torch.cuda.synchronize``).
        warmup: untimed calls of each step first.
        repeats: most timed calls of each step.
        time_limit: stop after this many seconds per step of timed calls,
            once ``min_repeats`` are done.
        min_repeats: timed calls always done.

    Returns:
        list: the times of each step.
    """
    for step in steps:
        for _ in range(warmup):
            step()
            sync()
    times = [[] for _ in steps]
    while len(times[0]) < repeats:
        order = list(range(len(steps)))
        if len(times[0]) % 2:
            order.reverse()
        for k in order:
            t0 = time.perf_counter()
            steps[k]()
            sync()
            times[k].append(time.perf_counter() - t0)
        if (len(times[0]) >= min_repeats
                and sum(map(sum, times)) > time_limit * len(steps)):
            break
    return times


def make_step(cfg: Config,
              data: dict,
              phase: str,
              device: str = 'cpu',
              amp: Union[bool, str] = False) -> Callable[[], object]:
    """The measured step of a newly built model: ``train_step`` with the
    config's ``optim_wrapper`` (``phase='train'``), or ``test_step``
    without gradients. ``amp``: off, or the autocast dtype (``True``:
    float16)."""
    dtype = amp if isinstance(amp, str) else 'float16'
    model = build_model(cfg, device)
    if phase == 'train':
        from mmengine.optim import build_optim_wrapper
        optim_cfg = cfg.optim_wrapper.to_dict()
        if amp:
            # as tools/train.py --amp: bfloat16 needs no loss scaling
            optim_cfg.update(
                type='AmpOptimWrapper',
                dtype=dtype,
                loss_scale='dynamic' if dtype == 'float16' else dict(
                    enabled=False))
        optim_wrapper = build_optim_wrapper(model, optim_cfg)
        model.train()
        return lambda: model.train_step(data, optim_wrapper)
    model.eval()
    autocast = torch.autocast(
        'cuda' if device.startswith('cuda') else 'cpu',
        dtype=getattr(torch, dtype),
        enabled=bool(amp))

    def step():
        with torch.no_grad(), autocast:
            return model.test_step(data)

    return step


def run_ap(cfg: Config, job: dict) -> dict:
    """COCO AP of the config's test loop on the job's data and
    checkpoint."""
    from mmengine.runner import Runner
    loader = cfg.test_dataloader
    loader.dataset.data_root = job['data_root']
    loader.dataset.ann_file = job['ann_file']
    loader.dataset.bbox_file = job.get('bbox_file')
    loader.dataset.data_prefix = dict(img=job['img_prefix'])
    loader.num_workers = job.get('workers', 2)
    loader.persistent_workers = False
    evaluators = cfg.test_evaluator
    for ev in (evaluators if isinstance(evaluators, list) else [evaluators]):
        if 'ann_file' in ev:
            ev.ann_file = osp.join(job['data_root'], job['ann_file'])
    cfg.load_from = job['checkpoint']
    cfg.launcher = 'none'
    with tempfile.TemporaryDirectory() as work_dir:
        cfg.work_dir = work_dir
        metrics = Runner.from_cfg(cfg).test()
    return dict(ap=float(metrics['coco/AP']))


def run_worker(job: dict) -> dict:
    """Run one benchmark job (see :func:`prtr.benchmarking.runner.plan_jobs`).

    Returns:
        dict: ``times`` (seconds, one list per config), ``memory`` (MiB or
        None), ``threads`` and ``flip_test`` (per config); ``ap`` for an AP
        job.
    """
    setup_scope()
    if job.get('threads'):
        torch.set_num_threads(job['threads'])
    cfgs = [load_config(c, **job) for c in job['configs']]
    if job['phase'] == 'ap':
        return run_ap(cfgs[0], job)
    device = job['device']
    sync = torch.cuda.synchronize if device.startswith('cuda') else (
        lambda: None)
    datas = [
        make_batch(cfg, job['batch'], with_targets=job['phase'] == 'train')
        for cfg in cfgs
    ]
    memory = PeakMemory(device) if job['memory'] else None
    if memory:  # one model, built after the baseline
        memory.start()
    steps = [
        make_step(cfg, data, job['phase'], device, job.get('amp', False))
        for cfg, data in zip(cfgs, datas)
    ]
    times = time_steps(steps, sync, job['warmup'], job['repeats'],
                       job['time_limit'], job['min_repeats'])
    return dict(
        times=times,
        memory=memory.stop() if memory else None,
        threads=torch.get_num_threads(),
        flip_test=[
            bool(cfg.model.get('test_cfg', {}).get('flip_test'))
            for cfg in cfgs
        ])
