# Copyright (c) prtr authors. All rights reserved.
"""Benchmark PRTR against mmpose's heatmap models, side by side in one run.

    python tools/analysis_tools/benchmark.py [--out FILE.md] [--chart F.png]
        [--batch-sizes 1 32] [--train-batch 4] [--repeats 10]
        [--device cpu|cuda] [--amp [float16|bfloat16]]
        [--pair PRTR_CONFIG BASELINE_CONFIG]...

Default pairs (same backbone, same 384x288 input):
PRTR R-50 vs mmpose's SimpleBaseline R-50 and PRTR HRNet-W32 vs mmpose's
HRNet-W32 heatmap model (configs/baselines/). For every model:

- parameters, all and trainable;
- FLOPs of one forward pass (``mode='tensor'``: no flip, no decoding) on one
  input of the config's size, by mmengine's ``get_model_complexity_info``
  (as mmpose's ``get_flops.py``), which counts a multiply-add as one FLOP
  (as the PRTR paper's GFLOPs do);
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

``--cascade CONFIG`` benchmarks the end-to-end cascade instead, against
two-stage PRTR behind an mmdet person detector of the same size (default:
mmdet's DETR / Deformable DETR R-50 as the cascade's person stage, and PRTR
R-50 384x288), per image with ``--persons`` persons: parameters, FLOPs and
latency, both systems timed alternately in this process
(:mod:`prtr.benchmarking.cascade`).

The measuring, the report and the chart live in :mod:`prtr.benchmarking`;
this script parses the command line. Writes a Markdown table (stdout
and ``--out``), the ratios PRTR / baseline and a PNG bar chart of those
ratios (``--chart``).
"""
import argparse
import dataclasses
import os.path as osp
import sys
import time
import warnings
from datetime import datetime, timezone
from typing import List, Optional

# mmengine and mmcv import pkg_resources: one warning per process
warnings.filterwarnings('ignore', 'pkg_resources is deprecated')

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
try:
    import prtr  # noqa: F401
except ImportError:  # a plain checkout: the package lives in projects/
    sys.path.insert(0, osp.join(ROOT, 'projects'))
    import prtr  # noqa: F401

import mmengine
import torch
from mmengine.config import DictAction
from mmengine.utils import mkdir_or_exist

from prtr.benchmarking import (DEFAULT_PAIRS, BenchmarkSettings, draw_chart,
                               render_report, run_benchmark)
from prtr.benchmarking.cascade import (render_cascade_report,
                                       run_cascade_benchmark)
from prtr.benchmarking.machine import (device_kind, machine_description,
                                       prtr_description, software_versions)
from prtr.benchmarking.measure import setup_scope


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The command line's options, checked, with their defaults."""
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
        nargs='?',
        const='float16',
        default=False,
        choices=['float16', 'bfloat16'],
        help='(GPU) autocast in float16 (the default) or bfloat16, '
        'AmpOptimWrapper for training')
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
        help='override settings of every config (with --cascade: of the '
        'cascade\'s), key=value')
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
    cas = parser.add_argument_group(
        'cascade (instead of the pairs): the end-to-end cascade vs a person '
        'detector + two-stage PRTR')
    cas.add_argument('--cascade', metavar='CONFIG', help='a cascade config')
    cas.add_argument(
        '--detector',
        help='mmdet config of the person detector (default: mmdet\'s '
        'detector of the cascade\'s person stage, e.g. '
        'mmdet::detr/detr_r50_8xb2-150e_coco.py)')
    cas.add_argument(
        '--topdown', help='two-stage PRTR config (default: PRTR R-50 384x288)')
    cas.add_argument(
        '--image-size',
        type=int,
        nargs=2,
        metavar=('W', 'H'),
        help='the synthetic image (default: the cascade\'s canvas)')
    cas.add_argument(
        '--persons',
        type=int,
        nargs='+',
        default=[1, 20],
        help='persons per image (default: 1 20; 20 is the cascade '
        'configs\' max_persons)')
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
    args = parser.parse_args(argv)
    explicit_pairs = bool(args.pair)
    args.pair = [tuple(p) for p in (args.pair or DEFAULT_PAIRS)]
    if args.cascade:
        # what only the pairs' benchmark uses
        unused = [
            name
            for name, given in (('--pair', explicit_pairs), ('--ann-file',
                                                             args.ann_file),
                                ('--data-root',
                                 args.data_root), ('--checkpoint',
                                                   args.checkpoint),
                                ('--input-size (see --image-size)',
                                 args.input_size), ('--amp', args.amp),
                                ('--chart',
                                 args.chart), ('--train-batch',
                                               args.train_batch is not None),
                                ('--batch-sizes', args.batch_sizes != [1, 32]),
                                ('--no-interleave', not args.interleave))
            if given
        ]
        if unused:
            parser.error('--cascade times the cascade against a detector + '
                         'PRTR per image; it takes no ' + ', '.join(unused))
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
    if any(n < 1 for n in args.persons):
        parser.error('--persons: at least one person per image')
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


