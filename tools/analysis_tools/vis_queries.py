# Copyright (c) prtr authors. All rights reserved.
"""Draw what every keypoint query of a PRTR model predicts for one person.

    python tools/analysis_tools/vis_queries.py CONFIG CHECKPOINT --out Q.png \
        [--person INDEX | --img IMAGE --bbox X1 Y1 X2 Y2] [--layer -1]

The person (a sample of the config's test dataset, or a box in an image)
goes through the test pipeline and the model. Left, the crop with every
query's point in its likeliest joint's colour (grey: "no keypoint"), sized
by its largest joint probability; the queries of the head's Hungarian
matching ringed and joined by the skeleton; ground truth as white crosses.
Right, the K x N joint probabilities that the matching runs on.
"""
import argparse
from typing import List, Optional, Tuple

import cv2
import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.structures import InstanceData
from mmpose.apis import init_model
from mmpose.registry import DATASETS
from mmpose.structures import PoseDataSample
from mmpose.structures.bbox import get_warp_matrix
from mmpose.visualization import PoseLocalVisualizer

from prtr.cli import check_config_file, check_trained_model, run_cli
from prtr.models.heads.prtr_head import (hungarian_decode,
                                         keypoint_probabilities)
from prtr.utils import UserInputError

CROP_HEIGHT = 512  # pixels of the drawn crop
CELL = 16  # pixels of a cell of the matrix
RING = 12  # radius of the rings around the matched queries
LABELS = 150  # pixels left of the matrix for the joint names
GREY = (158, 158, 158)
WHITE = (255, 255, 255)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='top-down PRTR config file')
    parser.add_argument('checkpoint', help='its checkpoint')
    parser.add_argument('--out', required=True, help='the picture (PNG)')
    parser.add_argument(
        '--person', type=int, default=0, help='index in the test dataset')
    parser.add_argument('--img', help='an image, with --bbox')
    parser.add_argument(
        '--bbox', type=float, nargs=4, metavar=('X1', 'Y1', 'X2', 'Y2'))
    parser.add_argument(
        '--layer', type=int, default=-1, help='decoder layer (-1: the last)')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def person_sample(model: torch.nn.Module, args: argparse.Namespace) -> dict:
    """The person through the config's test pipeline, packed."""
    dataset_cfg = model.cfg.test_dataloader.dataset
    if args.img is None:
        dataset = DATASETS.build(dataset_cfg)
        if not 0 <= args.person < len(dataset):
            raise UserInputError(
                f'--person {args.person} is out of range: the test dataset '
                f'has {len(dataset)} people')
        return dataset[args.person]
    return Compose(dataset_cfg.pipeline)(
        dict(
            img_path=args.img,
            bbox=np.array([args.bbox], np.float32),
            bbox_score=np.ones(1, np.float32),
            **model.dataset_meta))


def layer_outputs(model: torch.nn.Module, sample: dict,
                  layer: int) -> Tuple[torch.Tensor, np.ndarray]:
    """One decoder layer's class logits ``[N, K+1]`` and points in crop
    pixels ``[N, 2]``."""
    batch = model.data_preprocessor(pseudo_collate([sample]))
    with torch.no_grad():
        logits, points = model.head(model.extract_feat(batch['inputs']))
    if not -len(logits) <= layer < len(logits):
        raise UserInputError(f'--layer {layer} is out of range: the model '
                             f'has {len(logits)} decoder layers')
    input_size = sample['data_samples'].metainfo['input_size']
    return logits[layer, 0].cpu(), points[layer, 0].cpu().numpy() * input_size


