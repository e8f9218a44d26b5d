"""A tiny PRTRHead config shared by the unit tests."""
import copy

ATTN = dict(embed_dims=32, num_heads=4, dropout=0.0)
FFN = dict(embed_dims=32, feedforward_channels=64, num_fcs=2, ffn_drop=0.0)


def tiny_head_cfg(num_keypoints=17,
                  num_layers=2,
                  num_queries=20,
                  input_size=(48, 64),
                  **kwargs):
    cfg = dict(
        type='PRTRHead',
        in_channels=16,
        num_keypoints=num_keypoints,
        num_queries=num_queries,
        embed_dims=32,
        positional_encoding=dict(num_feats=16, normalize=True),
        transformer=dict(
            encoder=dict(
                num_layers=num_layers,
                layer_cfg=dict(self_attn_cfg=ATTN, ffn_cfg=FFN)),
            decoder=dict(
                num_layers=num_layers,
                layer_cfg=dict(
                    self_attn_cfg=ATTN, cross_attn_cfg=ATTN, ffn_cfg=FFN),
                return_intermediate=True)),
        decoder=dict(type='PRTRLabel', input_size=input_size))
    cfg.update(kwargs)
    return copy.deepcopy(cfg)
