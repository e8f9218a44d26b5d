"""Every two-stage config in configs/: one model per distinct architecture
builds, trains one step and predicts on CPU; resolution variants of an
architecture agree on their input size everywhere it is set; parameter
counts match the official models."""
import functools
import glob
import json
import os.path as osp
import re

import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmpose.registry import MODELS
from mmpose.testing import get_packed_inputs

# two-stage configs; the cascade's (prtr-cascade_*) are in test_cascade*.py
CONFIGS = sorted(
    osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs', '*.py'))
    if not osp.basename(p).startswith('prtr-cascade'))


@functools.lru_cache(maxsize=None)
def load(config):
    return Config.fromfile(osp.join(ROOT, config))


def _no_pretrained(cfg):
    """Drop every init_cfg: no weights can be downloaded in tests."""
    if isinstance(cfg, dict):
        cfg.pop('init_cfg', None)
        for v in cfg.values():
            _no_pretrained(v)
    return cfg


def architecture(config):
    """The model config without its input size: configs that differ only
    in resolution share one architecture."""
    model = _no_pretrained(load(config).model.to_dict())
    model['head'].pop('decoder', None)
    return json.dumps(model, sort_keys=True, default=str)


# the first config (by name) of each distinct architecture
ARCHITECTURES = sorted({architecture(c): c
                        for c in reversed(CONFIGS)}.values())


@functools.lru_cache(maxsize=None)
def build(config):
    model = MODELS.build(_no_pretrained(load(config).model.to_dict()))
    model.init_weights()
    return model


def test_configs_found():
    assert len(CONFIGS) >= 18
    assert 'configs/prtr_hrnet_w32.py' in CONFIGS
    # R-50/101/152, HRNet, deformable, small; COCO (17) and MPII (16) joints
    assert 9 <= len(ARCHITECTURES) < len(CONFIGS)


@pytest.mark.parametrize('config', CONFIGS)
def test_input_size_agrees_everywhere(config):
    """Codec, head decoding and the TopdownAffine of every pipeline use one
    input size, and the architecture is one that is built below."""
    cfg = load(config)
    size = tuple(cfg.codec.input_size)
    # a file name that gives the size says h x w
    named = re.search(r'(\d+)x(\d+)\.py$', config)
    if named:
        assert size == (int(named[2]), int(named[1]))
    assert tuple(cfg.model.head.decoder.input_size) == size
    for split in ('train', 'val', 'test'):
        pipeline = cfg[f'{split}_dataloader'].dataset.pipeline
        affine = [t for t in pipeline if t['type'] == 'TopdownAffine']
        assert len(affine) == 1, split
        assert tuple(affine[0]['input_size']) == size, split
    encoders = [
        t['encoder'] for t in cfg.train_dataloader.dataset.pipeline
        if t['type'] == 'GenerateTarget'
    ]
    assert [tuple(e['input_size']) for e in encoders] == [size]
    assert cfg.default_scope == 'mmpose'
    assert 'prtr' in cfg.custom_imports['imports']


def test_at_input_size_copies_every_size():
    """The resolution variants' helper: every input size of the returned
    parts is the new one, the base config is left as it was, and a base
    without one of the parts is refused by name."""
    from prtr.utils import at_input_size
    base = load('configs/prtr_res50_4xb32-200e_coco-384x288.py')
    before = base.to_dict()
    codec, model, train, val, train_loader, val_loader, test_loader = \
        at_input_size(base, (96, 128))
    assert codec.input_size == model.head.decoder.input_size == (96, 128)
    for pipeline in (train, val, train_loader.dataset.pipeline,
                     val_loader.dataset.pipeline,
                     test_loader.dataset.pipeline):
        affine, = [t for t in pipeline if t['type'] == 'TopdownAffine']
        assert affine['input_size'] == (96, 128)
    target, = [t for t in train if t['type'] == 'GenerateTarget']
    assert target['encoder']['input_size'] == (96, 128)
    assert base.to_dict() == before
    before.pop('val_pipeline')
    with pytest.raises(KeyError, match='val_pipeline'):
        at_input_size(before, (96, 128))


