# PRTR R-50 on CrowdPose (14 joints), 384x288: the COCO recipe with mmpose's
# CrowdPose dataset and metric, as mmpose's
# td-hm_res50_8xb64-210e_crowdpose-256x192.py sets them (trainval / test
# split, its detections, CrowdPose's OKS without areas).
_base_ = ['./_base_/prtr_coco.py']

data_root = 'data/crowdpose/'
model = dict(head=dict(num_keypoints=14))
train_dataloader = dict(
    dataset=dict(
        type='CrowdPoseDataset',
        data_root=data_root,
        ann_file='annotations/mmpose_crowdpose_trainval.json',
        data_prefix=dict(img='images/')))
val_dataloader = dict(
    dataset=dict(
        type='CrowdPoseDataset',
        data_root=data_root,
        ann_file='annotations/mmpose_crowdpose_test.json',
        bbox_file=f'{data_root}annotations/det_for_crowd_test_0.1_0.5.json',
        data_prefix=dict(img='images/')))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric',
    ann_file=f'{data_root}annotations/mmpose_crowdpose_test.json',
    use_area=False,
    iou_type='keypoints_crowd',
    prefix='crowdpose')
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(save_best='crowdpose/AP'))
