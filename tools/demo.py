# Copyright (c) prtr authors. All rights reserved.
"""Detect people and draw PRTR poses on an image, a folder or a video.

    python tools/demo.py CONFIG CHECKPOINT --input IMAGE|FOLDER|VIDEO \
        [--det-config DET_CONFIG [--det-checkpoint DET_CKPT]] \
        [--out-dir outputs/demo] [--pred-out-dir DIR] [--kpt-thr 0.3]
    python tools/demo.py CONFIG MODEL.onnx --backend onnxruntime --input ...
    python tools/demo.py ZOO_NAME [CHECKPOINT] --input ...  # prtr-r50-coco-384

A thin wrapper around mmpose's ``MMPoseInferencer``: it checks every path
first (one-line error naming the one at fault) and then runs the person
detector (any mmdet config, e.g. mmpose's
``demo/mmdetection_cfg/rtmdet_m_640-8xb32_coco-person.py``) and the PRTR
model. Without ``--det-config`` each image is one person box (the whole
frame). Pictures (or the video) with boxes and skeletons go to
``--out-dir``, predictions as JSON to ``--pred-out-dir``. With
``--backend onnxruntime`` the PRTR network is the export of
``tools/deployment/pytorch2onnx.py`` run by onnxruntime; preprocessing and
PRTR's Hungarian decoding are the PyTorch path's own code. CONFIG may be a
model zoo name (``configs/metafile.yml``'s Name or Alias); without
CHECKPOINT its ``Weights`` (the converted official model) is used.
"""
import argparse
import mimetypes
import os
import os.path as osp
import sys
import warnings
from typing import List

try:
    import prtr  # noqa: F401
except ImportError:  # a plain checkout: the package lives in projects/
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', 'projects'))
    import prtr  # noqa: F401

from prtr.cli import (check_checkpoint, check_config_file, check_device,
                      check_trained_model, run_cli)
from prtr.utils import UserInputError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        'config', help='PRTR config file, or a model zoo name or alias')
    parser.add_argument(
        'checkpoint',
        nargs='?',
        help='PRTR checkpoint file (--backend onnxruntime: its .onnx '
        'export; default for a zoo name: its converted official weights)')
    parser.add_argument(
        '--backend',
        choices=('pytorch', 'onnxruntime'),
        default='pytorch',
        help='what runs the PRTR network (default: %(default)s)')
    parser.add_argument(
        '--input', required=True, help='image, folder of images or video')
    parser.add_argument(
        '--det-config',
        help='mmdet person detector config (default: the whole image is '
        'the person box)')
    parser.add_argument(
        '--det-checkpoint',
        help='detector checkpoint (without it the detector has random '
        'weights and its boxes mean nothing)')
    parser.add_argument(
        '--det-cat-id',
        type=int,
        default=0,
        help='class index of "person" in the detector (default: 0)')
    parser.add_argument(
        '--out-dir',
        default='outputs/demo',
        help='where the drawn images or video go (default: %(default)s)')
    parser.add_argument(
        '--pred-out-dir', default='', help='save predictions as JSON here')
    parser.add_argument(
        '--bbox-thr', type=float, default=0.3, help='detector score thr')
    parser.add_argument(
        '--nms-thr', type=float, default=0.3, help='box NMS IoU thr')
    parser.add_argument(
        '--kpt-thr',
        type=float,
        default=0.3,
        help='draw joints whose score is above this (default: %(default)s)')
    parser.add_argument('--radius', type=int, default=3)
    parser.add_argument('--thickness', type=int, default=1)
    parser.add_argument(
        '--device', default=None, help='e.g. cpu, cuda:0 (default: auto)')
    return parser.parse_args(argv)


def readable(path: str) -> bool:
    """Whether the image decodes as mmpose's inferencer reads it (mmcv;
    OpenCV's ``imread`` returns part of a truncated JPEG, ``imdecode``
    of its bytes nothing)."""
    import mmcv
    try:
        return mmcv.imread(path) is not None
    except Exception:  # noqa: BLE001  (any decoding failure)
        return False


def readable_images(folder: str) -> List[str]:
    """The images of ``folder`` (sorted) that :func:`readable` finds
    readable; a warning on stderr names each one skipped."""
    names = sorted(
        f for f in os.listdir(folder)
        if (mimetypes.guess_type(f)[0] or '').startswith('image/'))
    if not names:
        raise UserInputError(f'input folder has no images: {folder}')
    good = []
    for name in names:
        path = osp.join(folder, name)
        if not readable(path):
            print(
                f'{osp.basename(sys.argv[0])}: warning: cannot read image '
                f'{path}, skipped',
                file=sys.stderr)
        else:
            good.append(path)
    if not good:
        raise UserInputError(f'input folder has no readable image: {folder}')
    return good


