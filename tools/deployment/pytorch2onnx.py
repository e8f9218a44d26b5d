# Copyright (c) prtr authors. All rights reserved.
"""Export a PRTR model to ONNX, checked on onnxruntime before it is
written (docs/deployment.md)."""
import argparse
import io
import os.path as osp
from typing import List, Optional

import torch
from mmengine.fileio import put
from mmpose.apis import init_model

from prtr.cli import check_trained_model, run_cli
from prtr.deployment import OnnxRuntimeGraph, export_onnx, input_hw
from prtr.utils import UserInputError


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='PRTR config file')
    parser.add_argument('checkpoint', help='its trained checkpoint')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument('--opset', type=int, default=17, choices=range(16, 21))
    parser.add_argument('--atol', type=float, default=1e-4, help='vs PyTorch')
    parser.add_argument(
        '--overwrite', action='store_true', help='replace an existing --out')
    args = parser.parse_args(argv)
    if osp.exists(args.out) and not args.overwrite:
        raise UserInputError(f'--out {args.out} exists: name another file, '
                             'or pass --overwrite to replace it')
    cfg = check_trained_model(args.config, args.checkpoint, 'cpu')
    model = init_model(cfg, args.checkpoint, device='cpu')
    height, width = input_hw(cfg)
    onnx = io.BytesIO()  # traced at batch 1, run at any
    graph = export_onnx(model, onnx, (1, 3, height, width), True, args.opset)
    torch.manual_seed(0)
    inputs = graph.example_inputs(2, height, width)
    with torch.no_grad():
        expected = graph(*inputs)
    got = OnnxRuntimeGraph(onnx.getvalue())(*inputs)
    diff = max((a - b).abs().max().item() for a, b in zip(expected, got))
    if not diff <= args.atol:
        raise UserInputError(
            f'onnxruntime differs from PyTorch by {diff:.2e} > --atol '
            f'{args.atol:g}: {args.out} not written')
    # complete or absent (prtr.engine.AtomicLocalBackend)
    put(onnx.getvalue(), args.out, backend_args=dict(backend='atomic_local'))
    print(f'{args.out}: onnxruntime within {diff:.1e} of PyTorch')


if __name__ == '__main__':
    run_cli(main)
