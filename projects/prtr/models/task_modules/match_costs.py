# Copyright (c) prtr authors. All rights reserved.
"""Match costs of PRTR's Hungarian assigner, joint-major: ``[..., K, N]``.

Unlike mmdet's ``ClassificationCost`` / ``BBoxL1Cost`` (one image,
``[num_queries, num_gts]``), these work on any number of leading batch
dimensions and return the ``[K, N]`` layout the solver takes, so every
decoder layer and image is costed in one expression with no transposed copy.
"""
from typing import Optional

import torch
from mmdet.models.task_modules.assigners.match_cost import BaseMatchCost
from mmengine.structures import BaseDataElement
from mmpose.registry import TASK_UTILS
from torch import Tensor


@TASK_UTILS.register_module()
class KeypointL1Cost(BaseMatchCost):
    """L1 distance between target and predicted normalised keypoints.

    Args:
        weight (float): Cost weight. Defaults to 1.
    """

    def __call__(self,
                 pred_instances: BaseDataElement,
                 gt_instances: BaseDataElement,
                 img_meta: Optional[dict] = None,
                 **kwargs) -> Tensor:
        """Compute the cost.

        Args:
            pred_instances (BaseDataElement): ``keypoints`` of shape
                ``[..., num_queries, 2]``.
            gt_instances (BaseDataElement): ``keypoints`` of shape
                ``[..., num_joints, 2]`` (batch dims broadcast).

        Returns:
            Tensor: cost of shape ``[..., num_joints, num_queries]``.
        """
        pred = pred_instances.keypoints
        gt = gt_instances.keypoints.to(pred.dtype)
        gt = gt.expand(*pred.shape[:-2], *gt.shape[-2:])
        return torch.cdist(gt, pred, p=1) * self.weight


@TASK_UTILS.register_module()
class KeypointClassCost(BaseMatchCost):
    """``-softmax(logits)[q, j]``: joint ``j`` is class ``j``.

    PRTR's matcher takes the softmax over all K+1 classes ("no keypoint"
    included) and the probability of each joint's own class.

    Args:
        weight (float): Cost weight. Defaults to 1.
    """

    def __call__(self,
                 pred_instances: BaseDataElement,
                 gt_instances: BaseDataElement,
                 img_meta: Optional[dict] = None,
                 **kwargs) -> Tensor:
        """Compute the cost.

        Args:
            pred_instances (BaseDataElement): ``scores``, logits of shape
                ``[..., num_queries, K+1]``.
            gt_instances (BaseDataElement): ``keypoints`` ``[..., K, 2]``
                (only their count K is used).

        Returns:
            Tensor: cost of shape ``[..., K, num_queries]``.
        """
        num_joints = gt_instances.keypoints.shape[-2]
        # [..., N, K+1] -> [..., K+1, N]: the softmax over the classes of
        # a query is then a column's, and the cost comes out joint-major
        logits = pred_instances.scores.transpose(-1, -2).contiguous()
        prob = logits.softmax(-2)[..., :num_joints, :]
        return prob * -self.weight
