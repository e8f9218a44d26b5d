# Copyright (c) prtr authors. All rights reserved.
"""Benchmark PRTR against mmpose's heatmap models, side by side in one run.

    python tools/analysis_tools/benchmark.py [--out FILE.md] [--chart F.png]
        [--batch-sizes 1 32] [--train-batch 4] [--repeats 10]
        [--device cpu|cuda] [--amp] [--pair PRTR_CONFIG BASELINE_CONFIG]...

Default pairs (same backbone, same 384x288 input):
PRTR R-50 vs mmpose's SimpleBaseline R-50 and PRTR HRNet-W32 vs mmpose's
HRNet-W32 heatmap model (configs/baselines/). For every model:

- parameters, all and trainable;
- FLOPs of one forward pass (``mode='tensor'``: no flip, no decoding) on one
  input of the config's size, by mmengine's ``FlopAnalyzer``, which counts a
  multiply-add as one FLOP (as the PRTR paper's GFLOPs do);
- inference latency: median wall time of ``model.test_step`` on a batch of
  synthetic crops of the config's size: data preprocessing (to the device,
  normalisation), the forward pass(es) with flip test as configured (or as
  ``--flip-test`` says), decoding to image coordinates. No data loading;
- training step: median wall time of ``model.train_step`` with the config's
  ``optim_wrapper`` (preprocessing, forward, loss with its target matching,
  backward, gradient clipping, optimizer step), targets made by the config's
  codec from random keypoints;
- timing: PRTR and its baseline are built in one fresh process and their
  steps alternate (A B, B A, ...), so both see the same load on a shared
  machine (``--no-interleave``: each model in its own process, one after
  the other);
- peak memory: each model alone in a fresh process (two steps). CPU: the
  process's peak resident set (VmHWM, reset when the kernel allows, else
  ``getrusage``) minus its resident set before the model is built; GPU:
  ``torch.cuda.max_memory_allocated`` (tensors only, no CUDA context);
- optionally COCO AP: ``--ann-file``/``--data-root`` and a ``--checkpoint``
  per model run each config's test loop on that data.

Writes a Markdown table (stdout and ``--out``), the ratios PRTR / baseline
and a PNG bar chart of those ratios (``--chart``).
"""
import argparse
import json
import os
import os.path as osp
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone

# mmengine and mmcv import pkg_resources: one warning per process
warnings.filterwarnings('ignore', 'pkg_resources is deprecated')

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
try:
    import prtr  # noqa: F401
except ImportError:  # a plain checkout: the package lives in projects/
    sys.path.insert(0, osp.join(ROOT, 'projects'))
    import prtr  # noqa: F401

import numpy as np
import torch
from mmengine.config import Config, DictAction

RESULT_TAG = 'BENCHMARK_RESULT '
DEFAULT_PAIRS = [
    ('configs/prtr_res50_4xb32-200e_coco-384x288.py',
     'configs/baselines/td-hm_res50_8xb64-210e_coco-384x288.py'),
    ('configs/prtr_hrnet-w32_4xb16-200e_coco-384x288.py',
     'configs/baselines/td-hm_hrnet-w32_8xb64-210e_coco-384x288.py'),
]
LABELS = {
    'prtr_res50_4xb32-200e_coco-384x288': 'PRTR R-50',
    'td-hm_res50_8xb64-210e_coco-384x288': 'SimpleBaseline R-50',
    'prtr_hrnet-w32_4xb16-200e_coco-384x288': 'PRTR HRNet-W32',
    'td-hm_hrnet-w32_8xb64-210e_coco-384x288': 'HRNet-W32 heatmap',
    'prtr_res18-tiny_1xb8-150e_coco-mini-128x96': 'PRTR R-18 tiny',
}
# the ratio the issue sets a goal for, and the official code's figure
GOAL_PAIR = DEFAULT_PAIRS[0]
GOAL = 0.7


def label_of(config):
    stem = osp.splitext(osp.basename(config))[0]
    return LABELS.get(stem, stem)


