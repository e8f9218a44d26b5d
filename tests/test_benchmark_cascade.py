"""The cascade in the benchmark tool: its person stage has the size of the
mmdet detector it is set against, and ``benchmark.py --cascade`` measures
both systems (small configs, one short round)."""
import json
import os.path as osp

import pytest
from _cli import tool_module
from conftest import ROOT

SMALL_CASCADE = osp.join(
    ROOT, 'configs', 'prtr-cascade_res18-tiny_1xb4-300e_coco-mini-192x192.py')
SMALL_TOPDOWN = osp.join(ROOT, 'configs',
                         'prtr_res18-tiny_1xb8-150e_coco-mini-128x96.py')
SMALL_DETECTOR = 'mmdet::detr/detr_r18_8xb2-500e_coco.py'


@pytest.fixture(scope='module')
def bench():
    return tool_module('analysis_tools/benchmark')


def _params(module, skip_classes=False) -> int:
    # the class layers differ by design: 1 class (person) vs COCO's 80
    return sum(p.numel() for n, p in module.named_parameters()
               if not (skip_classes and 'cls' in n))


@pytest.mark.parametrize('config', [
    'prtr-cascade_res50_8xb4-150e_coco-640x640.py',
    'prtr-cascade-deformable_res50_8xb4-50e_coco-640x640.py'
])
def test_person_stage_has_the_default_detectors_size(bench, config):
    from mmdet.apis import init_detector
    from mmengine.registry import DefaultScope
    args = bench.parse_args(['--device', 'cpu'])
    cfg = bench.load_config(osp.join(ROOT, 'configs', config), args)
    cascade = bench.build(cfg, 'cpu')
    det_cfg = bench.detector_config(cfg)
    pipeline = det_cfg.test_dataloader.dataset.pipeline
    assert [t.scale for t in pipeline if 'scale' in t] == [(640, 640)]
    with DefaultScope.overwrite_default_scope('mmdet'):
        detector = bench.build(det_cfg, 'cpu', init_detector)
    person_stage = (
        _params(cascade.backbone) +
        _params(cascade.person_head, skip_classes=True))
    assert person_stage == _params(detector, skip_classes=True)


def test_no_default_detector_for_a_small_person_stage(bench):
    from mmengine.config import Config
    with pytest.raises(ValueError, match='--detector'):
        bench.detector_config(Config.fromfile(SMALL_CASCADE))


def test_cascade_benchmark_small(bench, tmp_path, capsys):
    out_md, out_json = tmp_path / 'c.md', tmp_path / 'c.json'
    bench.main([
        '--cascade', SMALL_CASCADE, '--detector', SMALL_DETECTOR, '--topdown',
        SMALL_TOPDOWN, '--persons', '1', '4', '--rounds', '1',
        '--min-run-time', '0', '--threads', '1', '--device', 'cpu',
        '--image-size', '160', '120', '--out',
        str(out_md), '--json',
        str(out_json)
    ])
    one, four = json.loads(out_json.read_text())
    assert list(one) == [
        'cascade, 1 persons', 'detr_r18_8xb2-500e_coco + PRTR, 1 persons'
    ]
    (cas1, two1), (cas4, two4) = one.values(), four.values()
    args = bench.parse_args(['--device', 'cpu'])
    cascade = bench.build(bench.load_config(SMALL_CASCADE, args), 'cpu')
    assert cas1['params'] * 1e6 == pytest.approx(_params(cascade))
    # the keypoint stage runs on every kept person: more persons, more FLOPs
    assert cas4['gflops'] > cas1['gflops']
    # and the two-stage model on every person's crop
    assert two4['gflops'] > two1['gflops'] > 0
    assert min(f['ms'] for f in (cas1, two1, cas4, two4)) > 0
    report = out_md.read_text()
    assert report in capsys.readouterr().out
    assert 'latency per 160x120 image (ms)' in report
    for num in (1, 4):
        for system in ('cascade', 'detr_r18_8xb2-500e_coco + PRTR'):
            assert f'| {system}, {num} persons |' in report
    assert report.count('| ratio |') == 2


CASCADE_MODE = ['--cascade', SMALL_CASCADE]


@pytest.mark.parametrize('mode,extra,named', [
    (CASCADE_MODE, ['--input-size', '64', '64'], '--input-size'),
    (CASCADE_MODE, ['--batch-sizes', '8'], '--batch-sizes'),
    (CASCADE_MODE, ['--pair', 'a.py', 'b.py'], '--pair'),
    (CASCADE_MODE, ['--onnx'], '--onnx'),
    (['--onnx'], ['--device', 'cuda'], '--device'),
    (['--onnx', SMALL_CASCADE], ['--train-batch', '2'], '--train-batch'),
])
def test_modes_reject_pair_options(bench, mode, extra, named, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(mode + extra)
    err = capsys.readouterr().err
    assert f'{mode[0]} takes no {named}' in err


def test_more_persons_than_person_queries(bench, tmp_path):
    with pytest.raises(ValueError, match='20 queries'):
        bench.main([
            '--cascade', SMALL_CASCADE, '--persons', '21', '--device', 'cpu',
            '--out',
            str(tmp_path / 'c.md')
        ])
