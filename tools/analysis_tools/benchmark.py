# Copyright (c) prtr authors. All rights reserved.
"""Benchmark PRTR against other systems, with random weights (README,
"Benchmark against heatmap heads"): heatmap pairs (default), the cascade
against detector + two-stage PRTR (--cascade), or PyTorch against
onnxruntime (--onnx); measured by :mod:`prtr.benchmarking`.
"""
import argparse
import io
import os
import os.path as osp
import sys
from datetime import datetime, timezone
from functools import partial
from typing import Callable, List, Optional, Sequence, Tuple

import mmcv
import mmdet
import mmengine
import mmpose
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.hub import get_config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpose.testing import get_packed_inputs

from prtr.benchmarking import build, complexity, time_alternating
from prtr.deployment import ExportGraph, export_onnx, input_hw
from prtr.utils.input_size import set_input_size

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
PRTR_R50 = 'configs/prtr_res50_4xb32-200e_coco-384x288.py'
DEFAULT_PAIRS = [
    (PRTR_R50, 'configs/baselines/td-hm_res50_8xb64-210e_coco-384x288.py'),
    ('configs/prtr_hrnet-w32_4xb16-200e_coco-384x288.py',
     'configs/baselines/td-hm_hrnet-w32_8xb64-210e_coco-384x288.py'),
]
# mmdet's detector of a cascade's person stage (same transformer, same
# backbone), by head type, backbone depth, box refinement, two-stage
DETECTORS = {
    ('DETRPersonHead', 50, False, False):
    'mmdet::detr/detr_r50_8xb2-150e_coco.py',
    ('DeformableDETRPersonHead', 50, False, False):
    'mmdet::deformable_detr/deformable-detr_r50_16xb2-50e_coco.py',
    ('DeformableDETRPersonHead', 50, True, False):
    'mmdet::deformable_detr/deformable-detr-refine_r50_16xb2-50e_coco.py',
    ('DeformableDETRPersonHead', 50, True, True):
    'mmdet::deformable_detr/'
    'deformable-detr-refine-twostage_r50_16xb2-50e_coco.py',
}
# the options a mode takes none of
REJECTS = dict(
    cascade=('pair', 'input_size', 'amp', 'batch_sizes', 'train_batch',
             'onnx'),
    onnx=('pair', 'amp', 'train_batch', 'device'))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The command line's options, checked, with their defaults."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    add = parser.add_argument
    add('--pair', nargs=2, action='append', metavar=('PRTR', 'BASELINE'))
    add('--device', help='(default: cuda if there is one, else cpu)')
    add('--amp', nargs='?', const='float16', choices=['float16', 'bfloat16'])
    add('--batch-sizes', type=int, nargs='+', help='inference (1 32)')
    add('--train-batch', type=int, help='(default: 4 on CPU, 32 on GPU)')
    add('--rounds', type=int, default=5, help='alternating rounds')
    add('--min-run-time', type=float, default=1., help='s per round')
    add('--flip-test', choices=['config', 'on', 'off'], default='config')
    add('--input-size', type=int, nargs=2, metavar=('W', 'H'))
    add('--threads', type=int, help='torch CPU threads')
    add('--cfg-options', nargs='+', action=DictAction)
    add('--out', default='work_dirs/benchmark/benchmark.md')
    add('--json', help='also dump the figures to this JSON file')
    add('--cascade', metavar='CONFIG', help='a cascade config instead')
    add('--detector', help='mmdet config (default: by the person stage)')
    add('--topdown', default=osp.join(ROOT, PRTR_R50), help='two-stage PRTR')
    add('--image-size', type=int, nargs=2, metavar=('W', 'H'))
    add('--persons', type=int, nargs='+', default=[1, 20])
    add('--onnx', nargs='*', metavar='CONFIG', help='onnxruntime vs PyTorch')
    args = parser.parse_args(argv)
    for mode, rejects in REJECTS.items():
        given = [k for k in rejects if getattr(args, k) is not None]
        if getattr(args, mode) is not None and given:
            given = ', '.join('--' + k.replace('_', '-') for k in given)
            parser.error(f'--{mode} takes no {given}')
    gpu = torch.cuda.is_available() and args.onnx is None
    args.device = args.device or ('cuda' if gpu else 'cpu')
    cuda = args.device.startswith('cuda')
    if args.amp and not cuda:
        parser.error('--amp needs a CUDA device')
    args.pair = args.pair or [
        tuple(osp.join(ROOT, c) for c in p) for p in DEFAULT_PAIRS
    ]
    args.batch_sizes = args.batch_sizes or [1, 32]
    args.train_batch = args.train_batch or (32 if cuda else 4)
    return args