# ----------------------------------------------------------------------------
# model and data, shared by the parent (FLOPs) and the workers


def _strip_init_cfg(node):
    """No pretrained weights: random initialisation times the same."""
    if isinstance(node, dict):
        node.pop('init_cfg', None)
        for v in node.values():
            _strip_init_cfg(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            _strip_init_cfg(v)


def _set_input_size(node, size):
    """Every ``input_size`` in the config to ``size`` (w, h); heatmap sizes
    keep their ratio to the input."""
    w, h = size
    if isinstance(node, dict):
        if 'input_size' in node:
            old_w, old_h = node['input_size']
            if 'heatmap_size' in node:
                hw, hh = node['heatmap_size']
                node['heatmap_size'] = (w * hw // old_w, h * hh // old_h)
            node['input_size'] = (w, h)
        for v in node.values():
            _set_input_size(v, size)
    elif isinstance(node, (list, tuple)):
        for v in node:
            _set_input_size(v, size)


def load_config(path, opts):
    cfg = Config.fromfile(
        osp.join(ROOT, path) if not osp.isabs(path) else path)
    if opts.get('cfg_options'):
        cfg.merge_from_dict(opts['cfg_options'])
    if opts.get('input_size'):
        _set_input_size(cfg._cfg_dict, tuple(opts['input_size']))
    flip = opts.get('flip_test', 'config')
    if flip != 'config':
        cfg.model.setdefault('test_cfg', {})['flip_test'] = flip == 'on'
    return cfg


def input_size_of(cfg):
    if cfg.get('codec') and 'input_size' in cfg.codec:
        return tuple(cfg.codec.input_size)
    return tuple(cfg.model.head.decoder.input_size)


def num_keypoints_of(cfg):
    head = cfg.model.head
    return head.get('num_keypoints', head.get('out_channels'))


def build_model(cfg, device='cpu'):
    from mmpose.registry import MODELS
    model_cfg = cfg.model.to_dict()
    _strip_init_cfg(model_cfg)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model.to(device)


def flip_indices_of(cfg, num_keypoints):
    try:
        from mmpose.datasets.datasets.utils import parse_pose_metainfo
        from mmpose.registry import DATASETS
        dataset = DATASETS.get(cfg.test_dataloader.dataset.type)
        meta = parse_pose_metainfo(dataset.METAINFO)
        if len(meta['flip_indices']) == num_keypoints:
            return list(meta['flip_indices'])
    except Exception:  # no dataset in the config: identity is as costly
        pass
    return list(range(num_keypoints))


def make_batch(cfg, batch_size, with_targets, seed=0):
    """Synthetic crops of the config's input size, packed by mmpose's own
    ``GenerateTarget`` (the config's codec) and ``PackPoseInputs``, as the
    runner's ``pseudo_collate`` hands them to ``train_step``/``test_step``."""
    from mmpose.registry import TRANSFORMS
    w, h = input_size_of(cfg)
    k = num_keypoints_of(cfg)
    transforms = [TRANSFORMS.build(dict(type='PackPoseInputs'))]
    if with_targets:
        transforms.insert(
            0,
            TRANSFORMS.build(dict(type='GenerateTarget', encoder=cfg.codec)))
    flip_indices = flip_indices_of(cfg, k)
    rng = np.random.default_rng(seed)
    inputs, samples = [], []
    for _ in range(batch_size):
        kpts = rng.uniform((0.1 * w, 0.1 * h), (0.9 * w, 0.9 * h),
                           (1, k, 2)).astype(np.float32)
        results = dict(
            img=rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
            img_shape=(h, w),
            ori_shape=(h, w),
            input_size=(w, h),
            input_center=np.array([w / 2, h / 2], dtype=np.float32),
            input_scale=np.array([w, h], dtype=np.float32),
            bbox=np.array([[0, 0, w, h]], dtype=np.float32),
            bbox_score=np.ones(1, dtype=np.float32),
            keypoints=kpts,
            transformed_keypoints=kpts.copy(),
            keypoints_visible=np.ones((1, k), dtype=np.float32),
            flip_indices=flip_indices)
        for t in transforms:
            results = t(results)
        inputs.append(results['inputs'])
        samples.append(results['data_samples'])
    return dict(inputs=inputs, data_samples=samples)


# ----------------------------------------------------------------------------
# worker: one measurement in a fresh process


def _proc_status_kib(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise KeyError(field)


class PeakMemory:
    """Peak memory of the code run between ``start`` and ``stop``, in MiB."""

    def __init__(self, device):
        self.device = device

    def start(self):
        if self.device.startswith('cuda'):
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

    def stop(self):
        if self.device.startswith('cuda'):
            torch.cuda.synchronize()
            return (torch.cuda.max_memory_allocated() - self.base) / 2**20
        if self.hwm:
            peak = _proc_status_kib('VmHWM')
        else:  # includes anything before start(): imports stay below it
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return (peak - self.base) / 1024


def _timed(fns, sync, warmup, repeats, time_limit, min_repeats):
    """Times of each step function; with several, they alternate (A B, then
    B A, ...) so that all see the same load on the machine."""
    for fn in fns:
        for _ in range(warmup):
            fn()
            sync()
    times = [[] for _ in fns]
    while len(times[0]) < repeats:
        order = list(range(len(fns)))
        if len(times[0]) % 2:
            order.reverse()
        for k in order:
            t0 = time.perf_counter()
            fns[k]()
            sync()
            times[k].append(time.perf_counter() - t0)
        if (len(times[0]) >= min_repeats
                and sum(map(sum, times)) > time_limit * len(fns)):
            break
    return times


def make_step(cfg, data, job):
    """The measured step of one model: ``train_step`` with the config's
    optim_wrapper, or ``test_step`` without gradients."""
    device = job['device']
    cuda = device.startswith('cuda')
    model = build_model(cfg, device)
    if job['phase'] == 'train':
        from mmengine.optim import build_optim_wrapper
        optim_cfg = cfg.optim_wrapper.to_dict()
        if job.get('amp'):
            optim_cfg.update(type='AmpOptimWrapper', loss_scale='dynamic')
        optim_wrapper = build_optim_wrapper(model, optim_cfg)
        model.train()
        return lambda: model.train_step(data, optim_wrapper)
    model.eval()
    amp = torch.autocast(
        'cuda' if cuda else 'cpu',
        dtype=torch.float16,
        enabled=bool(job.get('amp')))

    def step():
        with torch.no_grad(), amp:
            model.test_step(data)

    return step


def setup():
    from mmengine.logging import MMLogger
    from mmpose.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    # no INFO messages of weight initialisation and the like
    MMLogger.get_instance('benchmark', log_level='WARNING')


def run_worker(job):
    setup()
    if job.get('threads'):
        torch.set_num_threads(job['threads'])
    cfgs = [load_config(c, job) for c in job['configs']]
    if job['phase'] == 'ap':
        return run_ap(cfgs[0], job)
    sync = (
        torch.cuda.synchronize if job['device'].startswith('cuda') else
        (lambda: None))
    train = job['phase'] == 'train'
    datas = [make_batch(cfg, job['batch'], with_targets=train) for cfg in cfgs]
    memory = None
    if job['memory']:  # one model, built after the memory baseline
        memory = PeakMemory(job['device'])
        memory.start()
    fns = [make_step(cfg, data, job) for cfg, data in zip(cfgs, datas)]
    times = _timed(fns, sync, job['warmup'], job['repeats'], job['time_limit'],
                   job['min_repeats'])
    return dict(
        times=times,
        memory=memory.stop() if memory else None,
        threads=torch.get_num_threads(),
        flip_test=[
            bool(cfg.model.get('test_cfg', {}).get('flip_test'))
            for cfg in cfgs
        ])


def run_ap(cfg, job):
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


# ----------------------------------------------------------------------------
# parent: jobs, static figures, report


class _TensorMode(torch.nn.Module):
    """``model(inputs, mode='tensor')`` for the tracer: network only."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, inputs):
        return self.model(inputs, None, mode='tensor')


def static_figures(config, opts):
    """Parameters and FLOPs (on CPU, one input of the config's size)."""
    from mmengine.analysis import FlopAnalyzer
    cfg = load_config(config, opts)
    model = build_model(cfg).eval()
    w, h = input_size_of(cfg)
    params = sum(p.numel() for p in model.parameters())
    model.train()  # frozen stages take effect in train()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    model.eval()
    with torch.no_grad():
        flops = FlopAnalyzer(_TensorMode(model), (torch.rand(1, 3, h, w), ))
        flops.unsupported_ops_warnings(False)
        flops.uncalled_modules_warnings(False)
        total = flops.total()
    return dict(
        params=params / 1e6,
        trainable=trainable / 1e6,
        gflops=total / 1e9,
        input_size=(w, h))


def run_job(job, log):
    cmd = [sys.executable, osp.abspath(__file__), '--worker', json.dumps(job)]
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    log.write(proc.stdout)
    raise RuntimeError(
        f'benchmark worker failed ({job["phase"]}, {job["configs"]}, batch '
        f'{job.get("batch")}), exit code {proc.returncode}:\n' +
        '\n'.join(proc.stdout.splitlines()[-20:]))


def machine_description(device):
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(
                line.split(':', 1)[1].strip() for line in f
                if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0))
    mem = ''
    try:
        mem = f', {_meminfo_gib():.0f} GiB RAM'
    except (OSError, KeyError):
        pass
    desc = f'{cpu}, {cores} cores available{mem}'
    if device.startswith('cuda'):
        props = torch.cuda.get_device_properties(torch.device(device))
        desc = (f'{props.name} ({props.total_memory / 2**30:.0f} GiB), '
                f'host: {desc}')
    return desc


def _meminfo_gib():
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal:'):
                return int(line.split()[1]) / 2**20
    raise KeyError('MemTotal')


def software_versions():
    import mmcv
    import mmdet
    import mmengine
    import mmpose
    return (f'torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine '
            f'{mmengine.__version__}, mmdet {mmdet.__version__}, mmpose '
            f'{mmpose.__version__}, numpy {np.__version__}, Python '
            f'{platform.python_version()}')


def prtr_description():
    """Where prtr was imported from, and its git commit."""
    where = osp.dirname(prtr.__file__)
    try:
        git = ['git', '-C', where]
        tracked = subprocess.run(
            git + ['ls-files', '--error-unmatch', '__init__.py'],
            capture_output=True)
        if tracked.returncode:
            return f'`{where}` (no git checkout, or one that ignores it)'
        commit = subprocess.run(
            git + ['rev-parse', '--short', 'HEAD'],
            capture_output=True,
            text=True,
            check=True).stdout.strip()
        dirty = subprocess.run(
            git + ['status', '--porcelain', '.'],
            capture_output=True,
            text=True,
            check=True).stdout.strip()
        return (f'`{osp.relpath(where, ROOT)}` at commit {commit}' +
                (' with uncommitted changes' if dirty else ''))
    except (OSError, subprocess.CalledProcessError):
        return f'`{where}` (not in a git checkout)'


def _fmt(value, digits=1):
    if value is None:
        return '—'
    return f'{value:.{digits}f}'


def _ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def _min_ratio(p, b, key):
    pm, bm = p['min_' + key], b['min_' + key]
    return f'{pm:.1f} ms / {bm:.1f} ms = {pm / bm:.2f}'


def metric_columns(args):
    """(key, column title, digits) of the per-model measurements."""
    cols = [('params', 'params (M)', 1), ('trainable', 'trainable (M)', 1),
            ('gflops', 'GFLOPs', 1)]
    for b in args.batch_sizes:
        cols.append((f'infer_b{b}', f'inference b{b} (ms)', 1))
    cols.append((f'train_b{args.train_batch}',
                 f'train step b{args.train_batch} (ms)', 1))
    cols.append((f'mem_infer_b{max(args.batch_sizes)}',
                 f'peak mem. inference b{max(args.batch_sizes)} (MiB)', 0))
    cols.append((f'mem_train_b{args.train_batch}',
                 f'peak mem. train b{args.train_batch} (MiB)', 0))
    if args.ann_file:
        cols.append(('ap', 'COCO AP', 3))
    return cols


def render_report(args, results, meta):
    cols = metric_columns(args)
    lines = [
        f'# PRTR vs heatmap heads: {meta["device_kind"]} benchmark', '',
        f'- Date: {meta["date"]}', f'- Machine: {meta["machine"]}',
        f'- Software: {meta["software"]}; prtr: {meta["prtr"]}',
        f'- Device: `{args.device}`, AMP: {"on" if args.amp else "off"}, '
        f'torch threads: {meta["threads"]}',
        f'- Load average (1 min) at start / end: {meta["load_start"]} / '
        f'{meta["load_end"]}', f'- Command: `{meta["command"]}`',
        f'- Wall time of the whole run: {meta["wall"]:.0f} s', ''
    ]
    lines += [
        '| model | config | input (w x h) | ' +
        ' | '.join(c[1] for c in cols) + ' |',
        '|---|---|---|' + '---:|' * len(cols)
    ]
    for config, res in results.items():
        w, h = res['input_size']
        lines.append(f'| {label_of(config)} | `{osp.basename(config)}` | '
                     f'{w}x{h} | ' +
                     ' | '.join(_fmt(res.get(k), d)
                                for k, _, d in cols) + ' |')
    lines += [
        '', '## Ratios PRTR / baseline (below 1: PRTR smaller or '
        'faster)', ''
    ]
    ratio_cols = [c for c in cols if c[0] != 'trainable']
    lines += [
        '| PRTR | baseline | ' + ' | '.join(c[1].split(' (')[0]
                                            for c in ratio_cols) + ' |',
        '|---|---|' + '---:|' * len(ratio_cols)
    ]
    for prtr_cfg, base_cfg in args.pair:
        p, b = results[prtr_cfg], results[base_cfg]
        lines.append(f'| {label_of(prtr_cfg)} | {label_of(base_cfg)} | ' +
                     ' | '.join(
                         _fmt(_ratio(p.get(k), b.get(k)), 2)
                         for k, _, _ in ratio_cols) + ' |')
    goal = [tuple(p) for p in args.pair if tuple(p) == GOAL_PAIR]
    if goal:
        p, b = results[GOAL_PAIR[0]], results[GOAL_PAIR[1]]
        train_key = f'train_b{args.train_batch}'
        r = _ratio(p[train_key], b[train_key])
        met = 'met' if r <= GOAL else '**not met**'
        lines += [
            '', '## The two ratios of the issue', '',
            f'- Training step, PRTR R-50 384x288 / SimpleBaseline R-50 '
            f'384x288, batch {args.train_batch}: '
            f'{p[train_key]:.1f} ms / {b[train_key]:.1f} ms = **{r:.2f}** '
            f'(goal <= {GOAL}: {met}; the official PRTR code measured 0.78 '
            f'on a 2-core CPU at batch 4); fastest repeats: '
            f'{_min_ratio(p, b, train_key)}'
        ]
        for bs in args.batch_sizes:
            key = f'infer_b{bs}'
            lines.append(f'- Inference latency, same models, batch {bs}: '
                         f'{p[key]:.1f} ms / {b[key]:.1f} ms = '
                         f'**{_ratio(p[key], b[key]):.2f}**; fastest repeats: '
                         f'{_min_ratio(p, b, key)}')
        lines.append('- (medians; "fastest repeats" is the same ratio of '
                     'the minimum times, less sensitive to other load on '
                     'the machine)')
    flips = {
        label_of(c): 'on' if r['flip_test'] else 'off'
        for c, r in results.items()
    }
    lines += [
        '', '## How it was measured', '',
        '- Parameters: all, and those with `requires_grad` in `train()` '
        '(frozen stages and BatchNorm excluded). FLOPs: mmengine '
        '`FlopAnalyzer`, one forward pass (`mode=\'tensor\'`, no flip, no '
        'decoding) on one input of the model\'s size; one multiply-add '
        'counts as one FLOP (the PRTR paper\'s convention).',
        '- Inference: median wall time of `model.test_step` on a batch of '
        'synthetic crops (no data loading): preprocessing (to the device, '
        'normalisation), forward pass(es) and decoding to image coordinates '
        '(PRTR: softmax + Hungarian matching; heatmaps: argmax + refinement). '
        'Flip test: ' + ', '.join(f'{k} {v}' for k, v in flips.items()) +
        ' (' + ('as configured' if args.flip_test == 'config' else
                f'forced {args.flip_test} by --flip-test') + ').',
        f'- Training step: median wall time of `model.train_step` with the '
        f'config\'s `optim_wrapper` (PRTR: AdamW, gradient clipping 0.1, '
        f'backbone lr x0.1; mmpose heatmap: Adam), batch '
        f'{args.train_batch}, targets from the config\'s codec.',
        f'- Repeats: up to {args.repeats} timed after {args.warmup} '
        f'warm-up, stopping after {args.time_limit:.0f} s of timed runs once '
        f'{args.min_repeats} are done; repeats used: ' + '; '.join(
            f'{label_of(c)} ' + ', '.join(f'{k.replace("_", " ")} {n}'
                                          for k, n in r['repeats'].items())
            for c, r in results.items()) + '.',
        '- Peak memory: each model alone in a fresh process' +
        (' (two steps)' if args.interleave else '') + '; ' +
        ('`torch.cuda.max_memory_allocated` from before the model is '
         'built (weights, gradients, optimizer state, activations; no '
         'CUDA context or allocator cache).' if args.device.startswith('cuda')
         else 'peak resident set (VmHWM) minus the resident '
         'set before the model is built (weights, gradients, optimizer '
         'state, activations, allocator overhead).'),
        ('- Timing: PRTR and its baseline in one process, their steps '
         'alternating (A B, B A, ...) so that both see the same load on '
         'the machine' if args.interleave else '- Timing: each model in '
         'its own process, PRTR and its baseline one after the other') +
        '; random weights (timing does not depend on them).'
    ]
    if args.ann_file:
        lines.append(
            f'- COCO AP: the config\'s test loop on `{args.ann_file}` under '
            f'`{args.data_root}`, person boxes: '
            f'{args.bbox_file or "ground truth"}; "—" where no checkpoint '
            f'was given.')
    return '\n'.join(lines) + '\n'


def draw_chart(args, results, meta, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    keys = [c for c in metric_columns(args) if c[0] != 'trainable']
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(keys)), 4.2))
    width = 0.8 / len(args.pair)
    for i, (prtr_cfg, base_cfg) in enumerate(args.pair):
        p, b = results[prtr_cfg], results[base_cfg]
        vals = [_ratio(p.get(k), b.get(k)) for k, _, _ in keys]
        xs = [
            j + (i - (len(args.pair) - 1) / 2) * width
            for j in range(len(keys))
        ]
        bars = ax.bar(
            xs, [v or 0 for v in vals],
            width,
            label=f'{label_of(prtr_cfg)} / {label_of(base_cfg)}')
        for bar, v in zip(bars, vals):
            if v is not None:
                ax.annotate(
                    f'{v:.2f}',
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha='center',
                    va='bottom',
                    fontsize=7)
    ax.axhline(1.0, color='black', linewidth=0.8)
    ax.axhline(
        GOAL,
        color='red',
        linewidth=0.8,
        linestyle='--',
        label=f'training-step goal {GOAL}')
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([c[1].split(' (')[0] for c in keys],
                       rotation=20,
                       ha='right',
                       fontsize=8)
    ax.set_ylabel('PRTR / heatmap baseline')
    ax.set_title(f'PRTR vs heatmap heads, {meta["device_kind"]}', fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.splitlines()[1:]))
    parser.add_argument(
        '--pair',
        nargs=2,
        action='append',
        metavar=('PRTR_CONFIG', 'BASELINE_CONFIG'),
        help='a PRTR config and the baseline it is set against (repeatable; '
        'default: R-50 and HRNet-W32 384x288 against mmpose\'s)')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='(GPU) float16 autocast, AmpOptimWrapper for training')
    parser.add_argument(
        '--batch-sizes',
        type=int,
        nargs='+',
        default=[1, 32],
        help='inference batch sizes (default: 1 32)')
    parser.add_argument(
        '--train-batch',
        type=int,
        help='training batch size (default: 4 on CPU, 32 on GPU)')
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument(
        '--min-repeats',
        type=int,
        default=3,
        help='repeats always done, whatever --time-limit says')
    parser.add_argument(
        '--time-limit',
        type=float,
        default=60.,
        help='stop repeating a measurement once its timed runs took this '
        'many seconds (and --min-repeats are done)')
    parser.add_argument(
        '--warmup',
        type=int,
        help='untimed runs first (default: 1 on CPU, 5 on GPU)')
    parser.add_argument(
        '--no-interleave',
        dest='interleave',
        action='store_false',
        help='time each model in its own process (with its memory) instead '
        'of PRTR and its baseline in one process, steps alternating')
    parser.add_argument(
        '--flip-test',
        choices=['config', 'on', 'off'],
        default='config',
        help='flip test at inference (default: as each config says)')
    parser.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        metavar=('W', 'H'),
        help='override every model\'s input size (quick runs, tests)')
    parser.add_argument(
        '--threads', type=int, help='torch CPU threads in each measurement')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of every config, key=value')
    parser.add_argument(
        '--out',
        default='work_dirs/benchmark/benchmark.md',
        help='Markdown report')
    parser.add_argument(
        '--chart', help='PNG chart of the ratios (default: --out as .png)')
    parser.add_argument(
        '--json', help='also dump every measurement to this JSON file')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    ap = parser.add_argument_group(
        'COCO AP (optional): each config\'s test loop')
    ap.add_argument('--data-root', help='e.g. data/coco/')
    ap.add_argument(
        '--ann-file',
        help='relative to --data-root, e.g. '
        'annotations/person_keypoints_val2017.json')
    ap.add_argument(
        '--img-prefix', default='val2017/', help='relative to --data-root')
    ap.add_argument(
        '--bbox-file',
        help='person detections for every model (default: ground-truth '
        'boxes)')
    ap.add_argument(
        '--checkpoint',
        action='append',
        default=[],
        metavar='CONFIG=PATH',
        help='weights of a model, keyed by its config path or file stem '
        '(repeatable); models without one get no AP')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return args
    args.pair = [tuple(p) for p in (args.pair or DEFAULT_PAIRS)]
    cuda = args.device.startswith('cuda')
    if args.amp and not cuda:
        parser.error('--amp needs a CUDA device')
    if cuda and not torch.cuda.is_available():
        parser.error(f'--device {args.device}: no CUDA device here')
    if args.train_batch is None:
        args.train_batch = 32 if cuda else 4
    if args.warmup is None:
        args.warmup = 5 if cuda else 1
    if bool(args.ann_file) != bool(args.data_root):
        parser.error('--ann-file and --data-root go together')
    if args.chart is None:
        args.chart = osp.splitext(args.out)[0] + '.png'
    checkpoints = {}
    for item in args.checkpoint:
        key, sep, path = item.partition('=')
        if not sep:
            parser.error(f'--checkpoint {item}: expected CONFIG=PATH')
        checkpoints[key] = path
    args.checkpoints = checkpoints
    return args


