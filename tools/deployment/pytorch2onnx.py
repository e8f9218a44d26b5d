# Copyright (c) prtr authors. All rights reserved.
"""Export a PRTR model to ONNX (two-stage or cascade).

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --out FILE.onnx \
        [--opset 17] [--atol 1e-4] [--overwrite]

The graph (``prtr.deployment``; any batch, the config's input size) is run
by ``tools/demo.py CONFIG FILE.onnx --backend onnxruntime``. It is written
only if onnxruntime runs it within ``--atol`` of PyTorch on a random batch
of 2 (traced: 1).
"""
import argparse
import os
import os.path as osp
import tempfile
from typing import List, Optional

import torch
from mmpose.apis import init_model

from prtr.cli import check_trained_model, run_cli
from prtr.deployment import (ExportGraph, OnnxRuntimeGraph, export_onnx,
                             input_hw)
from prtr.utils import UserInputError


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='PRTR config file')
    parser.add_argument('checkpoint', help='its trained checkpoint')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument('--opset', type=int, default=17, choices=range(16, 21))
    parser.add_argument('--atol', type=float, default=1e-4)
    parser.add_argument(
        '--overwrite', action='store_true', help='replace an existing --out')
    args = parser.parse_args(argv)
    if osp.exists(args.out) and not args.overwrite:
        raise UserInputError(f'--out {args.out} exists: name another file, '
                             'or pass --overwrite to replace it')
    cfg = check_trained_model(args.config, args.checkpoint, 'cpu')
    model = init_model(cfg, args.checkpoint, device='cpu')
    try:
        graph = ExportGraph(model).eval()
    except TypeError as e:
        raise UserInputError(f'{args.config}: {e}') from None
    height, width = input_hw(cfg)
    torch.manual_seed(0)
    inputs = graph.example_inputs(2, height, width)
    with torch.no_grad():
        expected = graph(*inputs)
    # written beside --out, renamed when checked
    folder = osp.dirname(osp.abspath(args.out))
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        onnx_file = osp.join(tmp, osp.basename(args.out))
        export_onnx(model, onnx_file, (1, 3, height, width), True, args.opset)
        got = OnnxRuntimeGraph(onnx_file)(*inputs)
        diff = max((a - b).abs().max().item() for a, b in zip(expected, got))
        if not diff <= args.atol:
            raise UserInputError(
                f'onnxruntime differs from PyTorch by {diff:.2e} > --atol '
                f'{args.atol:g}: the export of {args.config} is wrong (not '
                'written)')
        os.replace(onnx_file, args.out)
    print(f'{args.out}: {" + ".join(graph.input_names)} [B, 3, {height}, '
          f'{width}] -> {", ".join(graph.output_names)}; onnxruntime within '
          f'{diff:.1e} of PyTorch on a random batch of 2')


if __name__ == '__main__':
    run_cli(main)
