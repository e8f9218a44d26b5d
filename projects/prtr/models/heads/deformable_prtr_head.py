# Copyright (c) prtr authors. All rights reserved.
"""PRTR's keypoint head on Deformable-DETR's transformer."""
import math
from typing import Tuple

import torch
from mmcv.cnn import build_norm_layer
from mmcv.ops import MultiScaleDeformableAttention
from mmdet.models.layers import (DeformableDetrTransformerDecoder,
                                 DeformableDetrTransformerEncoder,
                                 SinePositionalEncoding)
from mmdet.models.layers.transformer import inverse_sigmoid
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType
from torch import Tensor, nn

from ..layers.detr_transformer import ATTN_CFG, FFN_CFG
from .prtr_head import PRTRHead

_MSDA = dict(
    embed_dims=256,
    num_heads=8,
    num_levels=4,
    num_points=4,
    dropout=0.0,
    batch_first=True)
# The official deformable configs: 6+6 layers, 8 heads, 4 levels, 4 points,
# FFN 2048, no dropout; post-norm layers, no final decoder norm.
DEFORMABLE_TRANSFORMER = dict(
    encoder=dict(
        num_layers=6, layer_cfg=dict(self_attn_cfg=_MSDA, ffn_cfg=FFN_CFG)),
    decoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=ATTN_CFG, cross_attn_cfg=_MSDA, ffn_cfg=FFN_CFG),
        post_norm_cfg=None,
        return_intermediate=True))