def _checkpoint_for(config, checkpoints):
    stem = osp.splitext(osp.basename(config))[0]
    for key in (config, osp.basename(config), stem):
        if key in checkpoints:
            return checkpoints[key]
    return None


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        result = run_worker(json.loads(args.worker))
        print(RESULT_TAG + json.dumps(result), flush=True)
        return
    from tqdm import tqdm
    setup()
    t_start = time.time()
    load_start = os.getloadavg()[0]
    opts = dict(
        cfg_options=args.cfg_options,
        input_size=args.input_size,
        flip_test=args.flip_test)
    common = dict(
        opts,
        device=args.device,
        amp=args.amp,
        threads=args.threads,
        warmup=args.warmup,
        repeats=args.repeats,
        min_repeats=args.min_repeats,
        time_limit=args.time_limit)
    models = list(dict.fromkeys(c for pair in args.pair for c in pair))
    phases = [dict(common, phase='train', batch=args.train_batch)]
    phases += [dict(common, phase='infer', batch=b) for b in args.batch_sizes]
    if args.interleave:
        # timing: PRTR and its baseline in one process, steps alternating;
        # memory: each model alone in a fresh process, two steps
        jobs = [
            dict(ph, configs=list(pair), memory=False) for ph in phases
            for pair in args.pair
        ]
        jobs += [
            dict(
                ph,
                configs=[c],
                memory=True,
                warmup=0,
                repeats=2,
                min_repeats=2) for ph in phases for c in models
        ]
    else:  # each model alone, one after the other: time and memory
        jobs = [
            dict(ph, configs=[c], memory=True) for ph in phases for c in models
        ]
    if args.ann_file:
        for c in models:
            ckpt = _checkpoint_for(c, args.checkpoints)
            if ckpt:
                jobs.append(
                    dict(
                        common,
                        phase='ap',
                        configs=[c],
                        checkpoint=ckpt,
                        data_root=args.data_root,
                        ann_file=args.ann_file,
                        img_prefix=args.img_prefix,
                        bbox_file=args.bbox_file))
    results = {c: dict(repeats={}) for c in models}
    steps = tqdm(
        total=len(models) + len(jobs),
        desc='benchmark',
        disable=args.no_progress,
        file=sys.stderr)
    for c in models:
        steps.set_postfix_str(f'{label_of(c)}: params, FLOPs')
        results[c].update(static_figures(c, opts))
        steps.update()
    raw = []
    log = sys.stderr
    for job in jobs:
        name = 'AP' if job['phase'] == 'ap' else (
            f'{job["phase"]} b{job["batch"]}' +
            (' memory' if args.interleave and job['memory'] else ''))
        steps.set_postfix_str(' + '.join(map(label_of, job['configs'])) +
                              f': {name}')
        out = run_job(job, log)
        raw.append(dict(job=job, result=out))
        if job['phase'] == 'ap':
            results[job['configs'][0]]['ap'] = out['ap']
            steps.update()
            continue
        key = f'{job["phase"]}_b{job["batch"]}'
        for k, c in enumerate(job['configs']):
            res = results[c]
            res['threads'] = out['threads']
            if job['memory']:
                res['mem_' + key] = out['memory']
            if job['memory'] and args.interleave:
                continue  # timed in the pair's job
            res[key] = statistics.median(out['times'][k]) * 1e3
            res['min_' + key] = min(out['times'][k]) * 1e3
            res['repeats'][key] = len(out['times'][k])
            if job['phase'] == 'infer':
                res['flip_test'] = out['flip_test'][k]
        steps.update()
    steps.close()
    cuda = args.device.startswith('cuda')
    meta = dict(
        date=datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        machine=machine_description(args.device),
        software=software_versions(),
        device_kind=(torch.cuda.get_device_name(torch.device(args.device))
                     if cuda else 'CPU'),
        threads=next(iter(results.values())).get('threads'),
        load_start=f'{load_start:.2f}',
        load_end=f'{os.getloadavg()[0]:.2f}',
        command=' '.join(['python', osp.relpath(__file__, ROOT)] +
                         (sys.argv[1:] if argv is None else argv)),
        prtr=prtr_description(),
        wall=time.time() - t_start)
    report = render_report(args, results, meta)
    print(report)
    for path in (args.out, args.chart, args.json):
        if path and osp.dirname(path):
            os.makedirs(osp.dirname(path), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write(report)
    draw_chart(args, results, meta, args.chart)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(meta=meta, results=results, raw=raw), f, indent=1)
    print(f'report: {args.out}, chart: {args.chart}', file=sys.stderr)


if __name__ == '__main__':
    main()
