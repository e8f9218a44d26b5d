"""ONNX export (tools/deployment/pytorch2onnx.py, prtr.deployment) and the
onnxruntime backend: the graph's outputs against PyTorch's, the decoded
keypoints and the COCO AP of both backends on the bundled sample, and the
tools' one-line errors."""
import os.path as osp
import re

import numpy as np
import pytest
import torch
from _cli import run
from conftest import DATA_ROOT, PYTHON, ROOT, TINY_CONFIG
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

CASCADE = osp.join(ROOT, 'configs',
                   'prtr-cascade_res18-tiny_1xb4-300e_coco-mini-192x192.py')
DEFORMABLE_CASCADE = osp.join(
    ROOT, 'configs',
    'prtr-cascade-deformable_res18-tiny_1xb4-150e_coco-mini-192x192.py')
ATOL = 1e-4


def build(config, seed=0):
    """The config's model, seeded random weights (DETR's init), eval."""
    from mmpose.apis import init_model
    torch.manual_seed(seed)
    model = init_model(Config.fromfile(config), None, device='cpu')
    model.init_weights()
    return model.eval()


def sample_batch(config, num):
    """``num`` samples of the config's test pipeline on the bundled sample."""
    from mmpose.registry import DATASETS
    cfg = Config.fromfile(config)
    ds_cfg = cfg.test_dataloader.dataset
    ds_cfg.data_root = DATA_ROOT
    dataset = DATASETS.build(ds_cfg)
    return pseudo_collate([dataset[i] for i in range(num)])


def export(model, path, shape, dynamic_batch=True):
    from prtr.deployment import OnnxRuntimeGraph, export_onnx
    export_onnx(model, str(path), shape, dynamic_batch=dynamic_batch)
    return OnnxRuntimeGraph(str(path))


def assert_same_outputs(model, graph, inputs):
    from prtr.deployment import ExportGraph
    with torch.no_grad():
        want = ExportGraph(model)(*inputs)
    got = graph(*inputs)
    assert len(got) == len(want)
    for w, g in zip(want, got):
        assert g.shape == w.shape
        assert (g - w).abs().max() < ATOL


def predict_both(config, model, onnx_file, data):
    """Predictions of PyTorch, then of the same model on onnxruntime."""
    from prtr.deployment import attach_onnxruntime
    with torch.no_grad():
        want = model.test_step(data)
    attach_onnxruntime(model, onnx_file)
    with torch.no_grad():
        got = model.test_step(data)
    return want, got


def assert_same_predictions(want, got):
    for w, g in zip(want, got):
        w, g = w.pred_instances, g.pred_instances
        assert w.keypoints.shape == g.keypoints.shape
        # identical matches: coordinates agree to the graph's precision
        np.testing.assert_allclose(g.keypoints, w.keypoints, atol=1e-3)
        np.testing.assert_allclose(
            g.keypoint_scores, w.keypoint_scores, atol=ATOL)
        if 'bboxes' in w:
            np.testing.assert_allclose(g.bboxes, w.bboxes, atol=1e-3)
            np.testing.assert_allclose(g.bbox_scores, w.bbox_scores, atol=ATOL)


@pytest.mark.parametrize('flip_test', [False, True])
def test_topdown_onnxruntime_decodes_as_pytorch(tmp_path, flip_test):
    """The small two-stage model: the graph within 1e-4 of PyTorch on
    other batch sizes than traced (dynamic batch), and mmpose's test step
    on onnxruntime gives PyTorch's keypoints (flip test: both halves in one
    call of the graph)."""
    model = build(TINY_CONFIG)
    model.test_cfg['flip_test'] = flip_test
    graph = export(model, tmp_path / 'prtr.onnx', (1, 3, 128, 96))
    assert graph.inputs[0].shape == ['batch', 3, 128, 96]
    assert graph.output_names == ('keypoint_probs', 'keypoint_coords')
    assert_same_outputs(model, graph, [torch.randn(3, 3, 128, 96)])
    data = sample_batch(TINY_CONFIG, 4)
    want, got = predict_both(TINY_CONFIG, model, str(tmp_path / 'prtr.onnx'),
                             data)
    assert_same_predictions(want, got)
    # a graph of one batch size or of another input size: one line each
    from prtr.deployment import ExportGraph, OnnxRuntimeGraph, export_onnx
    from prtr.utils import UserInputError
    export_onnx(build(TINY_CONFIG), str(tmp_path / 'b1.onnx'), (1, 3, 128, 96))
    static = OnnxRuntimeGraph((tmp_path / 'b1.onnx').read_bytes())
    for shape in ([2, 3, 128, 96], [1, 3, 96, 96]):
        message = f'the graph takes inputs of [1, 3, 128, 96], got {shape}'
        with pytest.raises(UserInputError, match=re.escape(message)):
            static(torch.randn(*shape))
    # a model that is not PRTR's has no graph
    with pytest.raises(UserInputError, match='Identity is not a PRTR model'):
        ExportGraph(torch.nn.Identity())
    # a graph of another keypoint count is refused, naming both counts
    from prtr.deployment import attach_onnxruntime
    mpii = build(TINY_CONFIG)
    mpii.head.num_keypoints = 16  # as a 16-joint config's head
    message = ("(16 keypoints, outputs ('keypoint_probs', 'keypoint_coords'))"
               ": it returns {'keypoint_probs': 17, 'keypoint_coords': 2}")
    with pytest.raises(UserInputError, match=re.escape(message)):
        attach_onnxruntime(mpii, str(tmp_path / 'prtr.onnx'))


