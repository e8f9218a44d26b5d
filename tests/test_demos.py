"""Demos with a person detector: mmpose's MMPoseInferencer and
demo/topdown_demo_with_mmdet.py with a PRTR config, and tools/demo.py, on a
bundled image, a folder and a short video (written by the ``video``
fixture).

No detector weights can be downloaded here: the detector is mmpose's
RTMDet-nano person config with random weights, so its boxes mean nothing;
with mmdet's initialisation it finds nobody and each frame falls back to
one whole-image person box. The
PRTR checkpoint is the session's short training run (``trained``)."""
import glob
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from _cli import call, one_line, run
from conftest import DATA_ROOT, PYTHON, TINY_CONFIG
from test_bad_inputs import library_error

IMAGES = sorted(glob.glob(osp.join(DATA_ROOT, 'train2017', '*.jpg')))
NUM_FRAMES, FRAME_W, FRAME_H = 4, 320, 240
# drawn pixels: any channel changed by more than this
DRAWN = 60


def mim_path(*parts):
    import mmpose
    return osp.join(osp.dirname(mmpose.__file__), '.mim', *parts)


@pytest.fixture(scope='session')
def det_config():
    return mim_path('demo', 'mmdetection_cfg',
                    'rtmdet_nano_320-8xb32_coco-person.py')


@pytest.fixture(scope='session')
def det_checkpoint(det_config, tmp_path_factory):
    """A randomly initialised RTMDet-nano, saved as an mmdet checkpoint.

    With mmdet's initialisation (score prior 0.01, zero box regression) it
    finds no person: every frame falls back to one whole-image box."""
    from mmdet.apis import init_detector
    torch.manual_seed(0)
    detector = init_detector(det_config, None, device='cpu')
    detector.init_weights()
    path = tmp_path_factory.mktemp('det') / 'rtmdet_nano_random.pth'
    torch.save({'state_dict': detector.state_dict()}, path)
    return str(path)


@pytest.fixture(scope='session')
def video(tmp_path_factory):
    """The first bundled images, resized, as a short video (2 fps)."""
    path = str(tmp_path_factory.mktemp('video') / 'persons.mp4')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 2,
                             (FRAME_W, FRAME_H))
    for img in IMAGES[:NUM_FRAMES]:
        writer.write(cv2.resize(cv2.imread(img), (FRAME_W, FRAME_H)))
    writer.release()
    return path


def read_frames(path):
    cap = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def drawn_pixels(before, after):
    """Number of pixels the drawing changed."""
    assert before.shape == after.shape
    return int((np.abs(before.astype(int) - after.astype(int)).max(-1)
                > DRAWN).sum())


def drawn_at_keypoints(before, after, people):
    """Fraction of the predicted joints (inside the image) whose pixel the
    drawing changed: the skeleton is drawn where it was predicted."""
    h, w = before.shape[:2]
    changed = np.abs(before.astype(int) - after.astype(int)).max(-1) > DRAWN
    hits = [
        changed[int(round(y)), int(round(x))] for person in people
        for x, y in person['keypoints']
        if 0 <= round(x) < w and 0 <= round(y) < h
    ]
    assert hits, 'no predicted joint inside the image'
    return float(np.mean(hits))


def make_inferencer(ckpt, det_config, det_weights=None):
    from mmpose.apis.inferencers import MMPoseInferencer
    torch.manual_seed(0)  # the same random detector (det_weights=None)
    return MMPoseInferencer(
        pose2d=TINY_CONFIG,
        pose2d_weights=ckpt,
        det_model=det_config,
        det_weights=det_weights,
        det_cat_ids=0,
        device='cpu')


def test_inferencer_on_image(trained, det_config, tmp_path):
    """MMPoseInferencer with a PRTR config and an mmdet detector config
    (det_weights=None: random weights) on a bundled image: 17 joints per
    person, drawn where they were predicted."""
    _, ckpt = trained
    inferencer = make_inferencer(ckpt, det_config)
    img = IMAGES[0]
    results = list(
        inferencer(
            img,
            vis_out_dir=str(tmp_path / 'vis'),
            pred_out_dir=str(tmp_path / 'pred'),
            draw_bbox=True,
            kpt_thr=0.0))
    assert len(results) == 1
    people = results[0]['predictions'][0]
    assert people
    for person in people:
        assert np.array(person['keypoints']).shape == (17, 2)
        assert np.array(person['keypoint_scores']).shape == (17, )
        assert np.array(person['bbox']).shape == (1, 4)
    out = tmp_path / 'vis' / osp.basename(img)
    assert out.is_file() and out.stat().st_size > 0
    before, drawn = cv2.imread(img), cv2.imread(str(out))
    assert drawn_at_keypoints(before, drawn, people) > 0.9
    assert drawn_pixels(before, drawn) > 50
    pred = json.loads(
        (tmp_path / 'pred' /
         (osp.splitext(osp.basename(img))[0] + '.json')).read_text())
    assert len(pred) == len(people)
    assert len(pred[0]['keypoints']) == 17


