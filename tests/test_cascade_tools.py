"""The cascade config run as a user runs it: tools/train.py, tools/test.py
(keypoint AP + person-box AP, no external detector), tools/dist_train.sh
with 2 CPU processes, MMPoseInferencer and the visualizer."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from _cli import free_port, run
from conftest import DATA_ROOT, PYTHON, ROOT, quick_checkpoint

CASCADE_CONFIG = osp.join(
    ROOT, 'configs', 'prtr-cascade_res18-tiny_1xb4-300e_coco-mini-192x192.py')
QUICK = [
    'train_cfg.max_epochs=1', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
    'train_dataloader.batch_size=4', 'train_dataloader.dataset.indices=8'
]
IMAGE = osp.join(DATA_ROOT, 'train2017', '000000000790.jpg')


@pytest.fixture(scope='session')
def cascade_ckpt(tmp_path_factory):
    return quick_checkpoint(tmp_path_factory, 'cascade', CASCADE_CONFIG)[1]


@pytest.mark.slow
def test_test_tool_reports_keypoint_and_box_ap(cascade_ckpt, tmp_path):
    out = tmp_path / 'metrics.json'
    proc = run([
        PYTHON, 'tools/test.py', CASCADE_CONFIG, cascade_ckpt, '--work-dir',
        str(tmp_path), '--out',
        str(out), '--cfg-options', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        'test_dataloader.dataset.indices=6'
    ])
    assert proc.returncode == 0, proc.stderr[-5000:]
    metrics = json.loads(out.read_text())
    assert 0 <= metrics['coco/AP'] <= 1
    assert 0 <= metrics['person/bbox_mAP'] <= 1


@pytest.mark.slow
def test_dist_train_two_cpu_processes(tmp_path):
    proc = run([
        'bash', 'tools/dist_train.sh', CASCADE_CONFIG, '2', '--work-dir',
        str(tmp_path), '--no-validate', '--cfg-options', *QUICK
    ],
               env=dict(PYTHON=PYTHON, PORT=str(free_port())))
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-5000:])
    assert osp.isfile(tmp_path / 'epoch_1.pth')


def test_inferencer_draws_boxes_and_skeletons(cascade_ckpt, tmp_path):
    import mmcv
    from mmpose.apis import MMPoseInferencer
    inferencer = MMPoseInferencer(
        pose2d=CASCADE_CONFIG, pose2d_weights=cascade_ckpt, device='cpu')
    result = next(
        inferencer(
            IMAGE,
            vis_out_dir=str(tmp_path),
            draw_bbox=True,
            kpt_thr=0.0,
            return_vis=True))
    persons = result['predictions'][0]
    assert len(persons) == 20  # test_cfg.max_persons, no external detector
    img = mmcv.imread(IMAGE)
    h, w = img.shape[:2]
    for person in persons:
        kpts = np.asarray(person['keypoints'])
        assert kpts.shape == (17, 2)
        assert (kpts >= 0).all() and (kpts[:, 0] <= w).all() and (kpts[:, 1]
                                                                  <= h).all()
        assert len(person['bbox'][0]) == 4
    drawn = mmcv.imread(str(tmp_path / osp.basename(IMAGE)))
    assert drawn.shape == img.shape
    # boxes and skeletons changed many pixels
    changed = np.abs(drawn.astype(int) - img.astype(int)).sum(-1) > 30
    assert changed.sum() > 500


def test_tensor_mode_outputs(cascade_ckpt):
    from mmpose.apis import init_model
    model = init_model(CASCADE_CONFIG, cascade_ckpt, device='cpu')
    with torch.no_grad():
        cls, boxes, kpt_cls, kpts = model(
            torch.rand(2, 3, 192, 192), None, mode='tensor')
    assert cls.shape == (2, 2, 20, 2) and boxes.shape == (2, 2, 20, 4)
    # keypoint stage of the top test_cfg.max_persons (20) persons of each
    # image: [layers, images, persons, keypoint queries, ...]
    assert kpt_cls.shape == (2, 2, 20, 20, 18)
    assert kpts.shape == (2, 2, 20, 20, 2)


@pytest.mark.slow
def test_onnx_export_and_demo_on_onnxruntime(cascade_ckpt, tmp_path):
    """The cascade exported by tools/deployment/pytorch2onnx.py and run by
    tools/demo.py --backend onnxruntime: the persons, boxes and keypoints of
    the PyTorch backend."""
    onnx_file = str(tmp_path / 'cascade.onnx')
    proc = run([
        PYTHON, 'tools/deployment/pytorch2onnx.py', CASCADE_CONFIG,
        cascade_ckpt, '--out', onnx_file
    ])
    assert proc.returncode == 0, proc.stderr[-3000:]
    # checked against PyTorch; its outputs (persons) by the demo's backend
    assert 'onnxruntime within' in proc.stdout, proc.stdout
    preds = {}
    for backend, model in (('pytorch', cascade_ckpt), ('onnxruntime',
                                                       onnx_file)):
        out = tmp_path / backend
        proc = run([
            PYTHON, 'tools/demo.py', CASCADE_CONFIG, model, '--input', IMAGE,
            '--backend', backend, '--out-dir',
            str(out / 'vis'), '--pred-out-dir',
            str(out / 'pred'), '--device', 'cpu'
        ])
        assert proc.returncode == 0, proc.stderr[-3000:]
        with open(out / 'pred' / '000000000790.json') as f:
            preds[backend] = json.load(f)
    assert len(preds['onnxruntime']) == len(preds['pytorch']) == 20
    for got, want in zip(preds['onnxruntime'], preds['pytorch']):
        np.testing.assert_allclose(got['bbox'], want['bbox'], atol=1e-2)
        np.testing.assert_allclose(
            got['keypoints'], want['keypoints'], atol=1e-2)
