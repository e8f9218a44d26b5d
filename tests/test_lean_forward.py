"""The lean forward of DETR's encoder/decoder (models/layers/
lean_detr_forward.py) computes what mmdet's modules compute, from the same
parameters, with fewer operators; other layer configs run mmdet's."""
import collections

import pytest
import torch
from _tiny import tiny_head_cfg
from mmengine.config import Config
from mmpose.registry import MODELS
from torch.profiler import ProfilerActivity, profile

R50_CONFIG = 'configs/prtr_res50_4xb32-200e_coco-384x288.py'


def _step(head, feats, lean):
    """Outputs, loss and parameter gradients of one training step."""
    head.lean_forward = lean
    head.zero_grad(set_to_none=True)
    cls, kpt = head(feats)
    g = torch.Generator().manual_seed(1)
    # a fixed random linear functional of both outputs as the loss
    loss = (cls * torch.randn(cls.shape, generator=g)).sum() + (
        kpt * torch.randn(kpt.shape, generator=g)).sum()
    loss.backward()
    grads = {n: p.grad for n, p in head.named_parameters()}
    return cls.detach(), kpt.detach(), grads


def _assert_same_step(head, feats):
    assert head.lean_forward  # the config is DETR's: the lean path is taken
    cls_ref, kpt_ref, grads_ref = _step(head, feats, lean=False)
    cls, kpt, grads = _step(head, feats, lean=True)
    torch.testing.assert_close(cls, cls_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(kpt, kpt_ref, rtol=1e-5, atol=1e-6)
    assert grads.keys() == grads_ref.keys()
    for name, grad in grads.items():
        ref = grads_ref[name]
        assert (grad is None) == (ref is None), name
        if ref is not None:
            # relative to the gradient's scale: sums of many products
            scale = ref.abs().max().clamp(min=1e-6)
            assert (grad - ref).abs().max() <= 1e-4 * scale, name


def test_lean_forward_equals_mmdet_layers():
    torch.manual_seed(0)
    head = MODELS.build(tiny_head_cfg(num_layers=3)).train()
    head.init_weights()
    _assert_same_step(head, (torch.randn(3, 16, 4, 3), ))
    # inference too, with the batch of a flip test
    head.eval()
    feats = (torch.randn(4, 16, 4, 3), )
    with torch.no_grad():
        head.lean_forward = False
        ref = head(feats)
        head.lean_forward = True
        out = head(feats)
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_lean_forward_of_the_cascade_keypoint_stage():
    """The cascade's keypoint transformer passes its own crop position
    encoding (sine + learned rows/columns)."""
    torch.manual_seed(0)
    cfg = tiny_head_cfg(num_layers=2)
    cfg.update(
        type='CascadeKeypointHead',
        crop_size=(4, 3),
        positional_encoding=dict(normalize=True))
    cfg.pop('decoder')
    head = MODELS.build(cfg).train()
    head.init_weights()
    _assert_same_step(head, torch.randn(5, 16, 3, 4))  # [P, C, y, x] crops


def _transformer(**changes):
    """The tiny head's transformer with layer-config changes."""
    cfg = tiny_head_cfg()
    for part in ('encoder', 'decoder'):
        layer = cfg['transformer'][part]['layer_cfg']
        for key, change in changes.items():
            for name in ('self_attn_cfg', 'cross_attn_cfg', 'ffn_cfg'):
                if name in layer and key in layer[name]:
                    layer[name] = dict(layer[name], **{key: change})
    return cfg


@pytest.mark.parametrize(
    'changes',
    [dict(dropout=0.1), dict(ffn_drop=0.1),
     dict(num_fcs=3)])
def test_other_layer_configs_run_mmdet_forward(changes):
    cfg = _transformer(**changes)
    head = MODELS.build(cfg).train()
    assert not head.lean_forward
    cls, kpt = head((torch.randn(2, 16, 4, 3), ))
    assert cls.shape == (2, 2, 20, 18) and kpt.shape == (2, 2, 20, 2)


def test_gelu_ffn_runs_mmdet_forward():
    cfg = tiny_head_cfg()
    for part in ('encoder', 'decoder'):
        ffn = cfg['transformer'][part]['layer_cfg']['ffn_cfg']
        ffn['act_cfg'] = dict(type='GELU')
    assert not MODELS.build(cfg).lean_forward


def _aten_ops(fn):
    fn()  # first call outside the profiler
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return collections.Counter(e.name for e in prof.events()
                               if e.name.startswith('aten::'))


def test_lean_forward_dispatches_fewer_operators():
    """The R-50 head's training step (6 + 6 layers, forward and backward):
    a count of dispatched operators, not a timing (benchmark_prtr_ops.py
    reports both)."""
    head = MODELS.build(Config.fromfile(R50_CONFIG).model.head).train()
    feats = (torch.randn(1, 2048, 12, 9), )

    def step():
        cls, kpt = head(feats)
        (cls.sum() + kpt.sum()).backward()

    head.lean_forward = False
    before = _aten_ops(step)
    head.lean_forward = True
    after = _aten_ops(step)
    # measured 0.65 of mmdet's (5,340 / 8,237 with the loss path)
    assert sum(after.values()) <= 0.7 * sum(before.values())
    # and no operator of nn.MultiheadAttention's explicit softmax path
    assert after['aten::_softmax'] == 0 and before['aten::_softmax'] > 0


def test_benchmark_prtr_ops_reports_every_row():
    """benchmark_prtr_ops.py, quick settings: every measurement is
    printed, the step before the lean forward beside ours."""
    from _cli import run
    from conftest import PYTHON
    proc = run([
        PYTHON, 'tools/analysis_tools/benchmark_prtr_ops.py', '--repeats', '1',
        '--step-batch', '1'
    ])
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for row in ('1. assigner', '2. loss path', '3. head training step, '
                'batch 1', '4. host work per step'):
        assert row in out, out
    assert out.count('\n   before: ') == 2, out


def test_flops_are_counted_on_mmdet_layers():
    """mmengine's FLOP counter has no rule for the lean forward's
    baddbmm and scaled_dot_product_attention: benchmark.py counts on
    mmdet's forward, and PRTR R-50 keeps the 11.1 GFLOPs of its tables
    (docs/benchmark_cpu.md), where the lean forward would show 10.8."""
    from prtr.benchmarking.config import load_config
    from prtr.benchmarking.measure import model_figures
    figures = model_figures(load_config(R50_CONFIG))
    assert figures['gflops'] == pytest.approx(11.1, abs=0.05)