def settings_of(args: argparse.Namespace) -> BenchmarkSettings:
    """The benchmark settings of parsed options (an option per field)."""
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(BenchmarkSettings)
        if hasattr(args, f.name)
    }
    values.update(
        pairs=args.pair,
        root=ROOT,
        input_size=tuple(args.input_size) if args.input_size else None)
    return BenchmarkSettings(**values)


def main(argv: Optional[List[str]] = None, run_job=None) -> dict:
    """Benchmark, print the report, write the report, chart and JSON.

    Args:
        argv (list, optional): the options (default: ``sys.argv[1:]``).
        run_job (callable, optional): runs one job (default: each in a
            fresh process; see :func:`prtr.benchmarking.run_benchmark`).

    Returns:
        dict: what :func:`prtr.benchmarking.run_benchmark` returns, or with
        ``--cascade`` what :func:`prtr.benchmarking.cascade.
        run_cascade_benchmark` returns plus ``meta``.
    """
    args = parse_args(argv)
    command = ' '.join(['python', osp.relpath(__file__, ROOT)] +
                       (sys.argv[1:] if argv is None else argv))
    if args.cascade:
        return cascade_main(args, command)
    settings = settings_of(args)
    kwargs = dict(run_job=run_job) if run_job else {}
    out = run_benchmark(
        settings, progress=not args.no_progress, command=command, **kwargs)
    report = render_report(settings, out['results'], out['meta'])
    print(report)
    for path in (args.out, args.chart, args.json):
        if path:
            mkdir_or_exist(osp.dirname(path))  # '' (this folder): nothing
    with open(args.out, 'w') as f:
        f.write(report)
    draw_chart(settings, out['results'], out['meta'], args.chart)
    if args.json:
        mmengine.dump(out, args.json, indent=1)
    print(f'report: {args.out}, chart: {args.chart}', file=sys.stderr)
    return out


def cascade_main(args: argparse.Namespace, command: str) -> dict:
    """The cascade against a detector + two-stage PRTR: print and write the
    report (and JSON)."""
    setup_scope()
    if args.threads:
        torch.set_num_threads(args.threads)
    t_start = time.time()
    out = run_cascade_benchmark(
        args.cascade,
        args.persons,
        detector=args.detector,
        topdown=args.topdown,
        root=ROOT,
        device=args.device,
        image_size=args.image_size,
        cfg_options=args.cfg_options,
        flip_test=args.flip_test,
        warmup=args.warmup,
        repeats=args.repeats,
        min_repeats=args.min_repeats,
        time_limit=args.time_limit)
    meta = dict(
        date=datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        machine=machine_description(args.device),
        software=software_versions(),
        device_kind=device_kind(args.device),
        device=args.device,
        prtr=prtr_description(ROOT),
        command=command,
        wall=time.time() - t_start)
    out['meta'] = meta
    report = '\n'.join(render_cascade_report(out, meta)) + '\n'
    print(report)
    for path in (args.out, args.json):
        if path:
            mkdir_or_exist(osp.dirname(path))
    with open(args.out, 'w') as f:
        f.write(report)
    if args.json:
        mmengine.dump(out, args.json, indent=1)
    print(f'report: {args.out}', file=sys.stderr)
    return out


if __name__ == '__main__':
    main()
