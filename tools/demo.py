# Copyright (c) prtr authors. All rights reserved.
"""Detect people and draw PRTR poses on an image, a folder or a video.

    python tools/demo.py CONFIG|ZOO_NAME [CHECKPOINT] --input PATH \
        [--det-config DET_CONFIG --det-checkpoint DET_CKPT] [--out-dir DIR]
    python tools/demo.py CONFIG MODEL.onnx --backend onnxruntime --input ...

mmpose's ``MMPoseInferencer`` detects (without ``--det-config`` the whole
frame is the person box), runs PRTR and draws. This script resolves zoo
names and checks the inputs the inferencer would meet with a traceback.
"""
import argparse
import mimetypes
import os
import os.path as osp
import sys
from typing import List, Optional, Union

import mmcv
from mmpose.apis import MMPoseInferencer

from prtr.cli import (check_checkpoint, check_config_file, check_device,
                      check_trained_model, run_cli)
from prtr.utils import UserInputError


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='PRTR config file or model zoo name')
    parser.add_argument(
        'checkpoint', nargs='?', help='(.onnx for --backend onnxruntime)')
    parser.add_argument(
        '--backend', choices=('pytorch', 'onnxruntime'), default='pytorch')
    parser.add_argument(
        '--input', required=True, help='image, folder of images or video')
    parser.add_argument('--det-config', help='mmdet person detector config')
    parser.add_argument('--det-checkpoint', help='detector checkpoint')
    parser.add_argument('--out-dir', default='outputs/demo')
    parser.add_argument('--pred-out-dir', default='')
    parser.add_argument('--kpt-thr', type=float, default=0.3)
    parser.add_argument('--device', default=None, help='default: auto')
    return parser.parse_args(argv)


def resolve_zoo_name(args: argparse.Namespace) -> None:
    """Replace a zoo name in ``args.config`` by its config file and, without
    a checkpoint, take the zoo's weights."""
    if osp.exists(args.config) or osp.splitext(args.config)[1]:
        return
    from prtr.model_zoo import resolve_model
    args.config, weights = resolve_model(args.config)
    if args.checkpoint is None and weights is None:
        raise UserInputError('this zoo model has no released weights: give '
                             'CHECKPOINT')
    if args.checkpoint is None and not osp.isfile(weights):
        raise UserInputError(
            f'the zoo weights {weights} are not there: convert the official '
            "release of configs/metafile.yml ('Converted From') with "
            f'tools/convert_prtr_checkpoint.py to {weights}')
    args.checkpoint = args.checkpoint or weights


def inputs_of(path: str) -> Union[str, List[str]]:
    """``path``, or the images of a folder that can be read. mmcv, which
    the inferencer reads with, decodes none of a truncated JPEG; the
    inferencer stops at such an image with a traceback, this names it."""
    if not osp.exists(path):
        raise UserInputError(f'input not found: {path}')
    if not osp.isdir(path):
        is_image = (mimetypes.guess_type(path)[0] or '').startswith('image')
        if is_image and mmcv.imread(path) is None:
            raise UserInputError(f'cannot read image {path}')
        return path
    images = []
    for name in sorted(os.listdir(path)):
        image = osp.join(path, name)
        if not (mimetypes.guess_type(name)[0] or '').startswith('image'):
            continue
        if mmcv.imread(image) is not None:
            images.append(image)
        else:
            print(
                f'warning: cannot read image {image}, skipped',
                file=sys.stderr)
    return images


def main(argv: Optional[List[str]] = None) -> None:
    """Check the inputs, then run and draw with ``MMPoseInferencer``."""
    args = parse_args(argv)
    resolve_zoo_name(args)
    if args.checkpoint is None:
        raise UserInputError('CHECKPOINT is needed with a config file')
    onnx = args.backend == 'onnxruntime'
    if onnx:
        check_config_file(args.config)
        check_device(args.device)
    else:
        check_trained_model(args.config, args.checkpoint, args.device)
    if args.det_config:
        check_config_file(args.det_config)
        check_checkpoint(args.det_checkpoint)
    inputs = inputs_of(args.input)
    inferencer = MMPoseInferencer(
        pose2d=args.config,
        pose2d_weights=None if onnx else args.checkpoint,
        det_model=args.det_config or 'whole_image',
        det_weights=args.det_checkpoint,
        det_cat_ids=0,
        device=args.device)
    if onnx:
        from prtr.deployment import attach_onnxruntime
        attach_onnxruntime(inferencer.inferencer.model, args.checkpoint)
    results = list(
        inferencer(
            inputs,
            vis_out_dir=args.out_dir,
            pred_out_dir=args.pred_out_dir,
            draw_bbox=True,
            kpt_thr=args.kpt_thr))
    people = sum(len(r['predictions'][0]) for r in results)
    print(f'{people} {"person" if people == 1 else "people"} in '
          f'{len(results)} {"image" if len(results) == 1 else "images"}; '
          f'drawn in {args.out_dir}')


if __name__ == '__main__':
    run_cli(main)
