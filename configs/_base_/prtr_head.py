# PRTR's keypoint transformer head (Li et al., CVPR 2021), written once for
# the two-stage configs (_base_/prtr_coco.py) and the cascade's keypoint
# stage; the DETR transformer is also the cascade's person stage.

# DETR's transformer as PRTR configures it: post-norm, ReLU, no dropout, no
# final encoder norm, a LayerNorm on every decoder output
detr_attn = dict(embed_dims=256, num_heads=8, dropout=0.0, batch_first=True)
detr_ffn = dict(
    embed_dims=256,
    feedforward_channels=2048,
    num_fcs=2,
    ffn_drop=0.0,
    act_cfg=dict(type='ReLU', inplace=True))
detr_transformer = dict(
    encoder=dict(
        num_layers=6,
        layer_cfg=dict(self_attn_cfg=detr_attn, ffn_cfg=detr_ffn)),
    decoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=detr_attn,
            cross_attn_cfg=detr_attn,
            ffn_cfg=detr_ffn),
        return_intermediate=True))
# DETR's sine encoding: 128 features per axis, normalised, 2*pi
detr_positional_encoding = dict(
    num_feats=128, temperature=10000, normalize=True)

prtr_head = dict(
    type='PRTRHead',
    in_channels=2048,
    num_keypoints=17,
    num_queries=100,
    embed_dims=256,
    transformer=detr_transformer,
    positional_encoding=detr_positional_encoding,
    # class weight of "no keypoint" (the last class)
    eos_coef=0.1,
    loss_cls=dict(
        type='mmdet.CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    loss_kpt=dict(type='mmdet.L1Loss', loss_weight=5.0),
    # Hungarian matching per decoder layer: 1 * -p(joint) + 5 * L1
    assigner=dict(
        type='KeypointHungarianAssigner',
        match_costs=[
            dict(type='KeypointClassCost', weight=1.0),
            dict(type='KeypointL1Cost', weight=5.0)
        ],
        visible_only=False,
        solver='auto'))
