# Copyright (c) prtr authors. All rights reserved.
"""The DETR encoder-decoder that both PRTR stages run on a feature map."""
import copy
from typing import Optional

import torch
from mmdet.models.layers import (DetrTransformerDecoder,
                                 DetrTransformerEncoder,
                                 SinePositionalEncoding)
from mmpose.utils.typing import ConfigType
from torch import Tensor, nn

from .lean_detr_forward import (lean_decoder_forward, lean_encoder_forward,
                                lean_forward_supported, modules_wrapped)

ATTN_CFG = dict(embed_dims=256, num_heads=8, dropout=0.0, batch_first=True)
FFN_CFG = dict(
    embed_dims=256,
    feedforward_channels=2048,
    num_fcs=2,
    ffn_drop=0.0,
    act_cfg=dict(type='ReLU', inplace=True))
# DETR's transformer as PRTR configures it: post-norm, ReLU, no dropout,
# no final encoder norm, a final LayerNorm on every decoder output.
DETR_TRANSFORMER = dict(
    encoder=dict(
        num_layers=6, layer_cfg=dict(self_attn_cfg=ATTN_CFG, ffn_cfg=FFN_CFG)),
    decoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=ATTN_CFG, cross_attn_cfg=ATTN_CFG, ffn_cfg=FFN_CFG),
        return_intermediate=True))


class DetrTransformerMixin:
    """1x1 input projection, sine position encoding, mmdet's DETR
    encoder/decoder and ``num_queries`` learned queries.

    Shared by the keypoint transformer (:class:`PRTRHead`) and the cascade's
    person detector (:class:`PersonDetrTransformer`). The attribute names
    (``input_proj``, ``transformer.encoder``, ``transformer.decoder``,
    ``query_embed``) follow the official PRTR state dicts. The host class
    sets ``in_channels``, ``embed_dims`` and ``num_queries`` first.
    """

    def _init_layers(self, transformer: ConfigType,
                     positional_encoding: ConfigType) -> None:
        """Input projection, position encoding, transformer and queries."""
        transformer = copy.deepcopy(transformer)
        self.input_proj = nn.Conv2d(
            self.in_channels, self.embed_dims, kernel_size=1)
        self.positional_encoding = SinePositionalEncoding(
            **positional_encoding)
        self.transformer = nn.ModuleDict(
            dict(
                encoder=DetrTransformerEncoder(**transformer['encoder']),
                decoder=DetrTransformerDecoder(**transformer['decoder'])))
        self.query_embed = nn.Embedding(self.num_queries, self.embed_dims)
        # the same function in fewer operators where the layers are DETR's
        # (see lean_detr_forward); False runs mmdet's modules' forward
        # (the host's ``lean_forward=False`` turns it off)
        self.lean_forward = lean_forward_supported(self.transformer.encoder,
                                                   self.transformer.decoder)
        # what the lean forward bypasses, checked for wrappers and hooks
        self._transformer_modules = list(self.transformer.modules())

    def _init_transformer_weights(self) -> None:
        """DETR's init: xavier-uniform on every >1-dim transformer weight."""
        for p in self.transformer.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward_transformer(self,
                            x: Tensor,
                            pos: Optional[Tensor] = None) -> Tensor:
        """Encode a feature map and decode the queries.

        Args:
            x (Tensor): feature map ``[bs, c, h, w]``.
            pos (Tensor, optional): position encoding ``[bs, d, h, w]``;
                DETR's sine encoding of the map when not given.

        Returns:
            Tensor: decoder outputs of every layer ``[L, bs, N, d]``.
        """
        x = self.input_proj(x)  # [bs, c, h, w] -> [bs, d, h, w]
        bs = x.size(0)
        if pos is None:
            pos = self.positional_encoding(None, x)  # [bs, d, h, w]
        x = x.flatten(2).transpose(1, 2)  # [bs, d, h, w] -> [bs, h*w, d]
        pos = pos.flatten(2).transpose(1, 2)
        query_pos = self.query_embed.weight.unsqueeze(0).expand(bs, -1, -1)
        if self.lean_forward and not modules_wrapped(
                self._transformer_modules):
            memory = lean_encoder_forward(self.transformer.encoder, x, pos)
            return lean_decoder_forward(self.transformer.decoder, query_pos,
                                        memory, pos)  # [L, bs, N, d]
        memory = self.transformer.encoder(
            query=x, query_pos=pos, key_padding_mask=None)
        return self.transformer.decoder(
            query=torch.zeros_like(query_pos),
            key=memory,
            value=memory,
            query_pos=query_pos,
            key_pos=pos,
            key_padding_mask=None)  # [L, bs, N, d]
