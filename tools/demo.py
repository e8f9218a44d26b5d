# Copyright (c) prtr authors. All rights reserved.
"""Detect people and draw PRTR poses on an image, a folder or a video
(mmpose's ``MMPoseInferencer`` does it; README, "Demos")."""
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
from prtr.deployment import attach_onnxruntime
from prtr.model_zoo import resolve_model
from prtr.utils import UserInputError


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='PRTR config file or model zoo name')
    parser.add_argument(
        'checkpoint', nargs='?', help='(.onnx for --backend onnxruntime)')
    parser.add_argument(
        '--backend', choices=('pytorch', 'onnxruntime'), default='pytorch')
    parser.add_argument('--input', required=True, help='image, folder, video')
    parser.add_argument('--det-config', help='mmdet person detector config')
    parser.add_argument('--det-checkpoint', help='detector checkpoint')
    parser.add_argument('--out-dir', default='outputs/demo')
    parser.add_argument('--pred-out-dir', default='')
    parser.add_argument('--kpt-thr', type=float, default=0.3)
    parser.add_argument('--device', default=None, help='default: auto')
    return parser.parse_args(argv)


def is_image(path: str) -> bool:
    """Whether ``path`` names an image, as the inferencer decides it."""
    return (mimetypes.guess_type(path)[0] or '').startswith('image/')


def readable(path: str) -> bool:
    """Whether mmcv decodes the image (an empty file makes it raise)."""
    try:
        return mmcv.imread(path) is not None
    except Exception:  # noqa: BLE001  (cv2.error and the like)
        return False


def inputs_of(path: str) -> Union[str, List[str]]:
    """``path``, or the images of a folder. The inferencer stops with a
    traceback at an image mmcv cannot decode (a truncated JPEG too): here
    it is named, and skipped in a folder."""
    if not osp.exists(path):
        raise UserInputError(f'input not found: {path}')
    if not osp.isdir(path):
        if is_image(path) and not readable(path):
            raise UserInputError(f'cannot read image {path}')
        return path
    images = [osp.join(path, n) for n in os.listdir(path) if is_image(n)]
    good = sorted(filter(readable, images))
    for image in sorted(set(images) - set(good)):
        print(f'warning: cannot read image {image}, skipped', file=sys.stderr)
    if not good:
        raise UserInputError(f'no readable image in {path}')
    return good


def main(argv: Optional[List[str]] = None) -> None:
    """Check the inputs, then run and draw with ``MMPoseInferencer``."""
    args = parse_args(argv)
    if not osp.exists(args.config) and not osp.splitext(args.config)[1]:
        args.config, weights = resolve_model(args.config)  # a zoo name
        args.checkpoint = args.checkpoint or weights
    if args.checkpoint is None:
        raise UserInputError(f'{args.config} has no released weights: give '
                             'CHECKPOINT')
    check_config_file(args.config)
    check_device(args.device)
    onnx = args.backend == 'onnxruntime'
    if not onnx:  # attach_onnxruntime checks the .onnx file
        check_trained_model(args.config, args.checkpoint, args.device)
    if args.det_checkpoint and not args.det_config:
        raise UserInputError('--det-checkpoint needs --det-config')
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
        attach_onnxruntime(inferencer.inferencer.model, args.checkpoint)
    results = list(
        inferencer(
            inputs,
            vis_out_dir=args.out_dir,
            pred_out_dir=args.pred_out_dir,
            draw_bbox=True,
            kpt_thr=args.kpt_thr))
    people = sum(len(r['predictions'][0]) for r in results)
    print(f'{people} person(s) in {len(results)} frame(s); drawn in '
          f'{args.out_dir}')


if __name__ == '__main__':
    run_cli(main)
