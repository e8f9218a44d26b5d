"""The cascade in the benchmark tool: its person stage has the size of the
mmdet detector it is set against, and ``benchmark.py --cascade`` measures
both systems (small configs, one repeat)."""
import json
import os.path as osp

import pytest
from _cli import tool_module
from conftest import ROOT

SMALL_CASCADE = ('configs/'
                 'prtr-cascade_res18-tiny_1xb4-300e_coco-mini-192x192.py')
SMALL_TOPDOWN = 'configs/prtr_res18-tiny_1xb8-150e_coco-mini-128x96.py'
SMALL_DETECTOR = 'mmdet::detr/detr_r18_8xb2-500e_coco.py'


def _params(module, skip_classes=False) -> int:
    # the class layers differ by design: 1 class (person) vs COCO's 80
    return sum(p.numel() for n, p in module.named_parameters()
               if not (skip_classes and 'cls' in n))


@pytest.mark.parametrize('config', [
    'prtr-cascade_res50_8xb4-150e_coco-640x640.py',
    'prtr-cascade-deformable_res50_8xb4-50e_coco-640x640.py'
])
def test_person_stage_has_the_default_detectors_size(config):
    from prtr.benchmarking.cascade import (default_detector, detector_config,
                                           detector_model, pose_model)
    from prtr.benchmarking.config import load_config
    cfg = load_config(osp.join('configs', config), root=ROOT)
    cascade = pose_model(cfg, 'cpu')
    detector = detector_model(
        detector_config(default_detector(cfg), (640, 640)), 'cpu')
    person_stage = (
        _params(cascade.backbone) +
        _params(cascade.person_head, skip_classes=True))
    assert person_stage == _params(detector, skip_classes=True)


def test_no_default_detector_for_a_small_person_stage():
    from prtr.benchmarking.cascade import default_detector
    from prtr.benchmarking.config import load_config
    cfg = load_config(SMALL_CASCADE, root=ROOT)
    with pytest.raises(ValueError, match='--detector'):
        default_detector(cfg)


def test_cascade_benchmark_small(tmp_path, capsys):
    tool = tool_module('analysis_tools/benchmark')
    out_md, out_json = tmp_path / 'c.md', tmp_path / 'c.json'
    tool.main([
        '--cascade', SMALL_CASCADE, '--detector', SMALL_DETECTOR, '--topdown',
        SMALL_TOPDOWN, '--persons', '1', '4', '--repeats', '1',
        '--min-repeats', '1', '--warmup', '0', '--threads', '1',
        '--image-size', '160', '120', '--out',
        str(out_md), '--json',
        str(out_json)
    ])
    res = json.loads(out_json.read_text())
    from prtr.benchmarking.cascade import pose_model
    from prtr.benchmarking.config import load_config
    cascade = pose_model(load_config(SMALL_CASCADE, root=ROOT), 'cpu')
    assert res['figures']['cascade']['params'] * 1e6 == pytest.approx(
        _params(cascade))
    assert res['image_size'] == [160, 120]
    lat = res['latency']
    # the keypoint stage runs on every kept person: more persons, more FLOPs
    assert lat['4']['cascade_gflops'] > lat['1']['cascade_gflops']
    for num in ('1', '4'):
        assert lat[num]['cascade'] > 0 and lat[num]['two_stage'] > 0
        assert lat[num]['repeats'] == 1
    assert res['figures']['detector']['gflops'] > 0
    report = out_md.read_text()
    assert report in capsys.readouterr().out
    assert '| 4 | detector + PRTR |' in report
    assert 'detr_r18_8xb2-500e_coco' in report


@pytest.mark.parametrize('extra,named', [
    (['--input-size', '64', '64'], '--input-size'),
    (['--batch-sizes', '8'], '--batch-sizes'),
    (['--checkpoint', 'a.py=b.pth'], '--checkpoint'),
])
def test_cascade_rejects_pair_options(extra, named, capsys):
    tool = tool_module('analysis_tools/benchmark')
    with pytest.raises(SystemExit):
        tool.parse_args(['--cascade', SMALL_CASCADE] + extra)
    err = capsys.readouterr().err
    assert 'it takes no' in err and named in err


def test_more_persons_than_person_queries():
    from prtr.benchmarking.cascade import run_cascade_benchmark
    with pytest.raises(ValueError, match='20 queries'):
        run_cascade_benchmark(
            SMALL_CASCADE, [21],
            detector=SMALL_DETECTOR,
            topdown=SMALL_TOPDOWN,
            root=ROOT)
