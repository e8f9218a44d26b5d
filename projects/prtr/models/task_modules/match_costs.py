# Copyright (c) prtr authors. All rights reserved.
"""Keypoint match cost for PRTR's Hungarian assigner."""
from typing import Optional, Union

import torch
from mmdet.models.task_modules.assigners.match_cost import BaseMatchCost
from mmengine.structures import BaseDataElement
from mmpose.registry import TASK_UTILS
from torch import Tensor


@TASK_UTILS.register_module()
class KeypointL1Cost(BaseMatchCost):
    """L1 distance between predicted and target normalised keypoints.

    Unlike mmdet's ``BBoxL1Cost`` it works on any number of leading batch
    dimensions, so PRTR matches every decoder layer and image in one call.

    Args:
        weight (float): Cost weight. Defaults to 1.
    """

    def __init__(self, weight: Union[float, int] = 1.) -> None:
        super().__init__(weight=weight)

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
            Tensor: cost of shape ``[..., num_queries, num_joints]``.
        """
        pred = pred_instances.keypoints
        gt = gt_instances.keypoints.to(pred.dtype)
        gt = gt.expand(*pred.shape[:-2], *gt.shape[-2:])
        return torch.cdist(pred, gt, p=1) * self.weight
