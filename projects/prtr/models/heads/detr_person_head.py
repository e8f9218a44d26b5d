# Copyright (c) prtr authors. All rights reserved.
"""The cascade's person detector: DETR on the backbone's last level."""
from typing import Dict, List, Tuple

import torch
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType
from torch import Tensor

from ..layers.detr_transformer import DETR_TRANSFORMER, DetrTransformerMixin


@MODELS.register_module()
class DETRPersonHead(DetrTransformerMixin, BaseModule):
    """First stage of the PRTR cascade: a DETR person detector.

    "Pose Recognition with Cascade Transformers", Li et al., CVPR 2021.
    DETR's encoder/decoder (the same :class:`DetrTransformerMixin` the
    keypoint transformer uses) over the last backbone level with
    ``num_queries`` person queries, and mmdet's ``DETRHead`` with one class
    (person) for what DETR adds on top: class Linear(d, 2), box FFN + sigmoid
    giving normalised ``(cx, cy, w, h)``, the Hungarian assigner
    (``ClassificationCost``, ``BBoxL1Cost``, ``IoUCost(giou)``) and the
    losses (CE with no-object weight, L1, GIoU) on every decoder layer.

    Args:
        in_channels (int): channels of the backbone's last level.
        num_queries (int): person queries. Defaults to 100 (DETR, upstream).
        embed_dims (int): transformer width.
        transformer (dict): mmdet DETR encoder/decoder configs.
        positional_encoding (dict): mmdet ``SinePositionalEncoding`` config.
        bbox_head (dict): mmdet ``DETRHead`` config; ``num_classes`` and
            ``embed_dims`` are set here.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 in_channels: int = 2048,
                 num_queries: int = 100,
                 embed_dims: int = 256,
                 transformer: ConfigType = DETR_TRANSFORMER,
                 positional_encoding: ConfigType = dict(
                     num_feats=128, normalize=True),
                 bbox_head: ConfigType = dict(type='mmdet.DETRHead'),
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.num_queries = num_queries
        self.embed_dims = embed_dims
        self._init_layers(transformer, positional_encoding)
        self.bbox_head = MODELS.build(
            dict(bbox_head, num_classes=1, embed_dims=embed_dims))

    def init_weights(self) -> None:
        super().init_weights()
        self._init_transformer_weights()

    def forward(self, feat: Tensor) -> Tuple[Tensor, Tensor]:
        """Person logits ``[L, B, Q, 2]`` (index 0 = person, 1 = no object)
        and boxes ``[L, B, Q, 4]`` (normalised ``cx, cy, w, h``) of every
        decoder layer, from a feature map ``[B, C, H, W]``."""
        return self.bbox_head(self.forward_transformer(feat))

    def loss_by_feat(self, all_cls_scores: Tensor, all_bbox_preds: Tensor,
                     gt_instances: List[InstanceData],
                     img_metas: List[dict]) -> Dict[str, Tensor]:
        """DETR's set loss on every decoder layer (mmdet ``DETRHead``):
        ``loss_cls``, ``loss_bbox``, ``loss_iou`` and ``d{i}.*``."""
        return self.bbox_head.loss_by_feat(all_cls_scores, all_bbox_preds,
                                           gt_instances, img_metas)

    @torch.no_grad()
    def assign(self, cls_scores: Tensor, bbox_preds: Tensor,
               gt_instances: List[InstanceData],
               img_metas: List[dict]) -> List[Tuple[Tensor, Tensor]]:
        """Match queries to ground-truth persons with the loss's assigner.

        Args:
            cls_scores (Tensor): ``[B, Q, 2]`` logits of one decoder layer.
            bbox_preds (Tensor): ``[B, Q, 4]`` normalised boxes.

        Returns:
            list[tuple[Tensor, Tensor]]: per image, the matched query
            indices and the ground-truth index of each.
        """
        matches = []
        for scores, boxes, gt, meta in zip(cls_scores, bbox_preds,
                                           gt_instances, img_metas):
            img_h, img_w = meta['img_shape']
            factor = boxes.new_tensor([img_w, img_h, img_w, img_h])
            pred = InstanceData(
                scores=scores, bboxes=bbox_cxcywh_to_xyxy(boxes) * factor)
            result = self.bbox_head.assigner.assign(
                pred_instances=pred, gt_instances=gt, img_meta=meta)
            queries = (result.gt_inds > 0).nonzero(as_tuple=True)[0]
            matches.append((queries, result.gt_inds[queries] - 1))
        return matches