def load_config(path: str, args: argparse.Namespace) -> Config:
    """A config with the command line's changes to every model."""
    cfg = Config.fromfile(path)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.input_size:
        set_input_size(cfg._cfg_dict, tuple(args.input_size))
    if args.flip_test != 'config':
        cfg.model.setdefault('test_cfg', {})['flip_test'] = (
            args.flip_test == 'on')
    return cfg


def pose_complexity(cfg: Config) -> dict:
    """:func:`complexity` of a pose model on one input of its size."""
    return complexity(build(cfg, 'cpu'), (torch.zeros(1, 3, *input_hw(cfg)), ))


def optim_config(cfg: Config, amp: Optional[str]) -> dict:
    """The config's ``optim_wrapper``, or with ``amp`` (a dtype) the
    ``AmpOptimWrapper`` of ``train.py --amp`` (bfloat16: no loss scale)."""
    optim_cfg = cfg.optim_wrapper.to_dict()
    if amp:
        scale = 'dynamic' if amp == 'float16' else dict(enabled=False)
        optim_cfg.update(type='AmpOptimWrapper', dtype=amp, loss_scale=scale)
    return optim_cfg


def make_step(cfg: Config, train: bool, size: int,
              args: argparse.Namespace) -> Tuple[Callable, Optional[float]]:
    """A model's ``train_step`` (with the config's ``optim_wrapper``) or
    ``test_step`` on a batch of mmpose's ``get_packed_inputs``, and on a GPU
    the peak memory (MiB) from building the model through two steps."""
    cuda = args.device.startswith('cuda')
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    model = build(cfg, args.device)
    h, w = input_hw(cfg)
    heatmap_size = cfg.codec.get('heatmap_size')  # targets of its kind
    data = get_packed_inputs(
        size,
        num_keypoints=model.dataset_meta['num_keypoints'],
        img_shape=(h, w),
        input_size=(w, h),
        heatmap_size=heatmap_size,
        with_heatmap=bool(heatmap_size),
        with_simcc_label=False)
    if train:
        optim_wrapper = build_optim_wrapper(model.train(),
                                            optim_config(cfg, args.amp))

        def step():
            return model.train_step(data, optim_wrapper)
    else:
        autocast = torch.autocast(
            args.device.split(':')[0],
            dtype=getattr(torch, args.amp or 'float16'),
            enabled=bool(args.amp))

        def step():
            with torch.no_grad(), autocast:
                return model.test_step(data)

    if not cuda:  # blocked_autorange's first call warms up
        return step, None
    for _ in range(2):  # the peak of a steady step: optimizer state too
        step()
    return step, (torch.cuda.max_memory_allocated() - base) / 2**20


def benchmark_pairs(args: argparse.Namespace) -> Tuple[List[dict], list]:
    """The figures of each pair (``{config name: figures}``, PRTR first)
    and the table's columns."""
    phases = [(f'train_b{args.train_batch}', True, args.train_batch)]
    phases += [(f'infer_b{b}', False, b) for b in args.batch_sizes]
    cols = [('params', 'params (M)'), ('trainable', 'trainable (M)'),
            ('gflops', 'GFLOPs')]
    cols += [(k, k.replace('_', ' ') + ' (ms)') for k, _, _ in phases]
    if args.device.startswith('cuda'):
        cols += [('mem_' + k, k.replace('_', ' ') + ' peak (MiB)')
                 for k, _, _ in phases]
    groups = []
    for pair in args.pair:
        cfgs = {osp.basename(c): load_config(c, args) for c in pair}
        figs = {
            name: dict(input_size=input_hw(cfg)[::-1], **pose_complexity(cfg))
            for name, cfg in cfgs.items()
        }
        for key, train, size in phases:
            steps = {}
            for name, cfg in cfgs.items():
                steps[name], figs[name]['mem_' + key] = make_step(
                    cfg, train, size, args)
            times = time_alternating(steps, args.rounds, args.min_run_time)
            for name, ms in times.items():
                figs[name][key] = ms
        groups.append(figs)
    return groups, cols


