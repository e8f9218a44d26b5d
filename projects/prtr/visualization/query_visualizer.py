# Copyright (c) prtr authors. All rights reserved.
"""The query picture of one person: every query's point on the crop, with
the matched joints' skeleton drawn by mmpose's ``PoseLocalVisualizer``, and
the K x N probability matrix that inference matches on."""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

NO_KPT_COLOR = (0.62, 0.62, 0.62)


def match_queries(cls_scores: torch.Tensor) -> Tuple[np.ndarray, np.ndarray]:
    """The query that PRTR's inference matches to each joint, and its score,
    by the head's own ``hungarian_decode``.

    Args:
        cls_scores (Tensor): ``[N, K+1]`` logits.

    Returns:
        tuple: query index per joint ``[K]`` and score ``[K]`` (arrays).
    """
    from prtr.models.heads.prtr_head import hungarian_decode
    kpts = cls_scores.new_zeros(1, cls_scores.size(0), 2)
    _, scores, ids = hungarian_decode(cls_scores[None], kpts)
    return ids[0].numpy(), scores[0].numpy()


def joint_colors(num_joints: int) -> List[Tuple[float, float, float]]:
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


class QueryVisualizer:
    """Draws the queries of one decoder layer for one person (README, "Query
    visualisation").

    Left, the crop with the matched joints' skeleton (mmpose's
    ``PoseLocalVisualizer``, the dataset's colours) and every query's
    point, coloured by its most likely class (grey: "no keypoint"), its area
    its largest joint probability of the softmax over K+1 classes;
    Hungarian-matched queries ringed and named; ground truth as black
    crosses. Right, softmax over the K joint logits, joints on rows,
    queries on columns, matched cells outlined in red.

    Args:
        dataset_meta (dict): mmpose dataset meta (``keypoint_id2name``,
            ``skeleton_links``, colours).
        figsize (tuple): figure size in inches.
        dpi (int): dots per inch of the PNG.
        upscale (int): height in pixels the crop is resized to before the
            skeleton is drawn on it.
    """

    def __init__(self,
                 dataset_meta: dict,
                 figsize: Tuple[float, float] = (14, 6.5),
                 dpi: int = 100,
                 upscale: int = 512) -> None:
        self.dataset_meta = dataset_meta
        self.figsize = figsize
        self.dpi = dpi
        self.upscale = upscale

    def draw_skeleton(self, crop: np.ndarray,
                      joints: np.ndarray) -> Tuple[np.ndarray, float]:
        """The crop, resized, with the skeleton of ``joints`` ``[K, 2]``
        (crop pixels) drawn by mmpose's ``PoseLocalVisualizer``; and the
        scale factor of the resizing."""
        import cv2
        from mmengine.structures import InstanceData
        from mmpose.structures import PoseDataSample
        from mmpose.visualization import PoseLocalVisualizer
        scale = max(1., self.upscale / crop.shape[0])
        image = cv2.resize(
            crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        name = 'prtr_query_skeleton'
        if PoseLocalVisualizer.check_instance_created(name):
            vis = PoseLocalVisualizer.get_instance(name)
        else:
            vis = PoseLocalVisualizer.get_instance(
                name, radius=3, line_width=3, alpha=0.8)
        vis.set_dataset_meta(self.dataset_meta)
        k = len(joints)
        sample = PoseDataSample(
            pred_instances=InstanceData(
                keypoints=(joints * scale)[None],
                keypoint_scores=np.ones((1, k), np.float32)))
        image = vis.add_datasample(
            'queries', image, sample, draw_gt=False, kpt_thr=0.)
        return image, scale

    def draw(self,
             out_file: str,
             crop: np.ndarray,
             cls_scores: torch.Tensor,
             points: np.ndarray,
             title: str = '',
             gt: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> dict:
        """Draw one decoder layer's queries into ``out_file`` (PNG).

        Args:
            out_file (str): the picture; its directory is made.
            crop (np.ndarray): the person crop, RGB.
            cls_scores (Tensor): ``[N, K+1]`` logits.
            points (np.ndarray): ``[N, 2]`` query points in crop pixels.
            title (str): the figure's title.
            gt (tuple, optional): ground-truth joints ``[K, 2]`` and
                visibility ``[K]``, in crop pixels.

        Returns:
            dict: ``matched`` query per joint ``[K]`` and ``scores`` ``[K]``.
        """
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
        matched, scores = match_queries(cls_scores)
        fig = plt.figure(figsize=self.figsize, dpi=self.dpi)
        grid = fig.add_gridspec(
            1, 2, width_ratios=[1, 2.2], left=0.03, right=0.97, wspace=0.18)
        self._crop_panel(
            fig.add_subplot(grid[0]), crop, cls_scores, points, matched, gt)
        self._matrix_panel(fig, fig.add_subplot(grid[1]), cls_scores, matched,
                           scores)
        fig.suptitle(title, fontsize=10)
        if osp.dirname(out_file):
            os.makedirs(osp.dirname(out_file), exist_ok=True)
        fig.savefig(out_file, dpi=self.dpi)
        plt.close(fig)
        return dict(matched=matched, scores=scores)

    def _names(self, num_joints: int) -> List[str]:
        return [
            self.dataset_meta['keypoint_id2name'][j] for j in range(num_joints)
        ]

    def _crop_panel(self, ax, crop: np.ndarray, cls_scores: torch.Tensor,
                    points: np.ndarray, matched: np.ndarray,
                    gt: Optional[Sequence[np.ndarray]]) -> None:
        num_queries, num_joints = cls_scores.size(0), cls_scores.size(1) - 1
        colors = joint_colors(num_joints)
        prob_all = cls_scores.softmax(-1).numpy()  # [N, K+1], training's
        best, conf = prob_all.argmax(-1), prob_all[:, :-1].max(-1)
        h, w = crop.shape[:2]
        image, scale = self.draw_skeleton(crop, points[matched])
        ax.imshow(image, extent=(-0.5, w - 0.5, h - 0.5, -0.5))
        size = 15 + 300 * conf
        ax.scatter(
            points[:, 0],
            points[:, 1],
            s=size,
            c=[colors[c] if c < num_joints else NO_KPT_COLOR for c in best],
            edgecolors='k',
            linewidths=0.5,
            alpha=0.85,
            zorder=3)
        ax.scatter(
            points[matched, 0],
            points[matched, 1],
            s=size[matched] * 2 + 120,
            facecolors='none',
            edgecolors=colors,
            linewidths=2.2,
            zorder=4)
        for j, (name, q) in enumerate(zip(self._names(num_joints), matched)):
            ax.annotate(
                name, (points[q, 0], points[q, 1]),
                xytext=(5, 4),
                textcoords='offset points',
                fontsize=6.5,
                bbox=dict(
                    boxstyle='round,pad=0.12', fc=colors[j], alpha=0.75, lw=0),
                zorder=5)
        if gt is not None:
            kpts, vis = gt
            ax.scatter(
                kpts[vis, 0],
                kpts[vis, 1],
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
            'rings: Hungarian-matched, skeleton: mmpose' +
            (', x: ground truth' if gt is not None else ''),
            fontsize=8)

    def _matrix_panel(self, fig, ax, cls_scores: torch.Tensor,
                      matched: np.ndarray, scores: np.ndarray) -> None:
        from matplotlib.patches import Rectangle
        num_queries, num_joints = cls_scores.size(0), cls_scores.size(1) - 1
        prob_k = cls_scores[:, :-1].softmax(-1).numpy()  # [N, K], inference's
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
        ax.set_yticklabels([
            f'{n} ({s:.2f})' for n, s in zip(self._names(num_joints), scores)
        ],
                           fontsize=7)
        for label, color in zip(ax.get_yticklabels(),
                                joint_colors(num_joints)):
            label.set_color(tuple(c * 0.8 for c in color))
        ax.set_xticks(range(0, num_queries, max(1, num_queries // 25)))
        ax.tick_params(axis='x', labelsize=7)
        ax.set_xlabel('query')
        ax.set_title(
            'softmax over the K joint logits (inference); red: Hungarian '
            'match, (score)',
            fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