@pytest.mark.parametrize('config', [CASCADE, DEFORMABLE_CASCADE])
def test_cascade_onnxruntime_decodes_as_pytorch(tmp_path, config):
    """The cascade (DETR and deformable): persons' scores and boxes and
    their keypoint stage out of the graph, flip test included."""
    model = build(config)
    model.test_cfg['flip_test'] = True
    model.test_cfg['max_persons'] = 5
    graph = export(model, tmp_path / 'cascade.onnx', (1, 3, 192, 192))
    assert graph.output_names == ('person_scores', 'person_boxes',
                                  'keypoint_probs', 'keypoint_coords')
    inputs = [torch.randn(2, 3, 192, 192), torch.ones(2, 2)]
    assert_same_outputs(model, graph, inputs)
    data = sample_batch(config, 2)
    want, got = predict_both(config, model, str(tmp_path / 'cascade.onnx'),
                             data)
    assert_same_predictions(want, got)
    # a graph of another kind of model is refused, naming the file
    from prtr.deployment import attach_onnxruntime
    from prtr.utils import UserInputError
    onnx_file = str(tmp_path / 'cascade.onnx')
    message = f"{onnx_file} is not the export of this config's model"
    with pytest.raises(UserInputError, match=re.escape(message)):
        attach_onnxruntime(build(TINY_CONFIG), onnx_file)


@pytest.mark.parametrize('config', [
    'prtr_res50_4xb32-200e_coco-384x288.py', 'prtr_hrnet_w32.py',
    'prtr_deform-res50_4xb16-100e_coco-384x288.py'
])
def test_zoo_models_export(tmp_path, config):
    """The zoo's two-stage forms (ResNet, HRNet-W32 + its neck, the
    deformable head on mmcv's pure-PyTorch attention) export and run on
    onnxruntime as in PyTorch; a small input keeps it quick (random
    weights: the graph, not the numbers, is under test)."""
    from test_configs import _no_pretrained
    cfg = Config.fromfile(osp.join(ROOT, 'configs', config))
    _no_pretrained(cfg.model)  # no pretrained weights here
    cfg_file = tmp_path / 'cfg.py'
    cfg.dump(str(cfg_file))
    model = build(str(cfg_file))
    graph = export(model, tmp_path / 'zoo.onnx', (1, 3, 128, 96))
    assert_same_outputs(model, graph, [torch.randn(2, 3, 128, 96)])


def coco_predictions(config, checkpoint, work_dir, onnx_file=None):
    """mmpose's CocoMetric on the bundled sample: the metrics and the
    keypoints it scored (its results file)."""
    import json

    from mmengine.runner import Runner

    from prtr.deployment import attach_onnxruntime
    cfg = Config.fromfile(config)
    cfg.work_dir = str(work_dir)
    cfg.load_from = checkpoint
    cfg.test_dataloader.num_workers = 0
    cfg.test_dataloader.persistent_workers = False
    cfg.test_evaluator.outfile_prefix = str(work_dir / 'preds')
    cfg.visualizer.name = f'visualizer_{work_dir.name}'
    runner = Runner.from_cfg(cfg)
    if onnx_file:
        attach_onnxruntime(runner.model, onnx_file)
    metrics = runner.test()
    with open(work_dir / 'preds.keypoints.json') as f:
        preds = sorted(json.load(f), key=lambda p: (p['image_id'], p['score']))
    return metrics, preds


@pytest.mark.slow
def test_export_cli_and_same_coco_evaluation(trained, tmp_path):
    """tools/deployment/pytorch2onnx.py on the session's trained small
    model, then mmpose's CocoMetric on the bundled sample by PyTorch and by
    onnxruntime: the same keypoints scored, the same metrics (the slow
    check in test_real_data.py compares them on a model of AP > 0)."""
    _, ckpt = trained
    out = str(tmp_path / 'tiny.onnx')
    proc = run([
        PYTHON, 'tools/deployment/pytorch2onnx.py', TINY_CONFIG, ckpt, '--out',
        out
    ])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'onnxruntime within' in proc.stdout, proc.stdout
    want, want_preds = coco_predictions(TINY_CONFIG, ckpt, tmp_path / 'pt')
    got, got_preds = coco_predictions(TINY_CONFIG, ckpt, tmp_path / 'ort', out)
    assert len(got_preds) == len(want_preds) > 100
    for g, w in zip(got_preds, want_preds):
        assert g['image_id'] == w['image_id']
        np.testing.assert_allclose(g['keypoints'], w['keypoints'], atol=1e-2)
        assert g['score'] == pytest.approx(w['score'], abs=1e-4)
    for key in ('coco/AP', 'coco/AP .5', 'coco/AP .75', 'coco/AR'):
        assert got[key] == pytest.approx(want[key], abs=1e-6), key