def input_kind(path: str) -> str:
    """'folder', 'image' or 'video'; a one-line error for anything else."""
    if osp.isdir(path):
        return 'folder'
    if not osp.isfile(path):
        raise UserInputError(f'input not found: {path}')
    kind = (mimetypes.guess_type(path)[0] or '').split('/')[0]
    if kind not in ('image', 'video'):
        raise UserInputError(
            f'input {path} is neither an image nor a video (by its name '
            'extension)')
    if kind == 'image':
        if not readable(path):
            raise UserInputError(f'cannot read image {path}')
    else:
        import cv2
        cap = cv2.VideoCapture(path)
        ok = cap.isOpened() and cap.read()[0]
        cap.release()
        if not ok:
            raise UserInputError(f'cannot read video {path} (no frame could '
                                 'be decoded)')
    return kind


def resolve_config(args) -> None:
    """A zoo name in place of CONFIG: its config file and, without
    CHECKPOINT, its weights."""
    if not osp.exists(args.config) and '/' not in args.config and \
            osp.splitext(args.config)[1] not in ('.py', '.json', '.yml',
                                                 '.yaml'):
        from prtr.model_zoo import resolve_model
        name = args.config
        args.config, weights = resolve_model(name)
        if args.checkpoint is None:
            if weights is None:
                raise UserInputError('this zoo model has no released weights: '
                                     'give CHECKPOINT')
            if args.backend == 'onnxruntime':
                raise UserInputError('--backend onnxruntime needs the .onnx '
                                     'file as CHECKPOINT')
            if not osp.isfile(weights):
                raise UserInputError(
                    f'{name}: its weights {weights} are not there; convert '
                    'the official release named in configs/metafile.yml '
                    "('Converted From') with tools/convert_prtr_checkpoint.py"
                    f' to {weights}, or give CHECKPOINT')
            args.checkpoint = weights
    if args.checkpoint is None:
        raise UserInputError('CHECKPOINT is needed with a config file')


def check_inputs(args) -> str:
    resolve_config(args)
    if args.backend == 'onnxruntime':
        check_config_file(args.config)
        check_device(args.device)
        if not osp.isfile(args.checkpoint):
            raise UserInputError(f'ONNX model not found: {args.checkpoint}')
    else:
        check_trained_model(args.config, args.checkpoint, args.device)
    if args.det_config:
        if not osp.isfile(args.det_config):
            raise UserInputError(
                f'detector config file not found: {args.det_config}')
        check_checkpoint(args.det_checkpoint, 'detector checkpoint')
    elif args.det_checkpoint:
        raise UserInputError('--det-checkpoint given without --det-config')
    if not 0 <= args.kpt_thr <= 1:
        raise UserInputError(f'--kpt-thr {args.kpt_thr} is not in [0, 1]')
    return input_kind(args.input)


def build_inferencer(args):
    from mmpose.apis.inferencers import MMPoseInferencer
    onnx = args.backend == 'onnxruntime'
    with warnings.catch_warnings():
        # a missing detector checkpoint is reported below, once; with
        # onnxruntime the PRTR weights are the graph's
        warnings.filterwarnings('ignore', 'Checkpoint is not loaded')
        warnings.filterwarnings('ignore', 'Can not load dataset_meta')
        inferencer = MMPoseInferencer(
            pose2d=args.config,
            pose2d_weights=None if onnx else args.checkpoint,
            det_model=args.det_config or 'whole_image',
            det_weights=args.det_checkpoint,
            det_cat_ids=args.det_cat_id,
            device=args.device)
    if onnx:
        from prtr.deployment import attach_onnxruntime
        attach_onnxruntime(inferencer.inferencer.model, args.checkpoint)
    return inferencer


def main(argv=None):
    args = parse_args(argv)
    kind = check_inputs(args)
    if args.det_config and not args.det_checkpoint:
        print('warning: no --det-checkpoint: the detector has random '
              'weights, its person boxes are arbitrary')
    inputs = readable_images(args.input) if kind == 'folder' else args.input
    inferencer = build_inferencer(args)
    num_frames = num_people = 0
    for result in inferencer(
            inputs,
            vis_out_dir=args.out_dir,
            pred_out_dir=args.pred_out_dir,
            draw_bbox=True,
            bbox_thr=args.bbox_thr,
            nms_thr=args.nms_thr,
            kpt_thr=args.kpt_thr,
            radius=args.radius,
            thickness=args.thickness):
        num_frames += 1
        num_people += sum(len(p) for p in result['predictions'])
    what = {'folder': 'images', 'image': 'image', 'video': 'video frames'}
    people = 'person' if num_people == 1 else 'people'
    print(
        f'{num_people} {people} in {num_frames} {what[kind]}; drawn in '
        f'{args.out_dir}' +
        (f', predictions in {args.pred_out_dir}' if args.pred_out_dir else ''))


if __name__ == '__main__':
    run_cli(main)
