# The small deformable cascade (prtr-cascade-deformable_res18-tiny_...-300e)
# set to learn all 55 images of the bundled sample on a 2-core CPU (10 to 19
# minutes with 2 threads, by machine), evaluated on the same images (a check
# that the whole cascade fits, not a benchmark; figures in
# docs/benchmarks.md, "All 55 images"):
# - 150 epochs, lr x0.1 at epoch 140 (100 epochs, x0.1 at 90: keypoint AP
#   0.04 only);
# - no augmentation at all (the base config's random flip dropped): the
#   persons are learnt as they are evaluated. Measured with flip: box mAP
#   0.33, keypoint AP 0.01 after 150 epochs; without: 0.50-0.56, 0.20-0.27.
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
train_pipeline = [
    t for t in _base_.train_pipeline if t['type'] != 'RandomFlip'
]
# data loading in the main process: 55 small images load in no time, and
# worker processes would take CPU from the 2 training threads
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
# the figures above are of seed 0
randomness = dict(seed=0)
