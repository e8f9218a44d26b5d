# Copyright (c) prtr authors. All rights reserved.
"""CPU latency of PRTR's network: onnxruntime against PyTorch, side by side.

    python tools/analysis_tools/benchmark_onnx.py [CONFIG ...] \
        [--batch-sizes 1 32] [--threads 2] [--rounds 3] [--min-run-time 1]
        [--out F.md]

For each config (default: PRTR R-50 and HRNet-W32 at 384x288), the model
with random weights (latency does not depend on them) is exported by
``prtr.deployment.export_onnx`` with a dynamic batch, then the same graph -
preprocessed crops in, the last layer's joint probabilities and
coordinates out - is timed in PyTorch (``torch.no_grad``) and in an
onnxruntime CPU session by ``torch.utils.benchmark.Timer.blocked_autorange``
in ``--rounds`` alternating rounds (PyTorch, onnxruntime, PyTorch, ...;
each round runs at least ``--min-run-time``); the table gives the median
per call over all rounds' measurements. Both use ``--threads`` threads.
Hungarian decoding, on the host in both backends, is not timed.
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
from typing import List, Optional

try:
    import prtr  # noqa: F401
except ImportError:  # a plain checkout: the package lives in projects/
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..', 'projects'))
    import prtr  # noqa: F401

import torch
import torch.utils.benchmark as benchmark
from mmengine.config import Config

from prtr.benchmarking.config import build_model, input_size_of
from prtr.benchmarking.measure import setup_scope

DEFAULT = [
    'configs/prtr_res50_4xb32-200e_coco-384x288.py',
    'configs/prtr_hrnet-w32_4xb16-200e_coco-384x288.py'
]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='*', default=DEFAULT)
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 32])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument(
        '--min-run-time',
        type=float,
        default=1.0,
        help='seconds each round of a backend runs at least')
    parser.add_argument('--out', help='write the Markdown table here too')
    return parser.parse_args(argv)


def measure(config: str, batch_sizes: List[int], threads: int, rounds: int,
            min_run_time: float) -> List[dict]:
    import onnxruntime as ort

    from prtr.deployment import ExportGraph, export_onnx
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = build_model(cfg).eval()  # random weights: no init_cfg
    graph = ExportGraph(model).eval()
    w, h = input_size_of(cfg)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        onnx_file = osp.join(tmp, 'model.onnx')
        export_onnx(model, onnx_file, (1, 3, h, w), dynamic_batch=True)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            onnx_file, options, providers=['CPUExecutionProvider'])
        for batch in batch_sizes:
            # the cascade's graph also takes pad_scale (unpadded: ones)
            x = (torch.randn(batch, 3, h, w), torch.ones(batch, 2))
            x = x[:len(graph.input_names)]
            feed = {n: t.numpy() for n, t in zip(graph.input_names, x)}

            def pytorch():
                with torch.no_grad():
                    graph(*x)

            def onnxruntime():
                session.run(None, feed)

            fns = dict(pytorch=pytorch, onnxruntime=onnxruntime)
            samples = {name: [] for name in fns}
            for fn in fns.values():
                fn()  # warm-up
            for _ in range(rounds):
                for name, fn in fns.items():
                    timer = benchmark.Timer(
                        stmt='fn()', globals=dict(fn=fn), num_threads=threads)
                    samples[name] += timer.blocked_autorange(
                        min_run_time=min_run_time).times
            times = {
                name: statistics.median(t) * 1e3
                for name, t in samples.items()
            }
            rows.append(
                dict(
                    config=osp.basename(config),
                    batch=batch,
                    pytorch_ms=times['pytorch'],
                    onnxruntime_ms=times['onnxruntime']))
    return rows


def table(rows: List[dict], threads: int) -> str:
    lines = [
        '| config | batch | PyTorch (ms) | onnxruntime (ms) | '
        'onnxruntime / PyTorch |', '|---|---|---|---|---|'
    ]
    for r in rows:
        lines.append(f'| {r["config"]} | {r["batch"]} | '
                     f'{r["pytorch_ms"]:.1f} | {r["onnxruntime_ms"]:.1f} | '
                     f'{r["onnxruntime_ms"] / r["pytorch_ms"]:.2f} |')
    import onnxruntime
    lines.append(f'\ntorch {torch.__version__}, onnxruntime '
                 f'{onnxruntime.__version__}, {threads} threads, '
                 f'{os.cpu_count()} CPUs')
    return '\n'.join(lines) + '\n'


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    setup_scope()
    torch.set_num_threads(args.threads)
    rows = []
    for config in args.configs:
        rows += measure(config, args.batch_sizes, args.threads, args.rounds,
                        args.min_run_time)
    text = table(rows, args.threads)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
