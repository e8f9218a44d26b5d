# Copyright (c) prtr authors. All rights reserved.
"""CPU latency of PRTR's network: onnxruntime against PyTorch, side by side.

    python tools/analysis_tools/benchmark_onnx.py [CONFIG ...] \
        [--batch-sizes 1 32] [--threads 2] [--rounds 3] [--min-run-time 1]
        [--out F.md]

Each config's graph (``prtr.deployment``; random weights) is timed in
PyTorch (``no_grad``) and in an onnxruntime CPU session on ``--threads``
threads, by ``torch.utils.benchmark``'s ``blocked_autorange``, the two
in alternating rounds: median per call over all rounds.
"""
import argparse
import io
import os
import os.path as osp
from typing import List, Optional

import onnxruntime as ort
import torch
import torch.utils.benchmark as benchmark
from mmengine.config import Config
from mmpose.apis import init_model

from prtr.deployment import ExportGraph, export_onnx, input_hw

DEFAULT = [
    'configs/prtr_res50_4xb32-200e_coco-384x288.py',
    'configs/prtr_hrnet-w32_4xb16-200e_coco-384x288.py'
]


def measure(config: str, args: argparse.Namespace) -> List[str]:
    """The config's table rows, one per batch size."""
    cfg = Config.fromfile(config)
    model = init_model(cfg, device='cpu')  # random weights
    graph = ExportGraph(model).eval()
    height, width = input_hw(cfg)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    onnx_file = io.BytesIO()
    export_onnx(model, onnx_file, (1, 3, height, width), True)
    session = ort.InferenceSession(
        onnx_file.getvalue(), options, providers=['CPUExecutionProvider'])
    rows = []
    for batch in args.batch_sizes:
        inputs = graph.example_inputs(batch, height, width)
        feeds = {n: t.numpy() for n, t in zip(graph.input_names, inputs)}
        env = dict(graph=graph, inputs=inputs, session=session, feeds=feeds)
        timers = [
            benchmark.Timer(stmt, globals=env, num_threads=args.threads)
            for stmt in ('graph(*inputs)', 'session.run(None, feeds)')
        ]
        runs = [[
            timer.blocked_autorange(min_run_time=args.min_run_time)
            for timer in timers
        ] for _ in range(args.rounds)]
        pytorch_ms, ort_ms = (
            benchmark.Measurement.merge(m)[0].median * 1e3 for m in zip(*runs))
        rows.append(f'| {osp.basename(config)} | {batch} | {pytorch_ms:.1f} '
                    f'| {ort_ms:.1f} | {ort_ms / pytorch_ms:.2f} |')
    return rows


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='*', default=DEFAULT)
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[1, 32])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--min-run-time', type=float, default=1.0)
    parser.add_argument('--out', help='write the Markdown table here too')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    lines = [
        '| config | batch | PyTorch (ms) | onnxruntime (ms) | '
        'onnxruntime / PyTorch |', '|---|---|---|---|---|'
    ]
    with torch.no_grad():  # PyTorch's inference mode
        for config in args.configs:
            lines += measure(config, args)
    lines.append(f'\ntorch {torch.__version__}, onnxruntime {ort.__version__}'
                 f', {args.threads} threads, {os.cpu_count()} CPUs')
    text = '\n'.join(lines) + '\n'
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
