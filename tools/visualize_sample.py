# Copyright (c) prtr authors. All rights reserved.
"""Draw a PRTR model's predictions on one image of a COCO-style dataset.

    python tools/visualize_sample.py CONFIG CHECKPOINT --out pred.jpg \
        [--ann-file A.json --img-dir DIR --img-id ID]

Person boxes are the image's ground-truth boxes (this is a top-down model:
use mmpose's demo/topdown_demo_with_mmdet.py for detected boxes).
"""
import argparse
import json
import os.path as osp
import sys

try:
    import prtr  # noqa: F401
except ImportError:  # a plain checkout: the package lives in projects/
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', 'projects'))
    import prtr  # noqa: F401

import mmcv
import numpy as np
from mmpose.apis import inference_topdown, init_model
from mmpose.registry import VISUALIZERS
from mmpose.structures import merge_data_samples

from prtr.cli import check_trained_model, run_cli
from prtr.utils import UserInputError

DATA = 'data/coco_persons_mini'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='output image file')
    parser.add_argument(
        '--ann-file',
        default=f'{DATA}/annotations/person_keypoints_train2017.json')
    parser.add_argument('--img-dir', default=f'{DATA}/train2017')
    parser.add_argument(
        '--img-id',
        type=int,
        default=None,
        help='image id (default: the image with the most people)')
    parser.add_argument('--kpt-thr', type=float, default=0.3)
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def load_boxes(ann_file, img_id):
    if not osp.isfile(ann_file):
        raise UserInputError(f'annotation file not found: {ann_file}')
    try:
        with open(ann_file) as f:
            coco = json.load(f)
    except json.JSONDecodeError as e:
        raise UserInputError(f'annotation file {ann_file} is not valid '
                             f'JSON: {e}') from e
    anns = [
        a for a in coco['annotations']
        if not a.get('iscrowd') and a.get('num_keypoints', 0) > 0
    ]
    if img_id is None:
        counts = {}
        for a in anns:
            counts[a['image_id']] = counts.get(a['image_id'], 0) + 1
        img_id = max(counts, key=counts.get)
    images = {im['id']: im for im in coco['images']}
    if img_id not in images:
        raise UserInputError(f'image id {img_id} is not in {ann_file}')
    boxes = np.array([a['bbox'] for a in anns if a['image_id'] == img_id],
                     dtype=np.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]  # xywh -> xyxy
    return images[img_id]['file_name'], boxes


def main(argv=None):
    args = parse_args(argv)
    check_trained_model(args.config, args.checkpoint, args.device)
    file_name, boxes = load_boxes(args.ann_file, args.img_id)
    img_path = osp.join(args.img_dir, file_name)
    try:
        img = mmcv.imread(img_path, channel_order='rgb')
    except Exception as e:  # noqa: BLE001
        raise UserInputError(f'cannot read image {img_path}: {e}') from e
    if img is None:
        raise UserInputError(f'cannot read image {img_path}')
    model = init_model(args.config, args.checkpoint, device=args.device)
    results = merge_data_samples(inference_topdown(model, img_path, boxes))
    visualizer = VISUALIZERS.build(model.cfg.visualizer)
    visualizer.set_dataset_meta(model.dataset_meta)
    visualizer.add_datasample(
        'prediction',
        img,
        data_sample=results,
        draw_gt=False,
        draw_bbox=True,
        kpt_thr=args.kpt_thr,
        show=False,
        out_file=args.out)
    print(f'{len(boxes)} people in {img_path}; picture: {args.out}')


if __name__ == '__main__':
    run_cli(main)