def benchmark_onnx(args: argparse.Namespace) -> Tuple[List[dict], list]:
    """Each config's exported network per batch size in onnxruntime and in
    PyTorch on the same CPU threads (not the host's decoding); columns."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    groups = []
    for config in args.onnx or [p for p, _ in args.pair]:
        cfg = load_config(config, args)
        model = build(cfg, 'cpu')
        graph = ExportGraph(model).eval()
        h, w = input_hw(cfg)
        onnx_file = io.BytesIO()
        export_onnx(model, onnx_file, (1, 3, h, w), dynamic_batch=True)
        session = ort.InferenceSession(
            onnx_file.getvalue(), options, providers=['CPUExecutionProvider'])
        for batch in args.batch_sizes:
            inputs = graph.example_inputs(batch, h, w)
            feeds = {n: t.numpy() for n, t in zip(graph.input_names, inputs)}
            steps = dict(
                onnxruntime=partial(session.run, None, feeds),
                PyTorch=torch.no_grad()(partial(graph, *inputs)))
            times = time_alternating(steps, args.rounds, args.min_run_time)
            name = f'{osp.basename(config)} b{batch}'
            groups.append({f'{name} {n}': dict(ms=times[n]) for n in steps})
    return groups, [('ms', 'latency (ms)')]


def table(groups: List[dict], cols: list) -> List[str]:
    """Markdown rows of each group's two systems and their ratio."""
    rows = [['', *(t for _, t in cols)], ['---'] + ['---:'] * len(cols)]
    for figs in groups:
        rows += [[name, *(f'{f[k]:.1f}' for k, _ in cols)]
                 for name, f in figs.items()]
        a, b = figs.values()
        rows.append(['ratio', *(f'**{a[k] / b[k]:.2f}**' for k, _ in cols)])
    return ['| ' + ' | '.join(r) + ' |' for r in rows]


def detector_complexity(model: torch.nn.Module, canvas: Sequence) -> dict:
    """:func:`complexity` of an mmdet detector's ``_forward`` (as mmdet's
    ``get_flops.py``) on one image of the canvas (``demo_mm_inputs``)."""
    from mmdet.testing import demo_mm_inputs
    w, h = canvas
    data = model.data_preprocessor(demo_mm_inputs(1, [(3, h, w)]))
    # the tracer takes tensors only: the samples are bound
    model._forward = partial(
        model._forward, batch_data_samples=data['data_samples'])
    return complexity(model, (data['inputs'], ))


def detector_config(cfg: Config, path: Optional[str] = None) -> Config:
    """The config of mmdet's detector (``path``, a file or ``mmdet::``;
    default: the one the cascade's person stage mirrors) whose test
    pipeline resizes to the cascade's canvas."""
    head = cfg.model.person_head
    key = (head.type, cfg.model.backbone.get('depth'),
           bool(head.get('with_box_refine')), bool(head.get('as_two_stage')))
    path = path or DETECTORS.get(key)
    if path is None:
        raise ValueError(f'no mmdet detector of the size of this cascade\'s '
                         f'person stage {key}: name one with --detector')
    det_cfg = get_config(path) if '::' in path else Config.fromfile(path)
    for t in det_cfg.test_dataloader.dataset.pipeline:
        if t['type'].endswith('Resize'):
            t['scale'] = input_hw(cfg)[::-1]
    return det_cfg


