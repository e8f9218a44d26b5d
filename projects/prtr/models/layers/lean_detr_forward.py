# Copyright (c) prtr authors. All rights reserved.
"""DETR's encoder/decoder forward in few operators, on mmdet's modules.

mmdet's ``DetrTransformerEncoder``/``Decoder`` run every attention through
mmcv's ``MultiheadAttention`` and ``nn.MultiheadAttention`` (batch-first
transposes, per-call argument checks, attention weights averaged over the
heads for nobody, zero-probability dropouts, one LayerNorm more than the
outputs need). On a GPU a small-batch step is bound by the host, i.e. by
the number of operators dispatched, not by arithmetic (issue 9). This
module computes the same function from the same parameters with fewer of
them; the modules, their state-dict keys and their initialisation stay
mmdet's, which remains the reference (``tests/test_lean_forward.py``
compares outputs and gradients).

Only the configuration PRTR and DETR use is taken this way (post-norm
layers, ReLU FFN of two layers, no dropout, no masks, no activation
checkpointing); :func:`lean_forward_supported` says whether modules are of
it, :func:`modules_wrapped` whether something has since wrapped or hooked
their forward (mmengine's ``activation_checkpointing``, a forward hook),
and anything else runs mmdet's forward.
"""
from typing import Iterable, List, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import FFN, MultiheadAttention
from mmdet.models.layers import (DetrTransformerDecoder,
                                 DetrTransformerDecoderLayer,
                                 DetrTransformerEncoder,
                                 DetrTransformerEncoderLayer)
from torch import Tensor, nn


def _no_dropout(m: nn.Module) -> bool:
    """mmcv builds its zero dropouts as ``Dropout(p=0)`` or ``Identity``."""
    if isinstance(m, nn.Identity):
        return True
    return isinstance(m, nn.Dropout) and m.p == 0


def _plain_attention(m: nn.Module) -> bool:
    """mmcv attention around a packed, biased ``nn.MultiheadAttention``
    without dropout or extras."""
    if type(m) is not MultiheadAttention or not m.batch_first:
        return False
    a = m.attn
    return (a._qkv_same_embed_dim and a.in_proj_bias is not None
            and a.bias_k is None and not a.add_zero_attn and a.dropout == 0
            and _no_dropout(m.proj_drop) and _no_dropout(m.dropout_layer))


def _plain_ffn(m: nn.Module) -> bool:
    """mmcv FFN: Linear, ReLU, Linear, identity added, no dropout."""
    if type(m) is not FFN or m.num_fcs != 2 or not m.add_identity:
        return False
    (fc1, act, drop1), fc2, drop2 = m.layers[0], m.layers[1], m.layers[2]
    return (isinstance(fc1, nn.Linear) and isinstance(fc2, nn.Linear)
            and type(act) is nn.ReLU and _no_dropout(drop1)
            and _no_dropout(drop2) and isinstance(m.gamma2, nn.Identity)
            and _no_dropout(m.dropout_layer))


def _plain_norms(norms) -> bool:
    return all(type(n) is nn.LayerNorm for n in norms)


def lean_forward_supported(encoder: nn.Module, decoder: nn.Module) -> bool:
    """Whether :func:`lean_encoder_forward` / :func:`lean_decoder_forward`
    compute what these mmdet modules compute."""
    if (type(encoder) is not DetrTransformerEncoder
            or type(decoder) is not DetrTransformerDecoder
            or encoder.num_cp > 0  # fairscale checkpointing keeps the type
            or not decoder.return_intermediate
            or type(decoder.post_norm) is not nn.LayerNorm):
        return False
    layers = [(layer, DetrTransformerEncoderLayer, (layer.self_attn, ))
              for layer in encoder.layers]
    layers += [(layer, DetrTransformerDecoderLayer, (layer.self_attn,
                                                     layer.cross_attn))
               for layer in decoder.layers]
    if not all(
            type(layer) is kind and all(map(_plain_attention, attns))
            and _plain_ffn(layer.ffn) and _plain_norms(layer.norms)
            for layer, kind, attns in layers):
        return False
    # the cross-attention keys/values of all layers are split alike
    return len({layer.cross_attn.attn.num_heads
                for layer in decoder.layers}) <= 1


