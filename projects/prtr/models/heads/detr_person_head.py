# Copyright (c) prtr authors. All rights reserved.
"""The cascade's person detector: DETR on the backbone's last level."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType
from torch import Tensor

from ..layers.detr_transformer import DETR_TRANSFORMER, DetrTransformerMixin

Matches = List[Tuple[Tensor, Tensor]]


class RecordingAssigner:
    """Forwards to an mmdet assigner and, while :attr:`results` is a list,
    keeps every result, so that the cascade reuses the person loss's own
    matching instead of matching again.

    Non-finite predictions (a diverged step) are matched as finite stand-ins
    (NaN -> 0, +-inf -> +-1e4): scipy would stop on them with a bare
    "matrix contains invalid numeric entries"; this way the loss of the
    original predictions turns non-finite and ``NonFiniteCheckHook`` names
    it, as the keypoint assigner does (:class:`KeypointHungarianAssigner`).
    """

    def __init__(self, assigner) -> None:
        self.assigner = assigner
        self.results = None

    def assign(self,
               pred_instances: InstanceData,
               gt_instances: InstanceData,
               img_meta: Optional[dict] = None,
               **kwargs):
        finite = pred_instances.new(
            **{
                k: torch.nan_to_num(v, nan=0., posinf=1e4, neginf=-1e4)
                for k, v in pred_instances.items() if isinstance(v, Tensor)
            })
        result = self.assigner.assign(
            pred_instances=finite,
            gt_instances=gt_instances,
            img_meta=img_meta,
            **kwargs)
        if self.results is not None:
            self.results.append(result)
        return result

    def __getattr__(self, name: str):
        if name == 'assigner':  # not set yet (copy, unpickling)
            raise AttributeError(name)
        return getattr(self.assigner, name)


def boxes_to_pixels(boxes: Tensor, size: Tensor) -> Tensor:
    """Normalised ``(cx, cy, w, h)`` ``[..., 4]`` -> pixel ``xyxy`` clipped
    to the image, as mmdet's ``DETRHead._predict_by_feat_single`` (without
    rescaling); ``size`` ``[..., 2]`` is ``(w, h)``."""
    size = torch.cat([size, size], -1)  # (w, h, w, h)
    xyxy = bbox_cxcywh_to_xyxy(boxes) * size
    return torch.minimum(xyxy.clamp(min=0), size)


class PersonHeadMixin:
    """What the cascade asks of a person head (``self.bbox_head`` is an
    mmdet DETR-family head with one class)."""

    def _record_matches(self) -> None:
        if getattr(self.bbox_head, 'assigner', None) is not None and \
                not isinstance(self.bbox_head.assigner, RecordingAssigner):
            self.bbox_head.assigner = RecordingAssigner(
                self.bbox_head.assigner)

    def loss_and_match(self, outs: Sequence, gt_instances: List[InstanceData],
                       img_metas: List[dict]) -> Tuple[Dict, Matches]:
        """The person set loss (mmdet's ``loss_by_feat`` of
        :attr:`bbox_head`) and its matching on the last decoder layer.

        Args:
            outs (Sequence): :meth:`forward`'s outputs; the first two are the
                logits ``[L, B, Q, C]`` and boxes ``[L, B, Q, 4]``.
            gt_instances (list[InstanceData]): ``bboxes`` (pixel ``xyxy``)
                and ``labels`` of each image.
            img_metas (list[dict]): with ``img_shape``, the canvas.

        Returns:
            tuple: the losses, and per image the matched queries (sorted)
            and the ground-truth index of each.
        """
        recorder = self.bbox_head.assigner
        recorder.results = []
        try:
            losses = self.bbox_head.loss_by_feat(*outs, gt_instances,
                                                 img_metas)
            results = recorder.results
        finally:
            recorder.results = None
        # one result per decoder layer and image, layer by layer (mmdet's
        # multi_apply over layers); two-stage heads add the encoder's after
        num_layers, bs = outs[0].shape[:2]
        matches = []
        for result in results[(num_layers - 1) * bs:num_layers * bs]:
            queries = (result.gt_inds > 0).nonzero(as_tuple=True)[0]
            matches.append((queries, result.gt_inds[queries] - 1))
        return losses, matches

    def predict_by_feat(self, cls_scores: Tensor,
                        max_per_img: int) -> Tuple[Tensor, Tensor]:
        """The top persons of every image, by mmdet's DETR scores.

        mmdet's ``DETRHead._predict_by_feat_single`` (softmax without the
        no-object logit, or sigmoid for focal-loss heads, then top-k of the
        last decoder layer) batched over the images and returning the
        query indices, which the crop needs; it is rewritten here because
        mmdet's returns neither.

        Args:
            cls_scores (Tensor): ``[L, B, Q, C]`` logits.
            max_per_img (int): persons kept per image.

        Returns:
            tuple: scores ``[B, P]`` and query indices ``[B, P]``.
        """
        logits = cls_scores[-1]
        if self.bbox_head.loss_cls.use_sigmoid:
            prob = logits.sigmoid()
        else:
            prob = logits.softmax(-1)[..., :-1]
        prob = prob.max(-1)[0]  # one class: [B, Q, C] -> [B, Q]
        return prob.topk(min(max_per_img, prob.size(1)), dim=1)


@MODELS.register_module()
class DETRPersonHead(PersonHeadMixin, DetrTransformerMixin, BaseModule):
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
        lean_forward (bool): compute the transformer by
            :mod:`~prtr.models.layers.lean_detr_forward` (the same function
            in fewer operators) where its layers are DETR's; False runs
            mmdet's modules' forward. Defaults to True.
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
                 lean_forward: bool = True,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.num_queries = num_queries
        self.embed_dims = embed_dims
        self._init_layers(transformer, positional_encoding)
        if not lean_forward:
            self.lean_forward = False
        self.bbox_head = MODELS.build(
            dict(bbox_head, num_classes=1, embed_dims=embed_dims))
        self._record_matches()

    def init_weights(self) -> None:
        super().init_weights()
        self._init_transformer_weights()

    def forward(self, feats: Union[Tensor,
                                   Sequence[Tensor]]) -> Tuple[Tensor, Tensor]:
        """Person logits ``[L, B, Q, 2]`` (index 0 = person, 1 = no object)
        and boxes ``[L, B, Q, 4]`` (normalised ``cx, cy, w, h``) of every
        decoder layer, from the last feature map ``[B, C, H, W]`` (or that
        map alone)."""
        feat = feats if isinstance(feats, Tensor) else feats[-1]
        return self.bbox_head(self.forward_transformer(feat))