def draw_crop(vis: PoseLocalVisualizer, sample: dict, probs: torch.Tensor,
              points: np.ndarray, matched: np.ndarray) -> np.ndarray:
    """The crop, 512 px high, with every query's point (``probs``: softmax
    over the K+1 classes ``[N, K+1]``), the matched queries' rings and
    skeleton, and the visible ground-truth joints."""
    crop = sample['inputs'].permute(1, 2, 0).numpy()[..., ::-1]  # RGB
    scale = CROP_HEIGHT / crop.shape[0]
    crop = mmcv.imrescale(np.ascontiguousarray(crop), scale)
    points = points * scale
    skeleton = PoseDataSample(
        pred_instances=InstanceData(
            keypoints=points[None, matched],
            keypoint_scores=np.ones((1, len(matched)))))
    vis.set_image(vis.add_datasample('', crop, skeleton, draw_gt=False))
    joint_colors = [tuple(c) for c in vis.dataset_meta['keypoint_colors']]
    colors = [
        joint_colors[j] if j < len(matched) else GREY
        for j in probs.argmax(-1).tolist()
    ]  # the last class: "no keypoint"
    vis.draw_points(
        points, colors=colors, sizes=10 + 120 * probs[:, :-1].max(-1)[0])
    vis.draw_circles(
        points[matched],
        np.full(len(matched), RING),
        edge_colors=joint_colors,
        line_widths=2)
    gt = sample['data_samples'].gt_instances
    if 'keypoints' in gt:  # image pixels -> crop pixels, as TopdownAffine
        meta = sample['data_samples'].metainfo
        warp = get_warp_matrix(meta['input_center'], meta['input_scale'], 0,
                               meta['input_size'])
        joints = cv2.transform(gt.keypoints[:1], warp)[0]
        shown = (gt.keypoints_visible[0] > 0) & (joints >= 0).all(1) & (
            joints < meta['input_size']).all(1)  # visible, in the crop
        vis.draw_points(joints[shown] * scale, 'white', marker='x', sizes=40)
    return vis.get_image()


def draw_matrix(vis: PoseLocalVisualizer, probs: torch.Tensor,
                matched: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The joint probabilities (``probs`` ``[N, K]``) as a K x N matrix,
    the matched cells outlined, each row named with its score."""
    heat = cv2.applyColorMap((probs.T.numpy() * 255).astype(np.uint8),
                             cv2.COLORMAP_VIRIDIS)[..., ::-1]
    heat = mmcv.imrescale(heat, CELL, interpolation='nearest')
    image = np.full((len(heat), LABELS + heat.shape[1], 3), WHITE, np.uint8)
    image[:, LABELS:] = heat
    vis.set_image(image)
    rows = np.arange(len(matched)) * CELL
    left = LABELS + matched * CELL
    vis.draw_bboxes(
        np.stack([left, rows, left + CELL, rows + CELL], 1),
        edge_colors='red',
        line_widths=2)
    names = vis.dataset_meta['keypoint_id2name']
    vis.draw_texts(
        [f'{names[j]} {s:.2f}' for j, s in enumerate(scores)],
        np.stack([np.full_like(rows, 4), rows + CELL // 2], 1),
        colors=[tuple(c) for c in vis.dataset_meta['keypoint_colors']],
        font_sizes=9,
        vertical_alignments='center')
    return vis.get_image()


def main(argv: Optional[List[str]] = None) -> dict:
    """Check the inputs, run the model, draw; returns the matched query
    of every joint and its score."""
    args = parse_args(argv)
    check_config_file(args.config)
    model_type = Config.fromfile(args.config).model.type
    if model_type != 'TopdownPoseEstimator':
        raise UserInputError(
            f'{args.config} is a {model_type} config: the query picture is '
            'drawn for a top-down PRTR model')
    x1, y1, x2, y2 = args.bbox or (0, 0, 1, 1)
    if not (x2 > x1 and y2 > y1):
        raise UserInputError('--bbox needs X2 > X1 and Y2 > Y1')
    if (args.img is None) != (args.bbox is None):
        raise UserInputError('--img and --bbox go together')
    check_trained_model(args.config, args.checkpoint, args.device)
    model = init_model(args.config, args.checkpoint, device=args.device)
    sample = person_sample(model, args)
    logits, points = layer_outputs(model, sample, args.layer)
    _, scores, matched = hungarian_decode(logits[None],
                                          torch.from_numpy(points)[None])
    scores, matched = scores[0].numpy(), matched[0].numpy()
    vis = PoseLocalVisualizer(radius=4, line_width=3, backend='matplotlib')
    vis.set_dataset_meta(model.dataset_meta)
    panels = [
        draw_crop(vis, sample, logits.softmax(-1), points, matched),
        draw_matrix(vis, keypoint_probabilities(logits), matched, scores)
    ]
    height = max(len(panel) for panel in panels)
    panels = [
        mmcv.impad(panel, shape=(height, panel.shape[1]), pad_val=WHITE)
        for panel in panels
    ]
    mmcv.imwrite(np.concatenate(panels, 1)[..., ::-1], args.out)
    print(f'{len(matched)} joints matched to queries {matched.tolist()}, '
          f'mean score {scores.mean():.3f}; picture: {args.out}')
    return dict(matched=matched, scores=scores)


if __name__ == '__main__':
    run_cli(main)
