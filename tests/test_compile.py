"""mmengine's `compile` option (torch.compile of train_step) trains a PRTR
config: graph breaks where PRTR leaves the device, no errors."""
import pytest
import torch
from conftest import TINY_CONFIG
from mmengine.config import Config
from mmengine.runner import Runner


@pytest.mark.slow
def test_compile_option_trains(tmp_path):
    torch._dynamo.reset()
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.work_dir = str(tmp_path)
    loader = cfg.train_dataloader
    loader.dataset.indices = 8  # one iteration of 8 persons
    loader.num_workers = 0
    loader.persistent_workers = False
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=100)
    for split in ('val', 'test'):
        cfg[f'{split}_cfg'] = cfg[f'{split}_dataloader'] = None
        cfg[f'{split}_evaluator'] = None
    cfg.default_hooks.checkpoint.interval = 100
    # a smaller model of the same kind: dynamo's tracing time grows with it
    cfg.model.backbone.update(
        num_stages=1, strides=(1, ), dilations=(1, ), out_indices=(0, ))
    cfg.model.head.in_channels = 64
    for part in ('encoder', 'decoder'):
        cfg.model.head.transformer[part].num_layers = 1
    # dynamo's tracing and graph breaks are what is checked; the 'eager'
    # backend spares the test inductor's C++ compilation
    cfg.compile = dict(backend='eager')
    cfg.visualizer.name = f'visualizer_{tmp_path.name}'
    runner = Runner.from_cfg(cfg)
    before = [p.detach().clone() for p in runner.model.head.parameters()]
    runner.train()
    graphs = torch._dynamo.utils.counters['stats']['unique_graphs']
    assert graphs > 0  # train_step went through dynamo
    after = list(runner.model.head.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after, before))
