"""Every config in configs/ builds, trains one step and predicts on CPU."""
import glob
import os.path as osp

import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

# two-stage configs; the cascade's (prtr-cascade_*) are in test_cascade*.py
CONFIGS = sorted(
    osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs', '*.py'))
    if not osp.basename(p).startswith('prtr-cascade'))


def _batch(num_keypoints, bs=2, h=96, w=64):
    g = torch.Generator().manual_seed(0)
    inputs = torch.rand(bs, 3, h, w, generator=g) * 255
    samples = []
    for _ in range(bs):
        s = PoseDataSample(
            metainfo=dict(
                flip_indices=list(range(num_keypoints)),
                input_size=(w, h),
                input_center=torch.tensor([100., 100.]).numpy(),
                input_scale=torch.tensor([96., 128.]).numpy()))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[52., 36., 148., 164.]]).numpy(),
            bbox_scores=torch.ones(1).numpy())
        s.gt_instance_labels = InstanceData(
            keypoint_labels=torch.rand(1, num_keypoints, 2, generator=g),
            keypoint_weights=torch.ones(1, num_keypoints))
        samples.append(s)
    return inputs, samples


def _no_pretrained(cfg):
    """Drop every init_cfg: no weights can be downloaded in tests."""
    if isinstance(cfg, dict):
        cfg.pop('init_cfg', None)
        for v in cfg.values():
            _no_pretrained(v)


def test_configs_found():
    assert len(CONFIGS) >= 18
    assert 'configs/prtr_hrnet_w32.py' in CONFIGS


@pytest.mark.parametrize('config', CONFIGS)
def test_config_trains_one_step_and_predicts(config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    assert cfg.default_scope == 'mmpose'
    assert 'prtr' in cfg.custom_imports['imports']
    model_cfg = cfg.model.to_dict()
    _no_pretrained(model_cfg)
    model = MODELS.build(model_cfg)
    model.init_weights()
    num_keypoints = cfg.model.head.num_keypoints
    inputs, samples = _batch(num_keypoints)

    model.train()
    data = model.data_preprocessor(
        dict(inputs=list(inputs), data_samples=samples), training=True)
    losses = model(**data, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    loss.backward()
    head_grads = [p.grad for p in model.head.parameters()]
    assert all(g is not None for g in head_grads)

    model.eval()
    with torch.no_grad():
        results = model(**data, mode='predict')
    assert len(results) == 2
    kpts = results[0].pred_instances.keypoints
    assert kpts.shape == (1, num_keypoints, 2)


# official README: parameters of each model (their counter rounds the
# ResNet-101 models ~0.15M lower than a plain sum of torchvision's weights)
OFFICIAL_PARAMS = {
    'prtr_res50_4xb32-200e_coco-384x288.py': 41.5,
    'prtr_res101_4xb32-200e_coco-384x288.py': 60.4,
    'prtr_hrnet-w32_4xb16-200e_coco-384x288.py': 57.2,
    'prtr_deform-res50_4xb16-100e_coco-384x288.py': 46.3,
    'prtr_deform-res101_4xb16-100e_coco-384x288.py': 65.2,
}


@pytest.mark.parametrize('config,millions', OFFICIAL_PARAMS.items())
def test_parameter_count_matches_official(config, millions):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', config))
    model_cfg = cfg.model.to_dict()
    _no_pretrained(model_cfg)
    model = MODELS.build(model_cfg)
    count = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(count - millions) < 0.2, count
