# Deformable PRTR R-50, COCO, 384x288 (official: 4 GPUs x 16, 100 epochs,
# x0.5 at 50 and 70; lr x0.1 for the backbone, reference points and
# sampling offsets).
_base_ = ['./prtr_res50_4xb32-200e_coco-384x288.py']

train_cfg = dict(max_epochs=100)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1),
            'reference_points': dict(lr_mult=0.1),
            'sampling_offsets': dict(lr_mult=0.1)
        }))
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=100,
        milestones=[50, 70],
        gamma=0.5,
        by_epoch=True)
]
auto_scale_lr = dict(base_batch_size=64)

# multi-scale deformable attention over 4 levels, 4 points per head
deform_attn = dict(
    embed_dims=256,
    num_heads=8,
    num_levels=4,
    num_points=4,
    dropout=0.0,
    batch_first=True)
model = dict(
    backbone=dict(out_indices=(1, 2, 3)),
    head=dict(
        type='DeformablePRTRHead',
        in_channels=(512, 1024, 2048),
        num_feature_levels=4,
        # Deformable DETR's encoder/decoder (decoder self-attention is
        # DETR's; no final decoder norm)
        transformer=dict(
            _delete_=True,
            encoder=dict(
                num_layers=6,
                layer_cfg=dict(
                    self_attn_cfg=deform_attn, ffn_cfg=_base_.detr_ffn)),
            decoder=dict(
                num_layers=6,
                layer_cfg=dict(
                    self_attn_cfg=_base_.detr_attn,
                    cross_attn_cfg=deform_attn,
                    ffn_cfg=_base_.detr_ffn),
                post_norm_cfg=None,
                return_intermediate=True)),
        # Deformable DETR's sine encoding: normalised with offset -0.5
        positional_encoding=dict(
            _delete_=True, num_feats=128, normalize=True, offset=-0.5)))

train_dataloader = dict(batch_size=16)