def modules_wrapped(modules: Iterable[nn.Module]) -> bool:
    """Whether the forward of one of ``modules`` was replaced on the
    instance (mmengine's ``activation_checkpointing``) or has hooks: the
    lean forward, which calls none of them, would skip those. (~0.1 ms for
    the 270 modules of PRTR's transformer, every forward.)"""
    for m in modules:
        attrs = m.__dict__
        if ('forward' in attrs or attrs['_forward_hooks']
                or attrs['_forward_pre_hooks']):
            return True
    return False


def _layer_norm(x: Tensor, norm: nn.LayerNorm) -> Tensor:
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias,
                        norm.eps)


def _ffn(x: Tensor, ffn: FFN) -> Tensor:
    """``x + fc2(relu(fc1(x)))`` on ``[T, d]`` tokens."""
    fc1, fc2 = ffn.layers[0][0], ffn.layers[1]
    hidden = F.relu(F.linear(x, fc1.weight, fc1.bias), inplace=True)
    return x + F.linear(hidden, fc2.weight, fc2.bias)


def _split_heads(x: Tensor, bs: int, n: int,
                 num_heads: int) -> Tuple[Tensor, ...]:
    """``[G, bs*n, d]`` -> G views ``[bs, h, n, d/h]``."""
    g, _, d = x.shape
    # sizes spelt out: with bs = 0 there is no -1 to infer
    heads = x.view(g, bs, n, num_heads, d // num_heads)
    return heads.transpose(2, 3).unbind(0)


def _attend(q: Tensor, k: Tensor, v: Tensor, m: MultiheadAttention) -> Tensor:
    """softmax(q k^T / sqrt(d/h)) v of every head, as
    ``nn.MultiheadAttention`` computes it with explicit products, and the
    output projection: ``[bs, h, Nq, d/h]`` -> ``[bs*Nq, d]``."""
    out = F.scaled_dot_product_attention(q, k, v)
    bs, h, n, dh = out.shape
    # [bs, h, Nq, d/h] -> [bs*Nq, d]
    out = out.transpose(1, 2).reshape(bs * n, h * dh)
    proj = m.attn.out_proj
    return F.linear(out, proj.weight, proj.bias)


def _self_attention(x: Tensor, pos: Tensor, bs: int, n: int,
                    m: MultiheadAttention) -> Tensor:
    """``x + attn(q=k=x+pos, v=x)`` on ``[bs*n, d]`` tokens."""
    a = m.attn
    d = x.size(-1)
    with_pos = x + pos
    # the packed projection as one batched product of its three [d, d]
    # blocks: [3, T, d] x [3, d, d] -> q, k, v [3, T, d]
    qkv = torch.baddbmm(
        a.in_proj_bias.view(3, 1, d), torch.stack([with_pos, with_pos, x]),
        a.in_proj_weight.view(3, d, d).transpose(1, 2))
    q, k, v = _split_heads(qkv, bs, n, a.num_heads)
    return x + _attend(q, k, v, m)


def lean_encoder_forward(encoder: DetrTransformerEncoder, x: Tensor,
                         pos: Tensor) -> Tensor:
    """``encoder(query=x, query_pos=pos, key_padding_mask=None)``.

    Args:
        x (Tensor): ``[bs, n, d]`` tokens of the feature map.
        pos (Tensor): ``[bs, n, d]`` their position encoding.

    Returns:
        Tensor: the memory ``[bs, n, d]``.
    """
    bs, n, d = x.shape
    # [bs, n, d] -> [bs*n, d]: every product below is one 2-d matmul
    x, pos = x.reshape(bs * n, d), pos.reshape(bs * n, d)
    for layer in encoder.layers:
        x = _layer_norm(
            _self_attention(x, pos, bs, n, layer.self_attn), layer.norms[0])
        x = _layer_norm(_ffn(x, layer.ffn), layer.norms[1])
    return x.view(bs, n, d)


def _cross_projections(memory: Tensor, key_pos: Tensor, bs: int, n: int,
                       attns: List[MultiheadAttention]) -> Tuple[List, ...]:
    """What every decoder layer's cross-attention projects.

    The keys and values depend on the memory only: two products for all L
    layers. The query projections are returned per layer; every block is
    taken from the packed weights by ``unbind`` (its gradient is one
    ``stack``; a slice's would be a zero-filled copy of the whole weight).

    Returns:
        tuple: per layer, keys and values ``[bs, h, n, d/h]`` and the query
        projection's weight ``[d, d]`` and bias ``[d]``.
    """
    num, d = len(attns), memory.size(-1)
    num_heads = attns[0].attn.num_heads
    # L x [3d, d] -> q, k, v: [L, d, d] each
    weight = torch.stack([m.attn.in_proj_weight for m in attns])
    bias = torch.stack([m.attn.in_proj_bias for m in attns])
    w_q, w_k, w_v = weight.view(num, 3, d, d).unbind(1)
    b_q, b_k, b_v = bias.view(num, 3, d).unbind(1)
    keys_values = []
    for inputs, w, b in ((memory + key_pos, w_k, b_k), (memory, w_v, b_v)):
        # [T, d] x [d, L*d] -> [T, L*d] -> L x [bs, h, n, d/h]
        y = F.linear(inputs, w.reshape(num * d, d), b.reshape(num * d))
        y = y.view(bs, n, num, num_heads, d // num_heads)
        keys_values.append(y.permute(2, 0, 3, 1, 4).unbind(0))
    return (*keys_values, w_q.unbind(0), b_q.unbind(0))


def lean_decoder_forward(decoder: DetrTransformerDecoder, query_pos: Tensor,
                         memory: Tensor, key_pos: Tensor) -> Tensor:
    """``decoder(query=zeros, key=value=memory, query_pos, key_pos)``.

    Args:
        query_pos (Tensor): ``[bs, N, d]`` learned queries.
        memory (Tensor): ``[bs, n, d]`` encoder output.
        key_pos (Tensor): ``[bs, n, d]`` its position encoding.

    Returns:
        Tensor: post-normed outputs of every layer ``[L, bs, N, d]``.
    """
    bs, num_queries, d = query_pos.shape
    n = memory.size(1)
    query_pos = query_pos.reshape(bs * num_queries, d)
    cross = _cross_projections(
        memory.reshape(bs * n, d), key_pos.reshape(bs * n, d), bs, n,
        [layer.cross_attn for layer in decoder.layers])
    tgt = torch.zeros_like(query_pos)
    outputs = []
    for layer, k, v, w_q, b_q in zip(decoder.layers, *cross):
        tgt = _layer_norm(
            _self_attention(tgt, query_pos, bs, num_queries, layer.self_attn),
            layer.norms[0])
        q = F.linear(tgt + query_pos, w_q, b_q)
        q, = _split_heads(
            q.unsqueeze(0), bs, num_queries, layer.cross_attn.attn.num_heads)
        tgt = _layer_norm(tgt + _attend(q, k, v, layer.cross_attn),
                          layer.norms[1])
        tgt = _layer_norm(_ffn(tgt, layer.ffn), layer.norms[2])
        outputs.append(tgt)
    # one LayerNorm over all layers' outputs (mmdet: one per layer and a
    # last one that is not returned)
    out = _layer_norm(torch.stack(outputs), decoder.post_norm)
    return out.view(len(outputs), bs, num_queries, d)
