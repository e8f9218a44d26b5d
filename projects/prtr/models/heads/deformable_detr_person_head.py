# Copyright (c) prtr authors. All rights reserved.
"""The cascade's person detector on Deformable DETR (multi-level)."""
import copy
from types import SimpleNamespace
from typing import Sequence, Tuple

from mmcv.ops import MultiScaleDeformableAttention
from mmdet.models.detectors.base_detr import DetectionTransformer
from mmdet.models.detectors.deformable_detr import DeformableDETR
from mmengine.model import BaseModule
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType
from torch import Tensor, nn

from .detr_person_head import PersonHeadMixin

# mmdet's Deformable DETR transformer (configs/deformable_detr/
# deformable-detr_r50_16xb2-50e_coco.py): 6+6 layers, 8 heads, 4 levels,
# 4 points, FFN 1024, dropout 0.1 (PRTR's deformable keypoint transformer
# differs: FFN 2048, no dropout)
_FFN = dict(embed_dims=256, feedforward_channels=1024, ffn_drop=0.1)
_MSDA = dict(embed_dims=256, batch_first=True)
DEFORMABLE_DETR_TRANSFORMER = dict(
    encoder=dict(
        num_layers=6, layer_cfg=dict(self_attn_cfg=_MSDA, ffn_cfg=_FFN)),
    decoder=dict(
        num_layers=6,
        return_intermediate=True,
        layer_cfg=dict(
            self_attn_cfg=dict(
                embed_dims=256, num_heads=8, dropout=0.1, batch_first=True),
            cross_attn_cfg=_MSDA,
            ffn_cfg=_FFN),
        post_norm_cfg=None))

