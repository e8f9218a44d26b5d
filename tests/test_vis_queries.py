"""tools/analysis_tools/vis_queries.py: every query's point and the K x N
probability matrix of one person, from the session's trained checkpoint."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import DATA_ROOT, PYTHON, TINY_CONFIG
from test_tools import assert_one_line_error, run

TOOL = 'tools/analysis_tools/vis_queries.py'
ANN_FILE = osp.join(DATA_ROOT, 'annotations',
                    'person_keypoints_train2017.json')


def num_people():
    with open(ANN_FILE) as f:
        anns = json.load(f)['annotations']
    return sum(1 for a in anns if not a.get('iscrowd'))


def read_png(path):
    import matplotlib.image
    return matplotlib.image.imread(str(path))  # [H, W, 4] floats in [0, 1]


def test_vis_queries_annotation(trained, tmp_path):
    _, ckpt = trained
    out = tmp_path / 'q.png'
    proc = run([
        PYTHON, TOOL, TINY_CONFIG, ckpt, '--out',
        str(out), '--person', '3', '--dpi', '50'
    ])
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert '17 joints matched to queries' in proc.stdout
    png = read_png(out)
    # 14 x 6.5 inches at 50 dpi
    assert png.shape[:2] == (325, 700), png.shape
    rgb = png[..., :3]
    assert rgb.std() > 0.1, 'blank picture'
    # the left panel holds the crop (many colours), the right the heat map
    assert len(np.unique((rgb * 255).astype(np.uint8).reshape(-1, 3),
                         axis=0)) > 500
    matched = [
        int(q) for q in proc.stdout.split('[')[1].split(']')[0].split(',')
    ]
    assert len(set(matched)) == 17  # one query per joint, all different


def test_vis_queries_box_and_layer(trained, tmp_path):
    _, ckpt = trained
    img = osp.join(DATA_ROOT, 'train2017', '000000000790.jpg')
    out = tmp_path / 'sub' / 'box.png'
    proc = run([
        PYTHON, TOOL, TINY_CONFIG, ckpt, '--out',
        str(out), '--img', img, '--bbox', '10', '20', '200', '300', '--layer',
        '0', '--dpi', '40'
    ])
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert out.is_file() and read_png(out)[..., :3].std() > 0.1


def test_matching_is_the_heads(trained):
    """The tool's query indices are those PRTRHead.predict decodes from."""
    import sys
    sys.path.insert(
        0, osp.join(osp.dirname(__file__), '..', 'tools', 'analysis_tools'))
    from mmpose.apis import init_model
    from vis_queries import match_queries, run_model

    from prtr.models.heads.prtr_head import hungarian_decode
    _, ckpt = trained
    model = init_model(TINY_CONFIG, ckpt, device='cpu')
    img = osp.join(DATA_ROOT, 'train2017', '000000000790.jpg')
    crop, cls_scores, kpt_preds, gt = run_model(
        model, img, np.array([10, 20, 200, 300], np.float32))
    assert crop.shape == (128, 96, 3) and crop.dtype == np.uint8
    assert cls_scores.shape == (3, 20, 18) and kpt_preds.shape == (3, 20, 2)
    queries, scores = match_queries(cls_scores[-1])
    coords, ref_scores, _ = hungarian_decode(cls_scores[-1:], kpt_preds[-1:])
    assert torch.equal(kpt_preds[-1][torch.from_numpy(queries)], coords[0])
    assert np.allclose(scores, ref_scores[0].numpy())


@pytest.mark.parametrize('bad', ['person', 'ann-id', 'layer', 'bbox'])
def test_vis_queries_bad_input(trained, tmp_path, bad):
    _, ckpt = trained
    n = num_people()
    args, needles = {
        'person': (['--person',
                    str(n)], [f'--person {n} is out of range', f'{n} people']),
        'ann-id': (['--ann-id',
                    '-5'], ['--ann-id -5', 'person_keypoints_train2017.json']),
        'layer': (['--layer',
                   '3'], ['--layer 3 is out of range', '3 decoder layers']),
        'bbox': ([
            '--img',
            osp.join(DATA_ROOT, 'train2017', '000000000790.jpg'), '--bbox',
            '50', '50', '40', '90'
        ], ['--bbox', 'X2 > X1']),
    }[bad]
    proc = run([
        PYTHON, TOOL, TINY_CONFIG, ckpt, '--out',
        str(tmp_path / 'x.png'), *args
    ])
    assert_one_line_error(proc, *needles)
    assert not (tmp_path / 'x.png').exists()


def test_vis_queries_missing_checkpoint(tmp_path):
    missing = str(tmp_path / 'none.pth')
    proc = run([PYTHON, TOOL, TINY_CONFIG, missing, '--out', 'x.png'])
    assert_one_line_error(proc, 'checkpoint not found', missing)
