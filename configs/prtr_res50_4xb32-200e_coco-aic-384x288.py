# PRTR R-50 trained on COCO + AI Challenger, evaluated on COCO val, 384x288.
# AIC's 14 joints are mapped onto COCO's 17 by mmpose's KeypointConverter
# inside a CombinedDataset with COCO's metainfo, as mmpose's body8 configs
# (rtmpose body8) do; joints AIC lacks (face) are unlabelled.
_base_ = ['./_base_/prtr_coco.py']

# AIC index -> COCO index (mmpose's body8 mapping; AIC's head top and neck
# have no COCO joint)
aic_coco = [(0, 6), (1, 8), (2, 10), (3, 5), (4, 7), (5, 9), (6, 12), (7, 14),
            (8, 16), (9, 11), (10, 13), (11, 15)]
dataset_coco = dict(
    type='CocoDataset',
    data_root='data/coco/',
    data_mode='topdown',
    ann_file='annotations/person_keypoints_train2017.json',
    data_prefix=dict(img='train2017/'),
    pipeline=[])
dataset_aic = dict(
    type='AicDataset',
    data_root='data/aic/',
    data_mode='topdown',
    ann_file='annotations/aic_train.json',
    data_prefix=dict(img='ai_challenger_keypoint_train_20170902/'
                     'keypoint_train_images_20170902/'),
    pipeline=[
        dict(type='KeypointConverter', num_keypoints=17, mapping=aic_coco)
    ])
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CombinedDataset',
        metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
        datasets=[dataset_coco, dataset_aic],
        pipeline=_base_.train_pipeline,
        test_mode=False))
