# Copyright (c) prtr authors. All rights reserved.
"""Draw what every keypoint query of a PRTR model predicts for one person.

See README, "Query visualisation"."""
import argparse
from typing import List, Optional, Tuple

import mmcv
import numpy as np
import torch
from matplotlib import colormaps
from mmengine.dataset import Compose, pseudo_collate
from mmengine.structures import InstanceData
from mmpose.apis import init_model
from mmpose.registry import DATASETS
from mmpose.structures import PoseDataSample
from mmpose.visualization import PoseLocalVisualizer

from prtr.cli import check_trained_model, run_cli
from prtr.models.heads.prtr_head import (hungarian_decode,
                                         keypoint_probabilities)
from prtr.utils import UserInputError

CROP_HEIGHT = 512  # pixels of the drawn crop and picture
CELL = 16  # pixels of a cell of the matrix (K * CELL <= CROP_HEIGHT)
RING = 12  # radius of the rings around the matched queries
LABELS = 150  # pixels left of the matrix for the joint names
GREY = (158, 158, 158)  # the colour of "no keypoint"


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


def run_model(model: torch.nn.Module, args: argparse.Namespace
              ) -> Tuple[dict, torch.Tensor, np.ndarray]:
    """The person (of the test dataset, or a box in an image) through the
    config's test pipeline and the model: the packed sample (a dataset's
    with its ground truth in crop pixels) and one decoder layer's class
    logits ``[N, K+1]`` and points in crop pixels ``[N, 2]``."""
    dataset_cfg = model.cfg.test_dataloader.dataset
    if args.img is None:
        dataset_cfg.pipeline[-1].pack_transformed = True  # PackPoseInputs
        dataset = DATASETS.build(dataset_cfg)
        if not 0 <= args.person < len(dataset):
            raise UserInputError(
                f'--person {args.person} is out of range: the test dataset '
                f'has {len(dataset)} people')
        sample = dataset[args.person]
    else:
        bbox = np.array([args.bbox], np.float32)
        sample = Compose(dataset_cfg.pipeline)(
            dict(img_path=args.img, bbox=bbox, **model.dataset_meta))
    batch = model.data_preprocessor(pseudo_collate([sample]))
    with torch.no_grad():
        logits, points = model.head(model.extract_feat(batch['inputs']))
    if not -len(logits) <= args.layer < len(logits):
        raise UserInputError(f'--layer {args.layer} is out of range: the '
                             f'model has {len(logits)} decoder layers')
    points = points[args.layer, 0].cpu().numpy()
    input_size = sample['data_samples'].metainfo['input_size']
    return sample, logits[args.layer, 0].cpu(), points * input_size


def draw_crop(vis: PoseLocalVisualizer, sample: dict, probs: torch.Tensor,
              points: np.ndarray, matched: np.ndarray) -> np.ndarray:
    """The crop, 512 px high: every query's point (coloured by its likeliest
    class in ``probs`` ``[N, K+1]``, sized by its largest joint
    probability), the matched queries ringed and joined by the skeleton,
    and the visible ground-truth joints as white crosses."""
    scale = CROP_HEIGHT / sample['inputs'].shape[1]
    crop = mmcv.imrescale(sample['inputs'].permute(1, 2, 0).numpy(), scale)
    points = points * scale
    skeleton = PoseDataSample(
        pred_instances=InstanceData(keypoints=points[None, matched]))
    vis.add_datasample('', mmcv.bgr2rgb(crop), skeleton, draw_gt=False)
    palette = [tuple(c) for c in vis.dataset_meta['keypoint_colors']]
    colors = [(palette + [GREY])[c] for c in probs.argmax(-1)]
    vis.draw_points(points, colors, sizes=10 + 120 * probs[:, :-1].amax(-1))
    vis.draw_circles(
        points[matched], np.full(len(matched), RING), edge_colors=palette)
    gt = sample['data_samples'].gt_instances
    if 'keypoints' in gt:  # a dataset's person, not --img
        joints = gt.transformed_keypoints[0] * scale
        shown = (gt.keypoints_visible[0] > 0) & (joints >= 0).all(1) & (
            joints < crop.shape[1::-1]).all(1)  # visible, in the crop
        vis.draw_points(joints[shown], 'white', 'x', sizes=40)
    return vis.get_image()


def draw_matrix(vis: PoseLocalVisualizer, probs: torch.Tensor,
                matched: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The joint probabilities ``probs`` ``[N, K]`` as a K x N matrix, the
    matched cells outlined in red, the rows named with their scores."""
    heat = colormaps['viridis'](probs.T.numpy(), bytes=True)[..., :3]
    heat = heat.repeat(CELL, 0).repeat(CELL, 1)
    image = np.full((CROP_HEIGHT, LABELS + heat.shape[1], 3), 255, np.uint8)
    image[:len(heat), LABELS:] = heat
    vis.set_image(image)
    rows = np.arange(len(matched)) * CELL
    left = LABELS + matched * CELL
    vis.draw_bboxes(np.stack([left, rows, left + CELL, rows + CELL], 1), 'red')
    names = vis.dataset_meta['keypoint_id2name']
    vis.draw_texts(
        [f'{names[j]} {s:.2f}' for j, s in enumerate(scores)],
        np.stack([np.full_like(rows, 4), rows + 2], 1),
        colors=[tuple(c) for c in vis.dataset_meta['keypoint_colors']],
        font_sizes=9)
    return vis.get_image()


def main(argv: Optional[List[str]] = None) -> dict:
    """Check the inputs, run the model, draw; returns the matched query
    of every joint and its score."""
    args = parse_args(argv)
    if (args.img is None) != (args.bbox is None):
        raise UserInputError('--img and --bbox go together')
    x1, y1, x2, y2 = args.bbox or (0, 0, 1, 1)
    if not (x2 > x1 and y2 > y1):
        raise UserInputError('--bbox needs X2 > X1 and Y2 > Y1')
    cfg = check_trained_model(args.config, args.checkpoint, args.device)
    if cfg.model.type != 'TopdownPoseEstimator':
        raise UserInputError(f'{args.config} is a {cfg.model.type} config: '
                             'the picture is drawn for a top-down model')
    model = init_model(args.config, args.checkpoint, device=args.device)
    sample, logits, points = run_model(model, args)
    _, scores, matched = hungarian_decode(logits[None],
                                          torch.from_numpy(points)[None])
    scores, matched = scores[0].numpy(), matched[0].numpy()
    vis = PoseLocalVisualizer(radius=4, line_width=3, backend='matplotlib')
    vis.set_dataset_meta(model.dataset_meta)
    crop = draw_crop(vis, sample, logits.softmax(-1), points, matched)
    matrix = draw_matrix(vis, keypoint_probabilities(logits), matched, scores)
    mmcv.imwrite(mmcv.rgb2bgr(np.concatenate([crop, matrix], 1)), args.out)
    print(f'{len(matched)} joints matched to queries {matched.tolist()}, '
          f'mean score {scores.mean():.3f}; picture: {args.out}')
    return dict(matched=matched, scores=scores)


if __name__ == '__main__':
    run_cli(main)
