"""prtr.benchmarking and tools/analysis_tools/benchmark.py on tiny settings:
one repeat, batch 1, the small PRTR config against mmpose's SimpleBaseline
at the same 96x128 input, jobs run in this process (one job in a fresh
process, as the tool runs them all)."""
import json
import os.path as osp

import pytest
from _cli import tool_module
from conftest import ROOT, TINY_CONFIG

BASELINE = osp.join(ROOT, 'configs', 'baselines',
                    'td-hm_res50_8xb64-210e_coco-384x288.py')


def load_tool():
    return tool_module('analysis_tools/benchmark')


def test_baseline_configs_come_from_mmpose():
    from mmengine.config import Config
    for name, backbone in (('td-hm_res50_8xb64-210e_coco-384x288.py',
                            'ResNet'),
                           ('td-hm_hrnet-w32_8xb64-210e_coco-384x288.py',
                            'HRNet')):
        cfg = Config.fromfile(osp.join(ROOT, 'configs', 'baselines', name))
        assert cfg.model.backbone.type == backbone
        assert cfg.model.head.type == 'HeatmapHead'
        assert tuple(cfg.codec.input_size) == (288, 384)


def test_set_input_size_keeps_heatmap_ratio():
    from prtr.benchmarking import set_input_size
    cfg = dict(
        codec=dict(input_size=(288, 384), heatmap_size=(72, 96)),
        model=dict(head=[dict(decoder=dict(input_size=(288, 384)))]))
    set_input_size(cfg, (96, 128))
    assert cfg['codec'] == dict(input_size=(96, 128), heatmap_size=(24, 32))
    assert cfg['model']['head'][0]['decoder']['input_size'] == (96, 128)


def test_time_steps_alternate():
    from prtr.benchmarking import time_steps
    calls = []
    steps = [lambda: calls.append('A'), lambda: calls.append('B')]
    times = time_steps(steps, warmup=1, repeats=3, min_repeats=3)
    assert calls == list('AB'
                         'AB'
                         'BA'
                         'AB')  # warm-up, then alternating
    assert [len(t) for t in times] == [3, 3]
    assert all(t >= 0 for ts in times for t in ts)


def test_plan_jobs():
    from prtr.benchmarking import BenchmarkSettings, plan_jobs
    s = BenchmarkSettings(
        pairs=[('a.py', 'b.py')],
        batch_sizes=[1, 8],
        train_batch=2,
        ann_file='ann.json',
        data_root='data/',
        checkpoints={'a': 'a.pth'})
    jobs = plan_jobs(s)
    timed = [j for j in jobs if j['phase'] != 'ap' and not j['memory']]
    memory = [j for j in jobs if j['phase'] != 'ap' and j['memory']]
    assert [(j['phase'], j['batch'], j['configs'])
            for j in timed] == [('train', 2, ['a.py', 'b.py']),
                                ('infer', 1, ['a.py', 'b.py']),
                                ('infer', 8, ['a.py', 'b.py'])]
    assert len(memory) == 6 and all(len(j['configs']) == 1 for j in memory)
    ap = [j for j in jobs if j['phase'] == 'ap']
    assert [(j['configs'], j['checkpoint'])
            for j in ap] == [(['a.py'], 'a.pth')]
    s.interleave = False
    assert all(j['memory'] and len(j['configs']) == 1 for j in plan_jobs(s)
               if j['phase'] != 'ap')


@pytest.mark.slow
def test_benchmark_tiny_run(tmp_path, capsys):
    from prtr.benchmarking import run_worker
    out = tmp_path / 'bench.md'
    raw = tmp_path / 'bench.json'
    load_tool().main([
        '--pair', TINY_CONFIG, BASELINE, '--device', 'cpu', '--input-size',
        '96', '128', '--batch-sizes', '1', '--train-batch', '2', '--repeats',
        '1', '--min-repeats', '1', '--warmup', '0', '--threads', '1', '--out',
        str(out), '--json',
        str(raw), '--no-progress'
    ],
                     run_job=run_worker)
    report = out.read_text()
    assert report in capsys.readouterr().out
    png = tmp_path / 'bench.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

    results = json.loads(raw.read_text())['results']
    assert len(results) == 2
    for res in results.values():
        assert res['input_size'] == [96, 128]
        for key in ('params', 'trainable', 'gflops', 'infer_b1', 'train_b2'):
            assert res[key] > 0, (key, res)
        # in this process, memory freed by earlier jobs is reused: the peaks
        # may be 0 (test_job_in_fresh_process checks a real one)
        assert isinstance(res['mem_infer_b1'], float), res
        assert isinstance(res['mem_train_b2'], float), res
        assert res['trainable'] <= res['params']
    # SimpleBaseline R-50 (mmpose's model zoo): 34.0 M parameters, 5.46
    # GFLOPs at 192x256, a quarter of that at 96x128
    base = results[BASELINE]
    assert base['params'] == pytest.approx(34.0, abs=0.1)
    assert base['gflops'] == pytest.approx(5.46 / 4, rel=0.01)

    # the table rows: both models, every figure a positive number
    def cells(row):
        return [c.strip() for c in row.strip().strip('|').split('|')]

    rows = [cells(line) for line in report.splitlines() if '96x128' in line]
    assert len(rows) == 2
    for row in rows:
        figures = [float(x) for x in row[3:]]
        assert len(figures) == 7 and all(x > 0 for x in figures[:5]), row
    ratios = next(
        cells(line)[2:] for line in report.splitlines()
        if cells(line)[:2] == ['PRTR R-18 tiny', 'SimpleBaseline R-50'])
    assert len(ratios) == 6, ratios
    assert all(float(x) > 0 for x in ratios[:4]), ratios
    assert 'steps alternating' in report


@pytest.mark.slow
def test_job_in_fresh_process():
    """The tool's default: a job in ``python -m prtr.benchmarking.worker``."""
    from prtr.benchmarking import run_job_in_subprocess
    job = dict(
        root=ROOT,
        configs=[TINY_CONFIG],
        phase='infer',
        batch=1,
        device='cpu',
        threads=1,
        memory=True,
        warmup=0,
        repeats=2,
        min_repeats=2,
        time_limit=60.)
    out = run_job_in_subprocess(job)
    assert len(out['times']) == 1 and len(out['times'][0]) == 2
    assert out['threads'] == 1 and out['memory'] > 0
    assert out['flip_test'] == [True]  # as the small config says
    with pytest.raises(RuntimeError, match='benchmark worker failed'):
        run_job_in_subprocess(dict(job, configs=['no_such_config.py']))


def test_amp_option_names_the_dtype(monkeypatch):
    """``--amp`` alone is float16, ``--amp bfloat16`` names the dtype, and
    both reach the jobs and the report (parsed as on a CUDA machine)."""
    import torch

    from prtr.benchmarking import BenchmarkSettings, plan_jobs
    from prtr.benchmarking.report import amp_name
    bench = load_tool()
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    for argv, dtype in (([], False), (['--amp'], 'float16'),
                        (['--amp', 'bfloat16'], 'bfloat16')):
        args = bench.parse_args(['--device', 'cuda'] + argv)
        assert args.amp == dtype
        jobs = plan_jobs(BenchmarkSettings(amp=args.amp, device='cuda'))
        assert {j['amp'] for j in jobs} == {dtype}
        assert amp_name(args.amp) == (dtype or 'off')
    with pytest.raises(SystemExit):
        bench.parse_args(['--device', 'cuda', '--amp', 'int8'])
