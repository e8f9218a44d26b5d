# Copyright (c) prtr authors. All rights reserved.
"""The cascade's keypoint transformer, run on spatial-transformer crops."""
from typing import Tuple

import torch
from mmpose.registry import MODELS
from torch import Tensor, nn

from .prtr_head import PRTRHead


@MODELS.register_module()
class CascadeKeypointHead(PRTRHead):
    """Second stage of the PRTR cascade: :class:`PRTRHead` on person crops.

    "Pose Recognition with Cascade Transformers", Li et al., CVPR 2021. The
    input is a fixed ``x_res x y_res`` crop of backbone features per person
    (:class:`SpatialTransformerCrop`), so the crop's position encoding is
    upstream's: a fixed sine encoding (the same for every person) on half of
    the channels, concatenated with learned row and column embeddings on
    the other half. Queries, class/coordinate heads, the Hungarian
    assigner and the set loss are :class:`PRTRHead`'s; coordinates are
    relative to the crop.

    Args:
        crop_size (tuple[int]): ``(x_res, y_res)`` of the crops.
        embed_dims (int): transformer width (a multiple of 4).
        **kwargs: see :class:`PRTRHead` (``positional_encoding`` configures
            the sine half; its ``num_feats`` is set to ``embed_dims // 4``).
    """

    def __init__(self,
                 crop_size: Tuple[int, int] = (10, 10),
                 embed_dims: int = 256,
                 positional_encoding: dict = dict(normalize=True),
                 **kwargs) -> None:
        if embed_dims % 4:
            raise ValueError(f'embed_dims={embed_dims} must be a multiple of '
                             '4 (sine + row + column position encoding)')
        self.crop_size = tuple(crop_size)
        super().__init__(
            embed_dims=embed_dims,
            positional_encoding=dict(
                positional_encoding, num_feats=embed_dims // 4),
            **kwargs)
        x_res, y_res = self.crop_size
        self.row_embed = nn.Embedding(y_res, embed_dims // 4)
        self.col_embed = nn.Embedding(x_res, embed_dims // 4)

    def init_weights(self) -> None:
        super().init_weights()
        nn.init.uniform_(self.row_embed.weight)
        nn.init.uniform_(self.col_embed.weight)

    def crop_position(self, crops: Tensor) -> Tensor:
        """Position encoding ``[P, d, y_res, x_res]`` of the crops."""
        num, _, h, w = crops.shape
        sine = self.positional_encoding(None, crops.new_zeros(1, 1, h, w))
        rows = self.row_embed.weight[:, None].expand(h, w, -1)
        cols = self.col_embed.weight[None].expand(h, w, -1)
        learned = torch.cat([cols, rows], -1).permute(2, 0, 1)  # [d/2, h, w]
        pos = torch.cat([sine[0], learned], 0)  # [d, h, w]
        return pos.unsqueeze(0).expand(num, -1, -1, -1)

    def forward(self, crops: Tensor) -> Tuple[Tensor, Tensor]:
        """Class logits ``[L, P, N, K+1]`` and crop-relative coordinates
        ``[L, P, N, 2]`` from crops ``[P, C, y_res, x_res]``."""
        hidden = self.forward_transformer(crops, self.crop_position(crops))
        return self.class_embed(hidden), self.kpt_embed(hidden).sigmoid()