@pytest.mark.slow
def test_export_cli_bad_inputs(trained, tmp_path):
    """An existing output is kept (one line), a low opset is argparse's
    usage error."""
    _, ckpt = trained
    out = tmp_path / 'kept.onnx'
    out.write_bytes(b'precious')
    tool = [PYTHON, 'tools/deployment/pytorch2onnx.py', TINY_CONFIG, ckpt]
    proc = run(tool + ['--out', str(out)])
    assert proc.returncode == 1
    assert f'--out {out} exists' in proc.stderr
    assert out.read_bytes() == b'precious'
    proc = run(tool + ['--out', str(tmp_path / 'x.onnx'), '--opset', '13'])
    assert proc.returncode == 2  # argparse's usage error
    assert '--opset: invalid choice: 13' in proc.stderr
    assert not (tmp_path / 'x.onnx').exists()


@pytest.mark.slow
def test_demo_onnxruntime_backend(trained, tmp_path):
    """tools/demo.py --backend onnxruntime draws the same people as the
    PyTorch backend; a corrupt or foreign .onnx is one line naming it."""
    import json
    _, ckpt = trained
    onnx_file = str(tmp_path / 'tiny.onnx')
    proc = run([
        PYTHON, 'tools/deployment/pytorch2onnx.py', TINY_CONFIG, ckpt, '--out',
        onnx_file
    ])
    assert proc.returncode == 0, proc.stderr[-3000:]
    image = sorted(
        osp.join(DATA_ROOT, 'train2017', f)
        for f in __import__('os').listdir(osp.join(DATA_ROOT, 'train2017')))[0]
    preds = {}
    for backend, model in (('pytorch', ckpt), ('onnxruntime', onnx_file)):
        out = tmp_path / backend
        proc = run([
            PYTHON, 'tools/demo.py', TINY_CONFIG, model, '--input', image,
            '--backend', backend, '--out-dir',
            str(out / 'vis'), '--pred-out-dir',
            str(out / 'pred'), '--device', 'cpu'
        ])
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert '1 person(s) in 1 frame(s)' in proc.stdout, proc.stdout
        name = osp.splitext(osp.basename(image))[0] + '.json'
        with open(out / 'pred' / name) as f:
            preds[backend] = json.load(f)
    np.testing.assert_allclose(
        preds['onnxruntime'][0]['keypoints'],
        preds['pytorch'][0]['keypoints'],
        atol=1e-2)

    bad = tmp_path / 'bad.onnx'
    bad.write_bytes(b'not a graph')
    proc = run([
        PYTHON, 'tools/demo.py', TINY_CONFIG,
        str(bad), '--input', image, '--backend', 'onnxruntime'
    ])
    assert proc.returncode == 1
    assert f'cannot load ONNX model {bad}' in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_latency_benchmark_writes_its_table(tmp_path):
    """tools/analysis_tools/benchmark.py --onnx (in-process) on the small
    two-stage model and cascade: per config and batch size both backends'
    times and their ratio, on the CPU."""
    from _cli import tool_module
    bench = tool_module('analysis_tools/benchmark')
    assert bench.parse_args(['--onnx']).device == 'cpu'
    out = tmp_path / 'onnx.md'
    groups = bench.main([
        '--onnx', TINY_CONFIG, CASCADE, '--batch-sizes', '1', '2', '--rounds',
        '1', '--min-run-time', '0.01', '--out',
        str(out)
    ])
    names = [
        f'{osp.basename(c)} b{b}' for c in (TINY_CONFIG, CASCADE)
        for b in (1, 2)
    ]
    assert [list(g) for g in groups] == [[f'{n} onnxruntime', f'{n} PyTorch']
                                         for n in names]
    report = out.read_text()
    assert 'onnxruntime 1.' in report  # its version
    for group in groups:
        ort_ms, pytorch_ms = (f['ms'] for f in group.values())
        assert ort_ms > 0 and pytorch_ms > 0
        rows = [f'| {n} | {f["ms"]:.1f} |' for n, f in group.items()]
        rows.append(f'| ratio | **{ort_ms / pytorch_ms:.2f}** |')
        assert '\n'.join(rows) in report
