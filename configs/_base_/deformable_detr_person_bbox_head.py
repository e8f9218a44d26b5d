# The cascade's Deformable-DETR person stage: mmdet's Deformable DETR R-50
# head (deformable-detr_r50_16xb2-50e_coco.py) with one class, written once
# for the R-50 and the CPU-sized deformable cascades: focal loss (2) + L1 (5)
# + GIoU (2), Hungarian matching on the same three costs.
deformable_detr_person_bbox_head = dict(
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
