# Copyright (c) prtr authors. All rights reserved.
"""Hungarian assignment of PRTR's keypoint queries to joints."""
from typing import List, Optional, Union

import torch
from mmengine.structures import BaseDataElement
from mmpose.registry import TASK_UTILS
from torch import Tensor

from .linear_assignment import linear_assignment


@TASK_UTILS.register_module()
class KeypointHungarianAssigner:
    """One-to-one matching between K joints and N keypoint queries.

    PRTR (Li et al., "Pose Recognition with Cascade Transformers", CVPR 2021)
    treats the K joints of one person as a set of K targets of distinct
    classes. The cost of giving joint ``j`` to query ``q`` is the sum of the
    match costs (by default ``-softmax(logits)[q, j]`` with weight 1 and the
    L1 distance of normalised coordinates with weight 5); the K x N
    problems of all decoder layers and images are solved exactly in one
    batch (:func:`~.linear_assignment.linear_assignment`).

    The costs of all decoder layers and all images are computed in one
    batched tensor expression and moved to the host once per call (or, with
    ``solver='device'``, never).

    Args:
        match_costs (list[dict]): match cost configs. Each is called with
            ``pred_instances`` holding ``scores`` (logits, ``[*, B, N, K+1]``)
            and ``keypoints`` (``[*, B, N, 2]``) and ``gt_instances``
            holding ``keypoints`` (``[B, K, 2]``); each returns a
            ``[*, B, K, N]`` cost (:mod:`.match_costs`).
        visible_only (bool): match only joints whose target weight is
            positive. The official code matches all K joints (invisible ones
            carry weight 0 in the coordinate loss but still take a query and
            its class), which is the default.
        solver (str): ``'auto'`` (lapx's batch solver), ``'lapx'``,
            ``'scipy'`` (the reference: one ``linear_sum_assignment`` per
            problem) or ``'device'`` (tensor operations where the
            predictions are: no host transfer or synchronisation; on a CPU
            it is far slower than lapx, see docs/benchmarks.md). All return
            an optimal assignment.
    """

    def __init__(self,
                 match_costs: Union[List[dict], dict] = [
                     dict(type='KeypointClassCost', weight=1.),
                     dict(type='KeypointL1Cost', weight=5.),
                 ],
                 visible_only: bool = False,
                 solver: str = 'auto') -> None:
        if isinstance(match_costs, dict):
            match_costs = [match_costs]
        self.match_costs = [TASK_UTILS.build(c) for c in match_costs]
        self.visible_only = visible_only
        self.solver = solver

    @torch.no_grad()
    def cost_matrix(self, cls_scores: Tensor, kpt_preds: Tensor,
                    gt_keypoints: Tensor) -> Tensor:
        """Sum of the match costs, ``[*, B, K, N]``, as one tensor op each.

        Args:
            cls_scores (Tensor): logits ``[*, B, N, K+1]``.
            kpt_preds (Tensor): normalised coordinates ``[*, B, N, 2]``.
            gt_keypoints (Tensor): normalised targets ``[B, K, 2]``.
        """
        # BaseDataElement, not InstanceData: the fields are batched and
        # differ in length.
        pred = BaseDataElement(scores=cls_scores, keypoints=kpt_preds)
        gt = BaseDataElement(keypoints=gt_keypoints)
        costs = [
            c(pred_instances=pred, gt_instances=gt) for c in self.match_costs
        ]
        return sum(costs[1:], costs[0])  # no 0 + tensor op

    @torch.no_grad()
    def assign(self,
               cls_scores: Tensor,
               kpt_preds: Tensor,
               gt_keypoints: Tensor,
               gt_weights: Optional[Tensor] = None) -> Tensor:
        """Match queries to joints for every layer and image.

        Args:
            cls_scores (Tensor): logits ``[L, B, N, K+1]``.
            kpt_preds (Tensor): normalised coordinates ``[L, B, N, 2]``.
            gt_keypoints (Tensor): normalised targets ``[B, K, 2]``.
            gt_weights (Tensor, optional): target weights ``[B, K]``; needed
                when ``visible_only``.

        Returns:
            Tensor: ``[L, B, K]`` (long) index of the query assigned to each
            joint, ``-1`` for a joint left unmatched (``visible_only``).
        """
        cost = self.cost_matrix(cls_scores, kpt_preds, gt_keypoints)
        lead = cost.shape[:-2]
        num_joints, num_queries = cost.shape[-2:]
        if self.visible_only:
            assert gt_weights is not None, 'visible_only needs gt_weights'
            hidden = gt_weights <= 0  # [B, K]
            # A constant row takes any free query at the same price, so the
            # visible joints' optimum is that of the problem without the
            # hidden rows (N >= K leaves enough queries); dropped below.
            cost = cost.masked_fill(hidden[..., None], 0)
        # NaN/inf predictions (diverged weights): any assignment does; the
        # loss is then non-finite and NonFiniteCheckHook stops the step with
        # the state of before it
        cost = torch.nan_to_num(cost, nan=0., posinf=0., neginf=0.)
        # [*, B, K, N] -> [P, K, N]: one solve (and host transfer) per step
        assigned = linear_assignment(
            cost.reshape(-1, num_joints, num_queries),
            self.solver,
            check_finite=False)
        assigned = assigned.reshape(*lead, num_joints)
        if self.visible_only:
            assigned = assigned.masked_fill(hidden, -1)
        return assigned
