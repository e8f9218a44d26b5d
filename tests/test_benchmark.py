"""tools/analysis_tools/benchmark.py on tiny settings: one repeat, batch 1,
the small PRTR config against mmpose's SimpleBaseline at the same 96x128
input."""
import json
import os.path as osp
import subprocess

from conftest import PYTHON, ROOT, TINY_CONFIG

BASELINE = osp.join(ROOT, 'configs', 'baselines',
                    'td-hm_res50_8xb64-210e_coco-384x288.py')


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


def test_benchmark_tiny_run(tmp_path):
    out = tmp_path / 'bench.md'
    raw = tmp_path / 'bench.json'
    proc = subprocess.run([
        PYTHON, 'tools/analysis_tools/benchmark.py', '--pair', TINY_CONFIG,
        BASELINE, '--device', 'cpu', '--input-size', '96', '128',
        '--batch-sizes', '1', '--train-batch', '2', '--repeats', '1',
        '--min-repeats', '1', '--warmup', '0', '--threads', '1', '--out',
        str(out), '--json',
        str(raw), '--no-progress'
    ],
                          cwd=ROOT,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = out.read_text()
    assert report in proc.stdout
    png = tmp_path / 'bench.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

    results = json.loads(raw.read_text())['results']
    assert len(results) == 2
    for res in results.values():
        assert res['input_size'] == [96, 128]
        for key in ('params', 'trainable', 'gflops', 'infer_b1', 'train_b2',
                    'mem_infer_b1', 'mem_train_b2'):
            assert res[key] > 0, (key, res)
        assert res['trainable'] <= res['params']

    # the table rows: both models, every figure a positive number
    def cells(row):
        return [c.strip() for c in row.strip().strip('|').split('|')]

    rows = [cells(line) for line in report.splitlines() if '96x128' in line]
    assert len(rows) == 2
    for row in rows:
        figures = [float(x) for x in row[3:]]
        assert len(figures) == 7 and all(x > 0 for x in figures), row
    ratios = next(
        cells(line)[2:] for line in report.splitlines()
        if cells(line)[:2] == ['PRTR R-18 tiny', 'SimpleBaseline R-50'])
    assert len(ratios) == 6 and all(float(x) > 0 for x in ratios), ratios
    assert 'steps alternating' in report