def test_inferencer_on_video(trained, det_config, det_checkpoint, video,
                             tmp_path):
    """The same on the short video, with a saved detector checkpoint: a
    video with one drawn frame per input frame."""
    _, ckpt = trained
    inferencer = make_inferencer(ckpt, det_config, det_checkpoint)
    results = list(
        inferencer(
            video,
            vis_out_dir=str(tmp_path / 'vis'),
            draw_bbox=True,
            kpt_thr=0.0))
    assert len(results) == NUM_FRAMES
    for result in results:
        for person in result['predictions'][0]:
            assert np.array(person['keypoints']).shape == (17, 2)
    out = tmp_path / 'vis' / osp.basename(video)
    assert out.is_file() and out.stat().st_size > 0
    frames, drawn = read_frames(video), read_frames(str(out))
    assert len(drawn) == NUM_FRAMES
    assert drawn[0].shape == (FRAME_H, FRAME_W, 3)
    for before, after, result in zip(frames, drawn, results):
        people = result['predictions'][0]
        assert drawn_at_keypoints(before, after, people) > 0.9


@pytest.mark.slow
def test_mmpose_demo_script_on_video(trained, det_config, det_checkpoint,
                                     video, tmp_path):
    _, ckpt = trained
    proc = run([
        PYTHON,
        mim_path('demo', 'topdown_demo_with_mmdet.py'), det_config,
        det_checkpoint, TINY_CONFIG, ckpt, '--input', video, '--output-root',
        str(tmp_path), '--device', 'cpu', '--kpt-thr', '0', '--draw-bbox',
        '--save-predictions'
    ])
    assert proc.returncode == 0, proc.stderr[-5000:]
    out = tmp_path / osp.basename(video)
    assert out.is_file() and out.stat().st_size > 0
    drawn = read_frames(str(out))
    assert len(drawn) == NUM_FRAMES
    preds = json.loads(
        (tmp_path / 'results_persons.json').read_text())['instance_info']
    assert len(preds) == NUM_FRAMES
    for before, after, pred in zip(read_frames(video), drawn, preds):
        assert len(pred['instances'][0]['keypoints']) == 17
        assert drawn_at_keypoints(before, after, pred['instances']) > 0.9


@pytest.mark.slow
def test_demo_tool_on_folder(trained, det_config, det_checkpoint, tmp_path):
    """tools/demo.py on a folder of two images, with the detector."""
    _, ckpt = trained
    folder = tmp_path / 'images'
    folder.mkdir()
    for img in IMAGES[:2]:
        (folder / osp.basename(img)).write_bytes(open(img, 'rb').read())
    proc = run([
        PYTHON, 'tools/demo.py', TINY_CONFIG, ckpt, '--input',
        str(folder), '--det-config', det_config, '--det-checkpoint',
        det_checkpoint, '--out-dir',
        str(tmp_path / 'vis'), '--pred-out-dir',
        str(tmp_path / 'pred'), '--kpt-thr', '0', '--device', 'cpu'
    ])
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert 'in 2 frame(s)' in proc.stdout
    for img in IMAGES[:2]:
        out = tmp_path / 'vis' / osp.basename(img)
        assert out.is_file()
        name = osp.splitext(osp.basename(img))[0] + '.json'
        pred = json.loads((tmp_path / 'pred' / name).read_text())
        assert len(pred[0]['keypoints']) == 17
        assert drawn_at_keypoints(cv2.imread(img), cv2.imread(str(out)),
                                  pred) > 0.9


def test_demo_tool_missing_checkpoint(tmp_path, capsys, monkeypatch):
    missing = str(tmp_path / 'no_such.pth')
    one_line(
        *call('demo', [TINY_CONFIG, missing, '--input', IMAGES[0]], capsys,
              monkeypatch), 'checkpoint not found', missing)


@pytest.mark.parametrize('what', ['input', 'det-config', 'det-checkpoint'])
def test_demo_tool_missing_paths(trained, det_config, tmp_path, what, capsys,
                                 monkeypatch):
    """A missing input or detector checkpoint is one line; a missing
    detector config is mmdet's error (it names the file), after its
    traceback."""
    _, ckpt = trained
    missing = str(tmp_path / f'no_such_{what}')
    args = dict(input=IMAGES[0], det_config=det_config)
    if what == 'input':
        args['input'] = missing
    elif what == 'det-config':
        args['det_config'] = missing
    argv = [
        TINY_CONFIG, ckpt, '--input', args['input'], '--det-config',
        args['det_config']
    ]
    if what == 'det-checkpoint':
        argv += ['--det-checkpoint', missing]
    status, err = call('demo', argv, capsys, monkeypatch)
    if what == 'det-config':
        library_error(status, err, f'Cannot find model: {missing}')
    else:
        needle = {
            'input': 'input not found',
            'det-checkpoint': 'checkpoint not found'
        }[what]
        one_line(status, err, needle, missing)


def test_demo_tool_unreadable_image(trained, tmp_path, capsys, monkeypatch):
    _, ckpt = trained
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'not a jpeg')
    one_line(
        *call('demo', [TINY_CONFIG, ckpt, '--input',
                       str(bad)], capsys, monkeypatch), 'cannot read image',
        str(bad))
