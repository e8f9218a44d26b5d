# Copyright (c) prtr authors. All rights reserved.
"""Draw what every keypoint query of a PRTR model predicts for one person.

    python tools/analysis_tools/vis_queries.py CONFIG CHECKPOINT \
        --out query_vis.png [--ann-file A.json --img-dir DIR] \
        [--person INDEX | --ann-id ID] [--layer -1]
    python tools/analysis_tools/vis_queries.py CONFIG CHECKPOINT \
        --out query_vis.png --img IMAGE --bbox X1 Y1 X2 Y2

The person box (a ground-truth box of a COCO annotation file, or one given
in pixels) goes through the config's test pipeline; the model's backbone,
neck and head give every decoder layer's class logits ``[N, K+1]`` and
points ``[N, 2]``; the joints are matched to queries by the head's own
``hungarian_decode`` (as inference does, without flip test). One PNG:

* left, the person crop with every query's point, coloured by its most
  likely class (argmax over the K+1 classes; grey when it is "no
  keypoint"), its area proportional to its largest joint probability (of
  the softmax over the K+1 classes); the Hungarian-matched queries are
  ringed and named, their points joined by the dataset's skeleton (drawn
  by mmpose's ``PoseLocalVisualizer``); ground truth joints (annotation
  input) are small black crosses;
* right, the K x N matrix of softmax over the K joint logits (the matrix
  inference matches on), joints on rows, queries on columns, matched cells
  outlined.

The drawing lives in :mod:`prtr.visualization`; this script parses the
command line and checks its inputs.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

os.environ.setdefault('MPLBACKEND', 'Agg')  # files only, no window

try:
    import prtr  # noqa: F401
except ImportError:  # a plain checkout: the package lives in projects/
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..', 'projects'))
    import prtr  # noqa: F401

import numpy as np
from mmengine.config import Config

from prtr.cli import check_config_file, check_trained_model, run_cli
from prtr.utils import UserInputError
from prtr.visualization import (QueryVisualizer, load_person, query_points,
                                run_model)

DATA = 'data/coco_persons_mini'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='PRTR config file')
    parser.add_argument('checkpoint', help='PRTR checkpoint file')
    parser.add_argument('--out', required=True, help='output PNG file')
    parser.add_argument(
        '--ann-file',
        default=f'{DATA}/annotations/person_keypoints_train2017.json',
        help='COCO keypoint annotations (default: %(default)s)')
    parser.add_argument(
        '--img-dir',
        default=f'{DATA}/train2017',
        help='images of --ann-file (default: %(default)s)')
    who = parser.add_mutually_exclusive_group()
    who.add_argument(
        '--person',
        type=int,
        default=None,
        help='index of the person among the non-crowd annotations of '
        '--ann-file, in file order (default: 0)')
    who.add_argument('--ann-id', type=int, help='annotation id of the person')
    parser.add_argument(
        '--img', help='an image, with --bbox instead of an annotation file')
    parser.add_argument(
        '--bbox',
        type=float,
        nargs=4,
        metavar=('X1', 'Y1', 'X2', 'Y2'),
        help='person box in --img, in pixels')
    parser.add_argument(
        '--layer',
        type=int,
        default=-1,
        help='decoder layer to show (default: -1, the last one, which '
        'inference uses)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--dpi', type=int, default=100)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> dict:
    """Check the inputs, run the model, draw; returns the matched queries
    and their scores."""
    args = parse_args(argv)
    check_config_file(args.config)
    model_type = Config.fromfile(args.config).model.get('type')
    from mmpose.models import TopdownPoseEstimator
    from mmpose.registry import MODELS
    if not (isinstance(model_type, str) and issubclass(
            MODELS.get(model_type) or object, TopdownPoseEstimator)):
        raise UserInputError(
            f'{args.config} is a {model_type} config: the query picture is '
            'drawn for a top-down PRTR model (one person crop through '
            'PRTRHead)')
    check_trained_model(args.config, args.checkpoint, args.device)
    gt_kpts = None
    if args.img or args.bbox:
        if not (args.img and args.bbox):
            raise UserInputError('--img and --bbox go together')
        if args.person is not None or args.ann_id is not None:
            raise UserInputError(
                '--person/--ann-id pick from --ann-file: not with --img')
        img_path, bbox = args.img, np.array(args.bbox, np.float32)
        if not (bbox[2] > bbox[0] and bbox[3] > bbox[1]):
            raise UserInputError(f'--bbox {" ".join(map(str, args.bbox))}: '
                                 'needs X2 > X1 and Y2 > Y1')
        who = f'box {[round(float(v), 1) for v in bbox]}'
    else:
        person = load_person(args.ann_file, args.person, args.ann_id)
        img_path = osp.join(args.img_dir, person.file_name)
        bbox, gt_kpts = person.bbox, person.keypoints
        who = f'annotation {person.ann_id}'
    if not osp.isfile(img_path):
        raise UserInputError(f'image not found: {img_path}')
    import cv2
    img = cv2.imread(img_path)
    if img is None:
        raise UserInputError(f'cannot read image {img_path}')
    height, width = img.shape[:2]
    if bbox[0] >= width or bbox[1] >= height or bbox[2] <= 0 or bbox[3] <= 0:
        raise UserInputError(f'person box {bbox.tolist()} lies outside '
                             f'{img_path} ({width}x{height})')

    from mmpose.apis import init_model
    model = init_model(args.config, args.checkpoint, device=args.device)
    out = run_model(model, img_path, bbox, gt_kpts)
    num_layers = out.cls_scores.size(0)
    if not -num_layers <= args.layer < num_layers:
        raise UserInputError(f'--layer {args.layer} is out of range: the '
                             f'model has {num_layers} decoder layers')
    layer = args.layer % num_layers
    title = (f'{osp.basename(img_path)}, {who}: decoder layer {layer + 1} '
             f'of {num_layers} ({osp.basename(args.checkpoint)})')
    h, w = out.crop.shape[:2]
    points = query_points(model.head, out.kpt_preds[layer], (w, h))
    result = QueryVisualizer(
        model.dataset_meta,
        dpi=args.dpi).draw(args.out, out.crop, out.cls_scores[layer], points,
                           title, out.gt)
    print(f'{len(result["matched"])} joints matched to queries '
          f'{result["matched"].tolist()}, mean score '
          f'{result["scores"].mean():.3f}; picture: {args.out}')
    return result


if __name__ == '__main__':
    run_cli(main)
