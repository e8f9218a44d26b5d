# The small deformable cascade (prtr-cascade-deformable_res18-tiny_...-300e)
# on a 150-epoch schedule, lr x0.1 at epoch 140: all 55 images of the
# bundled sample, about 10 minutes with 2 threads on a 2-core CPU (see
# docs/benchmarks.md, "All 55 images", for what it reaches).
#   python tools/train.py \
#     configs/prtr-cascade-deformable_res18-tiny_1xb4-150e_coco-mini-192x192.py
_base_ = [
    './prtr-cascade-deformable_res18-tiny_1xb4-300e_coco-mini-192x192.py'
]

train_cfg = dict(max_epochs=150, val_interval=50)
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=150,
        milestones=[140],
        gamma=0.1,
        by_epoch=True)
]