@pytest.mark.parametrize('config', ARCHITECTURES)
def test_architecture_trains_one_step_and_predicts(config):
    cfg = load(config)
    model = build(config)
    num_keypoints = cfg.model.head.num_keypoints
    batch = get_packed_inputs(
        batch_size=2,
        num_keypoints=num_keypoints,
        img_shape=(96, 64),
        input_size=(64, 96),
        with_heatmap=False,
        with_reg_label=False,
        with_simcc_label=False)
    for sample in batch['data_samples']:
        labels = sample.gt_instance_labels
        labels.keypoint_labels = torch.rand(1, num_keypoints, 2)
        labels.keypoint_weights = torch.ones(1, num_keypoints)

    model.train()
    data = model.data_preprocessor(batch, training=True)
    losses = model(**data, mode='loss')
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)
    model.zero_grad()
    loss.backward()
    assert all(p.grad is not None for p in model.head.parameters())

    model.eval()
    with torch.no_grad():
        results = model(**data, mode='predict')
    assert len(results) == 2
    kpts = results[0].pred_instances.keypoints
    assert kpts.shape == (1, num_keypoints, 2)
    model.zero_grad(set_to_none=True)  # the model stays cached


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
    model = build(osp.join('configs', config))
    count = sum(p.numel() for p in model.parameters()) / 1e6
    assert abs(count - millions) < 0.2, count


@pytest.mark.parametrize('config', [
    'configs/prtr_res50_4xb32-200e_coco-384x288.py',
    'configs/prtr_deform-res50_4xb16-100e_coco-384x288.py',
    'configs/prtr_res18-tiny_1xb8-150e_coco-mini-128x96.py'
])
def test_model_keys_set_by_cfg_options(config):
    """The losses, assigner, transformer and position encoding are in the
    config: a user's ``--cfg-options`` on them is accepted and reaches the
    built model."""
    options = {
        'model.head.loss_cls.loss_weight': 2.0,
        'model.head.loss_kpt.loss_weight': 3.0,
        'model.head.eos_coef': 0.2,
        'model.head.assigner.visible_only': True,
        'model.head.assigner.match_costs.1.weight': 4.0,
        'model.head.transformer.decoder.num_layers': 2,
        'model.head.positional_encoding.temperature': 20,
    }
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.merge_from_dict(options)
    head = MODELS.build(_no_pretrained(cfg.model.to_dict())).head
    assert head.loss_cls.loss_weight == 2.0
    assert head.loss_kpt.loss_weight == 3.0
    assert head.class_weight[-1].item() == pytest.approx(0.2)
    assert head.assigner.visible_only
    assert head.assigner.match_costs[1].weight == 4.0
    assert len(head.transformer.decoder.layers) == 2
    assert head.positional_encoding.temperature == 20


@pytest.mark.parametrize('config', [
    'configs/prtr-cascade_res18-tiny_1xb4-300e_coco-mini-192x192.py',
    'configs/prtr-cascade-deformable_res18-tiny_1xb4-300e_coco-mini-192x192.py'
])
def test_cascade_keys_set_by_cfg_options(config):
    """Both stages of the cascade are in its configs: the keypoint stage's
    losses, assigner and transformer, and the person stage's box losses and
    match costs, changed with ``--cfg-options``, reach the built model."""
    options = {
        'model.head.loss_cls.loss_weight': 2.0,
        'model.head.eos_coef': 0.2,
        'model.head.assigner.match_costs.1.weight': 4.0,
        'model.head.transformer.decoder.num_layers': 1,
        'model.person_head.bbox_head.loss_iou.loss_weight': 3.0,
        'model.person_head.bbox_head.train_cfg.assigner.match_costs.2.weight':
        6.0,
    }
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.merge_from_dict(options)
    model = MODELS.build(_no_pretrained(cfg.model.to_dict()))
    head, boxes = model.head, model.person_head.bbox_head
    assert head.loss_cls.loss_weight == 2.0
    assert head.class_weight[-1].item() == pytest.approx(0.2)
    assert head.assigner.match_costs[1].weight == 4.0
    assert len(head.transformer.decoder.layers) == 1
    assert boxes.loss_iou.loss_weight == 3.0
    assert boxes.assigner.match_costs[2].weight == 6.0
