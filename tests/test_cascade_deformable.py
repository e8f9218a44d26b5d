"""The cascade with a Deformable-DETR person stage: losses, gradients and
predictions of the plain, box-refining and two-stage forms, the module
names, and the R-50 COCO config built on the DETR cascade's."""
import os.path as osp

import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmpose.registry import MODELS
from test_cascade import make_batch

CONFIGS = osp.join(ROOT, 'configs')
TINY = osp.join(
    CONFIGS,
    'prtr-cascade-deformable_res18-tiny_1xb4-300e_coco-mini-192x192.py')


def build(with_box_refine=True, as_two_stage=False, **train_cfg):
    cfg = Config.fromfile(TINY)
    cfg.model.person_head.update(
        with_box_refine=with_box_refine, as_two_stage=as_two_stage)
    cfg.model.train_cfg.update(train_cfg)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


@pytest.mark.parametrize('refine,two_stage', [(False, False), (True, False),
                                              (True, True)])
def test_deformable_person_stage_trains_and_predicts(refine, two_stage):
    model = build(refine, two_stage, crop_boxes='pred')
    data = model.data_preprocessor(make_batch(17), training=True)
    model.train()
    losses = model(**data, mode='loss')
    keys = [
        'person.loss_cls', 'person.loss_bbox', 'person.loss_iou',
        'person.d0.loss_bbox', 'kpt.loss_cls', 'kpt.loss_kpt'
    ]
    if two_stage:
        keys.append('person.enc_loss_cls')
    for key in keys:
        assert key in losses and torch.isfinite(losses[key]), key
    assert ('person.enc_loss_cls' in losses) == two_stage
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    missing = [
        n for n, p in model.person_head.named_parameters() if p.grad is None
    ]
    assert not missing, missing
    # the keypoint loss reaches the person boxes through the crop
    reg = model.person_head.bbox_head.reg_branches[-1][-1].weight
    assert reg.grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        results = model(**data, mode='predict')
        cls, boxes, kpt_cls, kpts = model(**data, mode='tensor')
    for res in results:
        pred = res.pred_instances
        assert pred.bboxes.shape == (20, 4)
        assert pred.keypoints.shape == (20, 17, 2)
        assert (pred.bbox_scores >= 0).all() and (pred.bbox_scores <= 1).all()
        assert (pred.bboxes[:, 2:] >= pred.bboxes[:, :2]).all()
    assert cls.shape == (2, 2, 20, 1) and boxes.shape == (2, 2, 20, 4)
    assert kpt_cls.shape == (2, 2, 20, 20, 18)


def test_keypoint_stage_gets_the_deformable_loss_matches(monkeypatch):
    model = build(crop_boxes='pred')
    data = model.data_preprocessor(make_batch(17), training=True)
    seen = {}
    keypoints = model._keypoints

    def spy(feats, boxes, *args, **kwargs):
        seen['n'] = len(boxes)
        return keypoints(feats, boxes, *args, **kwargs)

    monkeypatch.setattr(model, '_keypoints', spy)
    model(**data, mode='loss')
    assert seen['n'] == 3  # every labelled ground-truth person, once


def test_module_names_follow_mmdet_deformable_detr():
    keys = build().person_head.state_dict().keys()
    for prefix in ('neck.convs.0.conv.weight', 'neck.extra_convs.0.conv',
                   'encoder.layers.0.self_attn.sampling_offsets',
                   'decoder.layers.1.cross_attn.attention_weights',
                   'query_embedding.weight', 'level_embed',
                   'reference_points_fc.weight',
                   'bbox_head.cls_branches.1.weight',
                   'bbox_head.reg_branches.1.4.weight'):
        assert any(k.startswith(prefix) for k in keys), prefix


def test_coco_config_inherits_everything_but_the_person_stage():
    detr = Config.fromfile(
        osp.join(CONFIGS, 'prtr-cascade_res50_8xb4-150e_coco-640x640.py'))
    cfg = Config.fromfile(
        osp.join(CONFIGS,
                 'prtr-cascade-deformable_res50_8xb4-50e_coco-640x640.py'))
    assert cfg.model.person_head.type == 'DeformableDETRPersonHead'
    # DETR's head dropped, mmdet's Deformable DETR head written in full
    assert cfg.model.person_head.bbox_head.type == 'mmdet.DeformableDETRHead'
    assert cfg.model.person_head.bbox_head.loss_cls.type == 'mmdet.FocalLoss'
    assert cfg.model.head == detr.model.head
    assert cfg.train_pipeline == detr.train_pipeline
    assert cfg.val_evaluator == detr.val_evaluator
    assert cfg.model.test_cfg.flip_test
    assert cfg.model.backbone.out_indices == (1, 2, 3)
    assert cfg.model.crop.in_levels == (1, 2)  # layer3 + layer4 again
    # build it (no weights) and run it once on a small image
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model).eval()
    assert model.person_head.num_feature_levels == 4
    assert model.keypoint_head.in_channels == 1024 + 2048
    with torch.no_grad():
        cls, boxes, kpt_cls, kpts = model(
            torch.rand(1, 3, 128, 128), None, mode='tensor')
    assert cls.shape == (6, 1, 300, 1) and kpts.shape == (6, 1, 20, 100, 2)


@pytest.mark.slow
def test_small_config_trains_with_the_tools(tmp_path):
    from _cli import run
    from conftest import PYTHON
    from test_cascade_tools import QUICK
    proc = run([
        PYTHON, 'tools/train.py', TINY, '--work-dir',
        str(tmp_path), '--cfg-options', *QUICK,
        'train_dataloader.dataset.indices=4'
    ])
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert osp.isfile(tmp_path / 'epoch_1.pth')


def test_150_epoch_config_keeps_the_model_and_drops_the_flip():
    short = Config.fromfile(TINY.replace('-300e_', '-150e_'))
    base = Config.fromfile(TINY)
    assert short.model == base.model
    assert short.optim_wrapper == base.optim_wrapper
    assert short.train_cfg.max_epochs == 150
    assert short.param_scheduler[0].milestones == [140]
    # the same pipeline less the random flip, which the base config has
    types = [t['type'] for t in short.train_dataloader.dataset.pipeline]
    base_types = [t['type'] for t in base.train_dataloader.dataset.pipeline]
    assert 'RandomFlip' in base_types
    assert types == [t for t in base_types if t != 'RandomFlip']
    assert short.train_dataloader.dataset.ann_file == \
        base.train_dataloader.dataset.ann_file