# mmdet's Deformable DETR head: focal loss, one class here
DEFORMABLE_DETR_BBOX_HEAD = dict(
    type='mmdet.DeformableDETRHead',
    sync_cls_avg_factor=True,
    loss_cls=dict(
        type='mmdet.FocalLoss',
        use_sigmoid=True,
        gamma=2.0,
        alpha=0.25,
        loss_weight=2.0),
    loss_bbox=dict(type='mmdet.L1Loss', loss_weight=5.0),
    loss_iou=dict(type='mmdet.GIoULoss', loss_weight=2.0),
    train_cfg=dict(
        assigner=dict(
            type='mmdet.HungarianAssigner',
            match_costs=[
                dict(type='mmdet.FocalLossCost', weight=2.0),
                dict(type='mmdet.BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='mmdet.IoUCost', iou_mode='giou', weight=2.0)
            ])))


@MODELS.register_module()
class DeformableDETRPersonHead(PersonHeadMixin, BaseModule):
    """First stage of the PRTR cascade on Deformable DETR (Zhu et al., ICLR
    2021): person queries over several backbone levels.

    The levels (by default layer2-4 of a ResNet) go through mmdet's
    ``ChannelMapper`` (1x1 conv + GN, extra stride-2 levels up to
    ``num_feature_levels``), mmdet's Deformable-DETR encoder/decoder
    (``MultiScaleDeformableAttention``), and mmdet's ``DeformableDETRHead``
    with one class (focal loss, Hungarian assigner with ``FocalLossCost``,
    ``BBoxL1Cost``, ``IoUCost(giou)``). ``with_box_refine`` and
    ``as_two_stage`` are mmdet's. The module names follow mmdet's
    ``DeformableDETR`` (``neck``, ``encoder``, ``decoder``,
    ``query_embedding``, ``level_embed``, ``reference_points_fc``,
    ``bbox_head``).

    The transformer steps are mmdet's ``DeformableDETR`` methods, bound to
    this module (it holds the same attributes); only the masks are left out:
    the cascade's images fill the batch tensor.

    Args:
        in_channels (Sequence[int]): channels of the backbone levels used
            (the last ``len(in_channels)`` outputs).
        num_queries (int): person queries.
        num_feature_levels (int): levels the transformer sees.
        with_box_refine (bool): every decoder layer refines the previous
            layer's boxes (own prediction layers per layer).
        as_two_stage (bool): queries from the encoder's top proposals.
        encoder (dict): mmdet ``DeformableDetrTransformerEncoder`` config.
        decoder (dict): mmdet ``DeformableDetrTransformerDecoder`` config.
        positional_encoding (dict): mmdet ``SinePositionalEncoding`` config;
            ``num_feats`` is half the encoder's ``embed_dims``.
        bbox_head (dict): mmdet ``DeformableDETRHead`` config.
        norm_cfg (dict): norm of the input projections (mmdet's: GN 32).
        init_cfg (dict, optional): initialisation config.
    """

    # the transformer steps of mmdet's Deformable DETR detector
    pre_transformer = DeformableDETR.pre_transformer
    forward_encoder = DeformableDETR.forward_encoder
    pre_decoder = DeformableDETR.pre_decoder
    forward_decoder = DeformableDETR.forward_decoder
    gen_encoder_output_proposals = DeformableDETR.gen_encoder_output_proposals
    get_valid_ratio = staticmethod(DeformableDETR.get_valid_ratio)
    forward_transformer = DetectionTransformer.forward_transformer
    _init_transformer = DeformableDETR._init_layers

    def __init__(self,
                 in_channels: Sequence[int] = (512, 1024, 2048),
                 num_queries: int = 300,
                 num_feature_levels: int = 4,
                 with_box_refine: bool = False,
                 as_two_stage: bool = False,
                 encoder: ConfigType = DEFORMABLE_DETR_TRANSFORMER['encoder'],
                 decoder: ConfigType = DEFORMABLE_DETR_TRANSFORMER['decoder'],
                 positional_encoding: ConfigType = dict(
                     num_feats=128, normalize=True, offset=-0.5),
                 bbox_head: ConfigType = DEFORMABLE_DETR_BBOX_HEAD,
                 norm_cfg: ConfigType = dict(type='GN', num_groups=32),
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = tuple(in_channels)
        self.num_queries = num_queries
        self.num_feature_levels = num_feature_levels
        self.with_box_refine = with_box_refine
        self.as_two_stage = as_two_stage
        # mmdet's _init_layers reads the configs from these attributes
        self.encoder = copy.deepcopy(encoder)
        self.decoder = copy.deepcopy(decoder)
        self.positional_encoding = copy.deepcopy(positional_encoding)
        self._init_transformer()
        self.neck = MODELS.build(
            dict(
                type='mmdet.ChannelMapper',
                in_channels=list(self.in_channels),
                kernel_size=1,
                out_channels=self.embed_dims,
                act_cfg=None,
                norm_cfg=norm_cfg,
                num_outs=num_feature_levels))
        # as mmdet's DeformableDETR.__init__ sets them
        num_layers = self.decoder.num_layers
        self.bbox_head = MODELS.build(
            dict(
                bbox_head,
                num_classes=1,
                embed_dims=self.embed_dims,
                share_pred_layer=not with_box_refine,
                num_pred_layer=num_layers + 1 if as_two_stage else num_layers,
                as_two_stage=as_two_stage))
        self._record_matches()

    def get_proposal_pos_embed(self, proposals: Tensor) -> Tensor:
        """mmdet's sine embedding of the two-stage proposals, sized to
        ``embed_dims`` (mmdet's default fits only 256)."""
        return DeformableDETR.get_proposal_pos_embed(
            proposals, num_pos_feats=self.embed_dims // 2)

    def init_weights(self) -> None:
        """mmdet's ``DeformableDETR.init_weights`` (written out: it calls
        its own class's ``super()``): xavier on >1-dim transformer weights,
        the deformable attention's own init, xavier reference/proposal
        projections, normal level embeddings."""
        super().init_weights()  # neck and bbox_head: their own inits
        for coder in self.encoder, self.decoder:
            for p in coder.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
        for m in self.modules():
            if isinstance(m, MultiScaleDeformableAttention):
                m.init_weights()
        if self.as_two_stage:
            nn.init.xavier_uniform_(self.memory_trans_fc.weight)
            nn.init.xavier_uniform_(self.pos_trans_fc.weight)
        else:
            nn.init.xavier_uniform_(self.reference_points_fc.weight)
            nn.init.zeros_(self.reference_points_fc.bias)
        nn.init.normal_(self.level_embed)

    def forward(self, feats: Sequence[Tensor]) -> Tuple:
        """Person logits ``[L, B, Q, 1]`` (sigmoid) and normalised boxes
        ``[L, B, Q, 4]`` of every decoder layer from the backbone outputs,
        then the encoder's proposal logits and boxes (two-stage, training;
        ``None`` otherwise)."""
        mlvl_feats = self.neck(tuple(feats[-len(self.in_channels):]))
        bs = mlvl_feats[0].size(0)
        # no padding masks: every image fills the batch tensor
        shape = tuple(mlvl_feats[0].shape[-2:])
        samples = [SimpleNamespace(batch_input_shape=shape, img_shape=shape)
                   ] * bs
        head_inputs = self.forward_transformer(mlvl_feats, samples)
        cls_scores, bbox_preds = self.bbox_head(head_inputs['hidden_states'],
                                                head_inputs['references'])
        return (cls_scores, bbox_preds, head_inputs.get('enc_outputs_class'),
                head_inputs.get('enc_outputs_coord'))
