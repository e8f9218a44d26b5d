"""tools/analysis_tools/benchmark.py on tiny settings: the small PRTR
config against mmpose's SimpleBaseline at the same 96x128 input, one short
round each."""
import argparse
import importlib.util
import itertools
import json
import os.path as osp

import pytest
import torch
from _cli import tool_module
from conftest import ROOT, TINY_CONFIG

BASELINE = osp.join(ROOT, 'configs', 'baselines',
                    'td-hm_res50_8xb64-210e_coco-384x288.py')
R50_CONFIG = osp.join(ROOT, 'configs', 'prtr_res50_4xb32-200e_coco-384x288.py')


def tool_module_at(path):
    """A tool outside this repository imported as a module."""
    spec = importlib.util.spec_from_file_location('_tool_get_flops', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def bench():
    return tool_module('analysis_tools/benchmark')


def test_baseline_configs_come_from_mmpose():
    from mmengine.config import Config
    for name, backbone in (('td-hm_res50_8xb64-210e_coco-384x288.py',
                            'ResNet'),
                           ('td-hm_hrnet-w32_8xb64-210e_coco-384x288.py',
                            'HRNet')):
        path = osp.join(ROOT, 'configs', 'baselines', name)
        with open(path) as f:  # mmpose's config of that name as _base_
            text = f.read()
        assert "'mmpose::body_2d_keypoint/topdown_heatmap/coco/'" in text
        assert f"'{name}'" in text
        cfg = Config.fromfile(path)
        assert cfg.model.backbone.type == backbone
        assert cfg.model.head.type == 'HeatmapHead'
        assert tuple(cfg.codec.input_size) == (288, 384)


def test_set_input_size_keeps_heatmap_ratio():
    """--input-size: the heatmap baseline's targets follow its input."""
    from prtr.utils import set_input_size
    cfg = dict(
        codec=dict(input_size=(288, 384), heatmap_size=(72, 96)),
        model=dict(head=[dict(decoder=dict(input_size=(288, 384)))]))
    set_input_size(cfg, (96, 128))
    assert cfg['codec'] == dict(input_size=(96, 128), heatmap_size=(24, 32))
    assert cfg['model']['head'][0]['decoder']['input_size'] == (96, 128)


def test_steps_alternate(bench):
    calls = []
    steps = dict(A=lambda: calls.append('A'), B=lambda: calls.append('B'))
    times = bench.time_alternating(steps, rounds=3, min_run_time=0.)
    # rounds A B, B A, A B: the order of the blocks of calls
    assert [k for k, _ in itertools.groupby(calls)] == list('ABAB')
    assert list(times) == ['A', 'B'] and min(times.values()) > 0  # ms


def test_amp_option_names_the_dtype(bench, monkeypatch):
    """``--amp`` alone is float16, ``--amp bfloat16`` names the dtype; both
    reach the optimizer wrapper and the inference autocast."""
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance()  # made before CUDA is faked
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    for argv, dtype in (([], None), (['--amp'], 'float16'),
                        (['--amp', 'bfloat16'], 'bfloat16')):
        assert bench.parse_args(['--device', 'cuda'] + argv).amp == dtype
    for argv in (['--device', 'cuda', '--amp',
                  'int8'], ['--device', 'cpu', '--amp']):
        with pytest.raises(SystemExit):
            bench.parse_args(argv)
    cfg = bench.load_config(TINY_CONFIG, bench.parse_args(['--device', 'cpu']))
    assert bench.optim_config(cfg, None) == cfg.optim_wrapper.to_dict()
    fp16, bf16 = (bench.optim_config(cfg, d) for d in ('float16', 'bfloat16'))
    assert fp16['type'] == bf16['type'] == 'AmpOptimWrapper'
    assert (fp16['dtype'], fp16['loss_scale']) == ('float16', 'dynamic')
    assert (bf16['dtype'], bf16['loss_scale']) == ('bfloat16', {
        'enabled': False
    })
    autocasts = []
    real_autocast = torch.autocast

    def autocast(device_type, dtype, enabled):
        autocasts.append((device_type, dtype, enabled))
        return real_autocast('cpu', torch.bfloat16, enabled)

    monkeypatch.setattr(torch, 'autocast', autocast)
    args = argparse.Namespace(device='cpu', amp='bfloat16')
    step, memory = bench.make_step(cfg, False, 1, args)
    assert autocasts == [('cpu', torch.bfloat16, True)] and memory is None
    assert len(step()) == 1  # one decoded sample


@pytest.mark.slow
def test_benchmark_tiny_run(bench, tmp_path, capsys):
    out, raw = tmp_path / 'bench.md', tmp_path / 'bench.json'
    bench.main([
        '--pair', TINY_CONFIG, BASELINE, '--device', 'cpu', '--input-size',
        '96', '128', '--batch-sizes', '1', '2', '--train-batch', '2',
        '--rounds', '2', '--min-run-time', '0', '--threads', '1', '--out',
        str(out), '--json',
        str(raw)
    ])
    report = out.read_text()
    assert report in capsys.readouterr().out
    tiny, base = osp.basename(TINY_CONFIG), osp.basename(BASELINE)
    (pair, ) = json.loads(raw.read_text())
    assert list(pair) == [tiny, base]
    for figs in pair.values():
        assert figs['input_size'] == [96, 128]
        for key in ('params', 'gflops', 'infer_b1', 'infer_b2', 'train_b2'):
            assert figs[key] > 0, (key, figs)
        assert 0 < figs['trainable'] <= figs['params']
        assert figs['mem_train_b2'] is None  # no memory on a CPU
    # SimpleBaseline R-50 (mmpose's model zoo): 34.0 M parameters, 5.46
    # GFLOPs at 192x256, a quarter of that at 96x128
    assert pair[base]['params'] == pytest.approx(34.0, abs=0.1)
    assert pair[base]['gflops'] == pytest.approx(5.46 / 4, rel=0.01)

    # every row: both models and their ratios, every figure positive
    rows = [[c.strip('* ') for c in line.strip('|').split('|')]
            for line in report.splitlines()
            if line.startswith('| ') and '---' not in line]
    assert [r[0] for r in rows] == ['', tiny, base, 'ratio']
    assert rows[0][1:] == [
        'params (M)', 'trainable (M)', 'GFLOPs', 'train b2 (ms)',
        'infer b1 (ms)', 'infer b2 (ms)'
    ]
    for row in rows[1:]:
        assert len(row) == 7 and all(float(x) > 0 for x in row[1:]), row
    assert float(rows[3][4]) == pytest.approx(
        pair[tiny]['train_b2'] / pair[base]['train_b2'], abs=0.006)


def test_flops_are_counted_on_mmdet_layers(bench):
    """mmengine's FLOP counter has no rule for the lean forward's
    baddbmm and scaled_dot_product_attention: benchmark.py counts on
    mmdet's forward, and PRTR R-50 keeps the 11.1 GFLOPs of its tables
    (docs/benchmark_cpu.md), where the lean forward would show 10.8."""
    cfg = bench.load_config(R50_CONFIG, bench.parse_args(['--device', 'cpu']))
    assert bench.pose_complexity(cfg)['gflops'] == pytest.approx(
        11.1, abs=0.05)


def test_mmpose_get_flops_counts_the_same():
    """mmpose's own tools/analysis_tools/get_flops.py (shipped in the
    package's .mim) counts PRTR R-50 384x288 as benchmark.py does."""
    import mmpose
    from mmengine.logging import MMLogger
    get_flops = tool_module_at(
        osp.join(
            osp.dirname(mmpose.__file__), '.mim', 'tools', 'analysis_tools',
            'get_flops.py'))
    args = argparse.Namespace(
        config=R50_CONFIG,
        device='cpu',
        cfg_options={},
        batch_size=1,
        show_arch_info=False)
    out = get_flops.inference(args, (3, 384, 288),
                              MMLogger.get_current_instance())
    assert out['flops'] / 1e9 == pytest.approx(11.1, abs=0.05)
    assert out['flops_str'] == '11.1G'