def benchmark_cascade(args: argparse.Namespace) -> Tuple[List[dict], list]:
    """The cascade and a detector + two-stage PRTR per person count:
    parameters, GFLOPs (no flip) and latency per image; the columns."""
    from mmdet.apis import inference_detector, init_detector
    from mmpose.apis import inference_bottomup, inference_topdown
    cas_cfg = load_config(args.cascade, args)
    queries = cas_cfg.model.person_head.num_queries
    if max(args.persons) > queries:
        raise ValueError(f'--persons {max(args.persons)}: the person stage '
                         f'has {queries} queries')
    canvas = input_hw(cas_cfg)[::-1]
    det_cfg = detector_config(cas_cfg, args.detector)
    with DefaultScope.overwrite_default_scope('mmdet'):
        det = build(det_cfg, args.device, init_detector)
        det_figs = detector_complexity(
            build(det_cfg, 'cpu', init_detector), canvas)
    td_cfg = load_config(args.topdown, args)
    td_figs = pose_complexity(td_cfg)
    cascade, topdown = build(cas_cfg, args.device), build(td_cfg, args.device)
    w, h = args.image_size or canvas
    img = np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8)
    det_name = osp.splitext(osp.basename(det_cfg.filename))[0]
    groups = []
    for num in args.persons:
        cas_cfg.model.test_cfg['max_persons'] = num
        cascade.test_cfg['max_persons'] = num
        # fixed person boxes side by side: both systems get ``num`` persons
        boxes = np.array([[i * w / num, 0.05 * h, (i + 1) * w / num, 0.95 * h]
                          for i in range(num)])

        def two_stage():  # mmdet's and mmpose's inference: no_grad
            with DefaultScope.overwrite_default_scope('mmdet'):
                inference_detector(det, img)
            return inference_topdown(topdown, img, boxes)

        steps = dict(
            cascade=partial(inference_bottomup, cascade, img),
            two_stage=two_stage)
        ms = time_alternating(steps, args.rounds, args.min_run_time)
        groups.append({
            f'cascade, {num} persons':
            dict(pose_complexity(cas_cfg), ms=ms['cascade']),
            f'{det_name} + PRTR, {num} persons':
            dict(
                params=det_figs['params'] + td_figs['params'],
                gflops=det_figs['gflops'] + num * td_figs['gflops'],
                ms=ms['two_stage'])
        })
    cols = [('params', 'params (M)'), ('gflops', 'GFLOPs'),
            ('ms', f'latency per {w}x{h} image (ms)')]
    return groups, cols


def main(argv: Optional[List[str]] = None) -> List[dict]:
    """Benchmark; print the report and write it (and the JSON)."""
    args = parse_args(argv)
    MMLogger.get_instance('benchmark', log_level='WARNING')  # no INFO logs
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device.startswith('cuda')
    device = torch.cuda.get_device_name(args.device) if cuda else 'CPU'
    libs = [torch, mmengine, mmcv, mmdet, mmpose]
    if args.onnx is not None:
        import onnxruntime
        libs.append(onnxruntime)
    argv = sys.argv[1:] if argv is None else argv
    lines = [
        f'# PRTR benchmark, {device}', '',
        f'- {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, '
        f'`{args.device}`, AMP: {args.amp or "off"}, '
        f'torch threads: {torch.get_num_threads()} of {os.cpu_count()} CPUs',
        '- ' + ', '.join(f'{m.__name__} {m.__version__}' for m in libs),
        f'- `python tools/analysis_tools/benchmark.py {" ".join(argv)}`',
        f'- medians of {args.rounds} alternating rounds of at least '
        f'{args.min_run_time:g} s; flip test: {args.flip_test}', ''
    ]
    if args.cascade:
        groups, cols = benchmark_cascade(args)
    elif args.onnx is not None:
        groups, cols = benchmark_onnx(args)
    else:
        groups, cols = benchmark_pairs(args)
    report = '\n'.join(lines + table(groups, cols)) + '\n'
    print(report)
    mmengine.put_text(report, args.out)
    if args.json:
        mmengine.dump(groups, args.json, indent=1)
    return groups


if __name__ == '__main__':
    main()
