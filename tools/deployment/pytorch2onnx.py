# Copyright (c) prtr authors. All rights reserved.
"""Export a PRTR model to ONNX (two-stage or cascade).

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --out FILE.onnx \
        [--dynamic-batch | --static-batch] [--opset 17] [--shape H W]
        [--batch 1] [--overwrite]

The graph maps preprocessed images to what PRTR's inference matches on (the
last decoder layer's joint probabilities and coordinates; for the cascade
also the top persons' scores and boxes): see ``prtr.deployment``. The
Hungarian decoding runs on the host, by the same code as PyTorch inference:
``tools/demo.py CONFIG FILE.onnx --backend onnxruntime``. When onnxruntime is
installed (``pip install "prtr[deploy]"``) the export is checked: its
outputs on the traced input must be within ``--atol`` of PyTorch's.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

try:
    import prtr  # noqa: F401
except ImportError:  # a plain checkout: the package lives in projects/
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..', 'projects'))
    import prtr  # noqa: F401

from prtr.benchmarking.config import input_size_of
from prtr.cli import check_trained_model, run_cli
from prtr.engine import commit_file
from prtr.utils import UserInputError


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='PRTR config file')
    parser.add_argument('checkpoint', help='its trained checkpoint')
    parser.add_argument('--out', required=True, help='the .onnx file')
    batch = parser.add_mutually_exclusive_group()
    batch.add_argument(
        '--dynamic-batch',
        dest='dynamic_batch',
        action='store_true',
        default=True,
        help='any batch size (the default: a top-down model sees all the '
        'persons of an image in one batch, twice with flip test)')
    batch.add_argument(
        '--static-batch',
        dest='dynamic_batch',
        action='store_false',
        help='only batches of --batch')
    parser.add_argument('--opset', type=int, default=17, help='>= 16')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='input height and width (default: the test pipeline\'s size)')
    parser.add_argument(
        '--batch', type=int, default=1, help='batch of the traced input')
    parser.add_argument(
        '--atol',
        type=float,
        default=1e-4,
        help='largest difference of onnxruntime from PyTorch accepted by '
        'the check (default: %(default)s)')
    parser.add_argument(
        '--overwrite', action='store_true', help='replace an existing --out')
    return parser.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    if args.opset < 16:
        raise UserInputError(f'--opset {args.opset}: PRTR needs >= 16 '
                             '(GridSample, LayerNormalization fused later)')
    if args.batch < 1:
        raise UserInputError(f'--batch {args.batch} must be >= 1')
    if osp.isdir(args.out):
        raise UserInputError(f'--out {args.out} is a folder: name the .onnx '
                             'file to write')
    if osp.exists(args.out) and not args.overwrite:
        raise UserInputError(f'--out {args.out} exists: name another file, '
                             'or pass --overwrite to replace it')
    if not osp.isdir(osp.dirname(osp.abspath(args.out))):
        raise UserInputError(
            f'output folder not found: {osp.dirname(args.out)}')


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    check_args(args)
    cfg = check_trained_model(args.config, args.checkpoint, 'cpu')
    import torch
    from mmpose.apis import init_model

    from prtr.deployment import ExportGraph, OnnxRuntimeGraph, export_onnx
    model = init_model(cfg, args.checkpoint, device='cpu')
    try:
        graph = ExportGraph(model).eval()
    except TypeError as e:
        raise UserInputError(f'{args.config}: {e}') from None
    try:
        h, w = args.shape or input_size_of(cfg)[::-1]
    except ValueError as e:
        raise UserInputError(f'{args.config}: {e}: give --shape H W') from None
    shape = (args.batch, 3, h, w)
    folder = osp.dirname(osp.abspath(args.out))
    tmp = osp.join(folder, f'.{osp.basename(args.out)}.tmp-{os.getpid()}')
    try:
        export_onnx(model, tmp, shape, args.dynamic_batch, args.opset)
        check = 'not checked (onnxruntime is not installed)'
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            pass
        else:
            # a batch of another size where the graph allows it
            batch = args.batch + 1 if args.dynamic_batch else args.batch
            torch.manual_seed(0)
            inputs = [torch.randn(batch, 3, h, w)]
            if len(graph.input_names) == 2:
                inputs.append(torch.ones(batch, 2))
            with torch.no_grad():
                expected = graph(*inputs)
            got = OnnxRuntimeGraph(tmp)(*inputs)
            diff = max((a - b).abs().max().item() if a.numel() else 0.0
                       for a, b in zip(expected, got))
            if not diff <= args.atol:
                raise UserInputError(
                    f'onnxruntime differs from PyTorch by {diff:.2e} > --atol '
                    f'{args.atol:g} on a random batch of {batch}: the export '
                    f'of {args.config} is wrong (not written)')
            check = (f'onnxruntime within {diff:.1e} of PyTorch on a random '
                     f'batch of {batch}')
        commit_file(tmp, args.out)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    print(f'{args.out}: {" + ".join(graph.input_names)} '
          f'[{"B" if args.dynamic_batch else args.batch}, 3, {h}, {w}] -> '
          f'{", ".join(graph.output_names)}; {check}')


if __name__ == '__main__':
    run_cli(main)
