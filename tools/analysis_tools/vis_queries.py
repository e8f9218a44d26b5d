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
  ringed and named, their points joined by the dataset's skeleton; ground
  truth joints (annotation input) are small black crosses;
* right, the K x N matrix of softmax over the K joint logits (the matrix
  inference matches on), joints on rows, queries on columns, matched cells
  outlined.
"""
import argparse
import json
import os
import os.path as osp
import sys

os.environ.setdefault('MPLBACKEND', 'Agg')  # files only, no window

try:
    import prtr  # noqa: F401
except ImportError:  # a plain checkout: the package lives in projects/
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..', 'projects'))
    import prtr  # noqa: F401

import numpy as np

from prtr.utils import (UserInputError, check_checkpoint, check_config_file,
                        run_cli)

DATA = 'data/coco_persons_mini'
NO_KPT_COLOR = (0.62, 0.62, 0.62)


def parse_args(argv=None):
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


def load_person(ann_file, index=None, ann_id=None):
    """The image file name, box (x1, y1, x2, y2), keypoints ``[K, 3]`` and
    annotation id of one person of a COCO annotation file."""
    if not osp.isfile(ann_file):
        raise UserInputError(f'annotation file not found: {ann_file}')
    try:
        with open(ann_file) as f:
            coco = json.load(f)
        anns, images = coco['annotations'], coco['images']
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserInputError(f'annotation file {ann_file} is not valid '
                             f'JSON: {e}') from e
    except (KeyError, TypeError) as e:
        raise UserInputError(f'annotation file {ann_file} has no COCO '
                             '"annotations" and "images" lists') from e
    people = [
        a for a in anns if not a.get('iscrowd') and len(a.get('bbox', ())) == 4
        and a['bbox'][2] > 0 and a['bbox'][3] > 0
    ]
    if not people:
        raise UserInputError(f'annotation file {ann_file} has no person box')
    if ann_id is not None:
        found = [a for a in people if a.get('id') == ann_id]
        if not found:
            raise UserInputError(f'--ann-id {ann_id} is not a non-crowd '
                                 f'person annotation of {ann_file}')
        ann = found[0]
    else:
        index = 0 if index is None else index
        if not 0 <= index < len(people):
            raise UserInputError(
                f'--person {index} is out of range: {ann_file} has '
                f'{len(people)} people (0..{len(people) - 1})')
        ann = people[index]
    file_names = {im['id']: im['file_name'] for im in images}
    if ann['image_id'] not in file_names:
        raise UserInputError(f'annotation {ann.get("id")} of {ann_file} '
                             f'names image id {ann["image_id"]}, which is '
                             'not in its "images"')
    x, y, w, h = ann['bbox']
    kpts = ann.get('keypoints')
    kpts = np.array(kpts, np.float32).reshape(-1, 3) if kpts else None
    return (file_names[ann['image_id']],
            np.array([x, y, x + w, y + h], np.float32), kpts, ann.get('id'))


def run_model(model, img_path, bbox, keypoints=None):
    """Crop the person with the config's test pipeline and run the model.

    Returns:
        tuple: the crop (RGB, uint8), class logits ``[L, N, K+1]`` and
        normalised points ``[L, N, 2]`` (tensors), and the ground-truth
        joints in crop pixels ``[K, 2]`` with their visibility (or None).
    """
    import torch
    from mmengine.dataset import Compose, pseudo_collate

    # the test pipeline up to its packing step, which drops the transformed
    # ground truth, then the packing step
    transforms = model.cfg.test_dataloader.dataset.pipeline
    crop_person, pack = Compose(transforms[:-1]), Compose(transforms[-1:])
    info = dict(
        img_path=img_path,
        bbox=bbox[None].astype(np.float32),
        bbox_score=np.ones(1, np.float32))
    if keypoints is not None:
        info.update(
            keypoints=keypoints[None, :, :2],
            keypoints_visible=np.minimum(keypoints[None, :, 2], 1))
    info.update(model.dataset_meta)
    results = crop_person(info)
    gt = None
    if keypoints is not None and 'transformed_keypoints' in results:
        gt = (results['transformed_keypoints'][0],
              results['keypoints_visible'][0] > 0)
    data = pack(results)
    batch = model.data_preprocessor(pseudo_collate([data]), False)
    with torch.no_grad():
        feats = model.extract_feat(batch['inputs'])  # backbone (+ neck)
        out = model.head.forward(feats)
    if not (isinstance(out, tuple) and len(out) == 2 and out[0].dim() == 4
            and out[1].shape[-1] == 2):
        raise UserInputError(
            f'{type(model.head).__name__} is not a PRTR head: its forward '
            'does not give (class logits [L, B, N, K+1], points [L, B, N, 2])')
    cls_scores, kpt_preds = out
    crop = data['inputs'].permute(1, 2, 0).numpy()[..., ::-1]  # BGR -> RGB
    return (np.ascontiguousarray(crop), cls_scores[:, 0].cpu(),
            kpt_preds[:, 0].cpu(), gt)


def joint_colors(num_joints):
    """A distinct colour per joint (tab20 without its greys, then hsv)."""
    import matplotlib
    tab = [
        c for i, c in enumerate(matplotlib.colormaps['tab20'].colors)
        if i not in (14, 15)
    ]
    if num_joints <= len(tab):
        return tab[:num_joints]
    hsv = matplotlib.colormaps['hsv']
    return [hsv(i / num_joints)[:3] for i in range(num_joints)]


def draw(out, crop, cls_scores, kpt_preds, model, title, gt=None, dpi=100):
    """Draw one decoder layer's queries (see the module docstring).

    Args:
        cls_scores (Tensor): ``[N, K+1]`` logits.
        kpt_preds (Tensor): ``[N, 2]`` normalised points.

    Returns:
        dict: ``matched`` query per joint ``[K]``, ``scores`` ``[K]``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    num_queries, num_cls = cls_scores.shape
    num_joints = num_cls - 1
    meta = model.dataset_meta
    names = [meta['keypoint_id2name'][j] for j in range(num_joints)]
    colors = joint_colors(num_joints)

    matched, scores = match_queries(cls_scores)
    prob_k = cls_scores[:, :-1].softmax(-1).numpy()  # [N, K], inference's
    prob_all = cls_scores.softmax(-1).numpy()  # [N, K+1], training's
    best = prob_all.argmax(-1)
    conf = prob_all[:, :-1].max(-1)
    h, w = crop.shape[:2]
    decoder = getattr(model.head, 'decoder', None)
    if decoder is not None:
        points = decoder.decode(kpt_preds.numpy()[None])[0][0]
    else:
        points = kpt_preds.numpy() * np.array([w, h])

    fig = plt.figure(figsize=(14, 6.5), dpi=dpi)
    grid = fig.add_gridspec(
        1, 2, width_ratios=[1, 2.2], left=0.03, right=0.97, wspace=0.18)
    ax = fig.add_subplot(grid[0])
    ax.imshow(crop, extent=(-0.5, w - 0.5, h - 0.5, -0.5))
    # skeleton of the matched points, under the points
    links = meta.get('skeleton_links', [])
    link_colors = meta.get('skeleton_link_colors')
    for i, (a, b) in enumerate(links):
        pa, pb = points[matched[a]], points[matched[b]]
        color = np.asarray(link_colors[i]) / 255. \
            if link_colors is not None and len(link_colors) > i else 'w'
        ax.plot([pa[0], pb[0]], [pa[1], pb[1]],
                color=color,
                lw=2,
                alpha=0.8,
                zorder=2)
    face = [colors[c] if c < num_joints else NO_KPT_COLOR for c in best]
    size = 15 + 300 * conf
    ax.scatter(
        points[:, 0],
        points[:, 1],
        s=size,
        c=face,
        edgecolors='k',
        linewidths=0.5,
        alpha=0.85,
        zorder=3)
    ax.scatter(
        points[matched, 0],
        points[matched, 1],
        s=size[matched] * 2 + 120,
        facecolors='none',
        edgecolors=[colors[j] for j in range(num_joints)],
        linewidths=2.2,
        zorder=4)
    for j, q in enumerate(matched):
        ax.annotate(
            names[j], (points[q, 0], points[q, 1]),
            xytext=(5, 4),
            textcoords='offset points',
            fontsize=6.5,
            color='k',
            bbox=dict(
                boxstyle='round,pad=0.12', fc=colors[j], alpha=0.75, lw=0),
            zorder=5)
    if gt is not None:
        gt_kpts, gt_vis = gt
        ax.scatter(
            gt_kpts[gt_vis, 0],
            gt_kpts[gt_vis, 1],
            marker='x',
            s=25,
            c='k',
            linewidths=1.2,
            zorder=6)
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    n_kpt = int((best < num_joints).sum())
    ax.set_title(
        f'{num_queries} queries: {n_kpt} joint, {num_queries - n_kpt} '
        '"no keypoint" (grey)\narea: max joint prob. of softmax(K+1)\n'
        'rings: Hungarian-matched' +
        (', x: ground truth' if gt is not None else ''),
        fontsize=8)

    ax = fig.add_subplot(grid[1])
    image = ax.imshow(
        prob_k.T,
        aspect='auto',
        cmap='viridis',
        vmin=0,
        interpolation='nearest')
    for j, q in enumerate(matched):
        ax.add_patch(
            Rectangle((q - 0.5, j - 0.5),
                      1,
                      1,
                      fill=False,
                      edgecolor='red',
                      lw=1.6))
    ax.set_yticks(range(num_joints))
    ax.set_yticklabels([f'{n} ({s:.2f})' for n, s in zip(names, scores)],
                       fontsize=7)
    for label, color in zip(ax.get_yticklabels(), colors):
        label.set_color(tuple(c * 0.8 for c in color))
    step = max(1, num_queries // 25)
    ax.set_xticks(range(0, num_queries, step))
    ax.tick_params(axis='x', labelsize=7)
    ax.set_xlabel('query')
    ax.set_title(
        'softmax over the K joint logits (inference); red: Hungarian '
        'match, (score)',
        fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    fig.suptitle(title, fontsize=10)
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return dict(matched=matched, scores=scores)


def match_queries(cls_scores):
    """The query that PRTR's inference matches to each joint, and its score.

    ``hungarian_decode`` as inference runs it; only its matched queries and
    scores are used here.

    Args:
        cls_scores (Tensor): ``[N, K+1]`` logits.

    Returns:
        tuple: query index per joint ``[K]`` and score ``[K]`` (arrays).
    """
    from prtr.models.heads.prtr_head import hungarian_decode
    kpts = cls_scores.new_zeros(1, cls_scores.size(0), 2)
    _, scores, ids = hungarian_decode(cls_scores[None], kpts)
    return ids[0].numpy(), scores[0].numpy()


def main(argv=None):
    args = parse_args(argv)
    check_config_file(args.config)
    check_checkpoint(args.checkpoint)
    if args.checkpoint and not osp.isfile(args.checkpoint):
        raise UserInputError(f'checkpoint not found: {args.checkpoint}')
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
        file_name, bbox, gt_kpts, ann_id = load_person(args.ann_file,
                                                       args.person,
                                                       args.ann_id)
        img_path = osp.join(args.img_dir, file_name)
        who = f'annotation {ann_id}'
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

    from mmengine.registry import init_default_scope
    from mmpose.apis import init_model
    model = init_model(args.config, args.checkpoint, device=args.device)
    init_default_scope(model.cfg.get('default_scope', 'mmpose'))
    crop, cls_scores, kpt_preds, gt = run_model(model, img_path, bbox, gt_kpts)
    num_layers = cls_scores.size(0)
    if not -num_layers <= args.layer < num_layers:
        raise UserInputError(f'--layer {args.layer} is out of range: the '
                             f'model has {num_layers} decoder layers')
    layer = args.layer % num_layers
    title = (f'{osp.basename(img_path)}, {who}: decoder layer {layer + 1} '
             f'of {num_layers} ({osp.basename(args.checkpoint)})')
    result = draw(args.out, crop, cls_scores[layer], kpt_preds[layer], model,
                  title, gt, args.dpi)
    print(f'{len(result["matched"])} joints matched to queries '
          f'{result["matched"].tolist()}, mean score '
          f'{result["scores"].mean():.3f}; picture: {args.out}')


if __name__ == '__main__':
    run_cli(main)
