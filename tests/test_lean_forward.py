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
            # relative to the gradient's scale (sums of many products);
            # some are 0 in theory (the first decoder layer attends over
            # equal values), float noise in practice
            tol = 1e-4 * ref.abs().max() + 1e-6
            assert (grad - ref).abs().max() <= tol, name


def _randomise(head):
    """Every parameter random (init_weights leaves biases 0 and norms 1, 0,
    under which swapped biases or norms would go unseen) and LayerNorms of
    several eps."""
    for p in head.parameters():
        p.data.normal_(0, 0.2)
    norms = [m for m in head.modules() if isinstance(m, torch.nn.LayerNorm)]
    for i, norm in enumerate(norms):
        norm.weight.data += 1
        norm.eps = (1e-5, 1e-3, 0.1)[i % 3]


def test_lean_forward_equals_mmdet_layers():
    torch.manual_seed(0)
    head = MODELS.build(tiny_head_cfg(num_layers=3)).train()
    _randomise(head)
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
    _randomise(head)
    _assert_same_step(head, torch.randn(5, 16, 3, 4))  # [P, C, y, x] crops
    # no crop at all (an image without persons), as mmdet's layers allow
    for lean in (True, False):
        head.lean_forward = lean
        cls, kpt = head(torch.randn(0, 16, 3, 4))
        assert cls.shape == (2, 0, 20, 18) and kpt.shape == (2, 0, 20, 2)


def _tiny_with(attn=None, ffn=None, decoder=None):
    """The tiny head's config with changed attention / FFN / decoder
    settings (every layer)."""
    cfg = tiny_head_cfg()
    for part in ('encoder', 'decoder'):
        layer = cfg['transformer'][part]['layer_cfg']
        for name in ('self_attn_cfg', 'cross_attn_cfg'):
            if name in layer:
                base = dict(layer[name])
                # mmcv's deprecated `dropout` overrides attn_drop/proj_drop
                if {'attn_drop', 'proj_drop'} & set(attn or {}):
                    base.pop('dropout')
                layer[name] = dict(base, **(attn or {}))
        layer['ffn_cfg'] = dict(layer['ffn_cfg'], **(ffn or {}))
    cfg['transformer']['decoder'].update(decoder or {})
    return cfg


@pytest.mark.parametrize('cfg', [
    _tiny_with(attn=dict(dropout=0.1)),
    _tiny_with(attn=dict(attn_drop=0.1)),
    _tiny_with(attn=dict(proj_drop=0.1)),
    _tiny_with(attn=dict(bias=False)),
    _tiny_with(ffn=dict(ffn_drop=0.1)),
    _tiny_with(ffn=dict(num_fcs=3)),
    _tiny_with(ffn=dict(act_cfg=dict(type='GELU'))),
    _tiny_with(decoder=dict(return_intermediate=False)),
    dict(tiny_head_cfg(), lean_forward=False),
])
def test_other_layer_configs_run_mmdet_forward(cfg):
    head = MODELS.build(cfg).train()
    assert not head.lean_forward
    layers = head.transformer.encoder.layers
    calls = []
    layers[0].register_forward_hook(lambda *args: calls.append(1))
    cls, kpt = head((torch.randn(2, 16, 4, 3), ))
    assert calls == [1]  # mmdet's modules ran
    num_outputs = 2 if cfg['transformer']['decoder'].get(
        'return_intermediate', True) else 1
    assert cls.shape == (num_outputs, 2, 20, 18)
    assert kpt.shape == (num_outputs, 2, 20, 2)


def test_wrapped_or_hooked_layers_run_mmdet_forward():
    """A forward replaced on the instance (mmengine's
    ``activation_checkpointing`` does so after the model is built) or a
    hook on a layer is honoured: mmdet's forward runs."""
    head = MODELS.build(tiny_head_cfg()).train()
    feats = (torch.randn(2, 16, 4, 3), )
    layer = head.transformer.decoder.layers[1]
    calls = []

    def wrapped(*args, original=layer.forward, **kwargs):
        calls.append('forward')
        return original(*args, **kwargs)

    layer.forward = wrapped
    head(feats)
    assert calls == ['forward']
    del layer.forward
    handle = layer.ffn.register_forward_pre_hook(
        lambda *args: calls.append('hook'))
    head(feats)
    assert calls == ['forward', 'hook']
    handle.remove()
    head(feats)  # the lean forward again: neither runs
    assert calls == ['forward', 'hook']


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


@pytest.mark.slow
def test_benchmark_prtr_ops_reports_every_row():
    """benchmark_prtr_ops.py, quick settings: every measurement is
    printed, the official code's and the step before the lean forward
    beside ours."""
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
    # ours against the official code in every row, both solvers in row 1
    assert out.count('\n   official: ') == 4, out
    assert out.count('\n   before: ') == 2, out
    assert '\n   device_solver: ' in out, out