@MODELS.register_module()
class DeformablePRTRHead(PRTRHead):
    """Deformable variant of :class:`PRTRHead` (PRTR, CVPR 2021).

    Multi-scale features (by default ResNet's layer2-4 plus one extra
    stride-2 conv level) are projected to ``embed_dims`` (1x1 conv + GN),
    given a sine position encoding plus a learned level embedding, and go
    through mmdet's Deformable-DETR encoder/decoder. Queries are
    ``Embedding(N, 2 * embed_dims)`` split into position and content;
    reference points come from the position half, and every decoder layer
    predicts ``sigmoid(MLP(h) + inverse_sigmoid(reference))`` with class and
    coordinate heads shared across layers. Training, matching and decoding
    are :class:`PRTRHead`'s.

    Args:
        in_channels (tuple[int]): channels of the backbone levels used.
        num_feature_levels (int): levels seen by the transformer; those
            beyond the backbone's come from stride-2 3x3 convs.
        positional_encoding (dict): mmdet ``SinePositionalEncoding`` config
            (Deformable DETR's: normalised with offset -0.5).
        **kwargs: see :class:`PRTRHead`.
    """

    def __init__(self,
                 in_channels: Tuple[int] = (512, 1024, 2048),
                 num_feature_levels: int = 4,
                 transformer: ConfigType = DEFORMABLE_TRANSFORMER,
                 positional_encoding: ConfigType = dict(
                     num_feats=128, normalize=True, offset=-0.5),
                 **kwargs) -> None:
        self.num_feature_levels = num_feature_levels
        super().__init__(
            in_channels=in_channels,
            transformer=transformer,
            positional_encoding=positional_encoding,
            **kwargs)

    def _init_layers(self, transformer: ConfigType,
                     positional_encoding: ConfigType) -> None:
        d = self.embed_dims
        gn = dict(type='GN', num_groups=32)
        projections = []
        channels = list(self.in_channels)
        for level in range(self.num_feature_levels):
            extra = level >= len(self.in_channels)
            c_in = d if level > len(self.in_channels) else channels[min(
                level,
                len(channels) - 1)]
            conv = nn.Conv2d(c_in, d, 3, 2, 1) if extra else nn.Conv2d(
                c_in, d, 1)
            projections.append(nn.Sequential(conv, build_norm_layer(gn, d)[1]))
        self.input_proj = nn.ModuleList(projections)
        self.positional_encoding = SinePositionalEncoding(
            **positional_encoding)
        self.level_embed = nn.Parameter(
            torch.empty(self.num_feature_levels, d))
        self.transformer = nn.ModuleDict(
            dict(
                encoder=DeformableDetrTransformerEncoder(
                    **transformer['encoder']),
                decoder=DeformableDetrTransformerDecoder(
                    **transformer['decoder'])))
        self.query_embed = nn.Embedding(self.num_queries, 2 * d)
        self.reference_points = nn.Linear(d, 2)

    def init_weights(self) -> None:
        """Deformable DETR's init and upstream's head init (class prior
        0.01, zero last coordinate layer, xavier input projections)."""
        super().init_weights()  # xavier on >1-dim transformer weights
        for m in self.transformer.modules():
            if isinstance(m, MultiScaleDeformableAttention):
                m.init_weights()
        nn.init.xavier_uniform_(self.reference_points.weight)
        nn.init.zeros_(self.reference_points.bias)
        nn.init.normal_(self.level_embed)
        nn.init.constant_(self.class_embed.bias, -math.log((1 - 0.01) / 0.01))
        nn.init.zeros_(self.kpt_embed.layers[-1].weight)
        nn.init.zeros_(self.kpt_embed.layers[-1].bias)
        for proj in self.input_proj:
            nn.init.xavier_uniform_(proj[0].weight)
            nn.init.zeros_(proj[0].bias)

    def forward(self, feats: Tuple[Tensor]) -> Tuple[Tensor, Tensor]:
        """Class logits ``[L, bs, N, K+1]`` and coordinates ``[L, bs, N, 2]``
        from the last ``len(in_channels)`` feature maps."""
        feats = feats[-len(self.in_channels):]
        srcs = [proj(f) for proj, f in zip(self.input_proj, feats)]
        for level in range(len(feats), self.num_feature_levels):
            srcs.append(self.input_proj[level](feats[-1] if level ==
                                               len(feats) else srcs[-1]))
        bs = srcs[0].size(0)
        shapes, flat, pos = [], [], []
        for level, src in enumerate(srcs):
            shapes.append(src.shape[-2:])
            p = self.positional_encoding(None, src)  # [bs, d, h, w]
            flat.append(src.flatten(2).transpose(1, 2))  # [bs, h*w, d]
            pos.append(p.flatten(2).transpose(1, 2) + self.level_embed[level])
        memory, pos = torch.cat(flat, 1), torch.cat(pos, 1)
        spatial_shapes = torch.as_tensor(
            shapes, dtype=torch.long, device=memory.device)  # [levels, 2]
        level_start_index = torch.cat((spatial_shapes.new_zeros(
            (1, )), spatial_shapes.prod(1).cumsum(0)[:-1]))
        valid_ratios = memory.new_ones(bs, len(srcs), 2)  # no padding
        memory = self.transformer.encoder(
            query=memory,
            query_pos=pos,
            key_padding_mask=None,
            spatial_shapes=spatial_shapes,
            level_start_index=level_start_index,
            valid_ratios=valid_ratios)
        # [N, 2d] -> position and content halves, [bs, N, d] each
        query_pos, query = self.query_embed.weight.split(self.embed_dims, 1)
        query_pos = query_pos.unsqueeze(0).expand(bs, -1, -1)
        query = query.unsqueeze(0).expand(bs, -1, -1)
        reference = self.reference_points(query_pos).sigmoid()  # [bs, N, 2]
        hidden, _ = self.transformer.decoder(
            query=query,
            query_pos=query_pos,
            value=memory,
            key_padding_mask=None,
            reference_points=reference,
            spatial_shapes=spatial_shapes,
            level_start_index=level_start_index,
            valid_ratios=valid_ratios)  # [L, bs, N, d]
        coords = (self.kpt_embed(hidden) +
                  inverse_sigmoid(reference)).sigmoid()
        return self.class_embed(hidden), coords
