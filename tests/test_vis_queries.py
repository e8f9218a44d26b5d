"""prtr.visualization and tools/analysis_tools/vis_queries.py: every query's
point and the K x N probability matrix of one person, from the session's
trained checkpoint (the tool's main in this process; one run as a command,
for its one-line error)."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from _cli import assert_one_line_error, run, tool_module
from conftest import DATA_ROOT, PYTHON, TINY_CONFIG

TOOL = 'tools/analysis_tools/vis_queries.py'
ANN_FILE = osp.join(DATA_ROOT, 'annotations',
                    'person_keypoints_train2017.json')
IMG = osp.join(DATA_ROOT, 'train2017', '000000000790.jpg')


@pytest.fixture(scope='session')
def tool():
    return tool_module('analysis_tools/vis_queries')


def people():
    with open(ANN_FILE) as f:
        return [a for a in json.load(f)['annotations'] if not a['iscrowd']]


def read_png(path):
    import matplotlib.image
    return matplotlib.image.imread(str(path))  # [H, W, 4] floats in [0, 1]


def test_load_person_reads_coco():
    from prtr.visualization import load_person
    ann = people()[3]
    person = load_person(ANN_FILE, 3)
    x, y, w, h = ann['bbox']
    assert person.ann_id == ann['id']
    assert np.allclose(person.bbox, [x, y, x + w, y + h])
    assert np.allclose(person.keypoints.ravel(), ann['keypoints'])
    assert person.file_name == f'{ann["image_id"]:012d}.jpg'
    same = load_person(ANN_FILE, ann_id=ann['id'])
    assert same.ann_id == ann['id'] and np.array_equal(same.bbox, person.bbox)


def test_skeleton_drawn_by_mmpose():
    """The dataset's links, in its colours, on the resized crop."""
    from mmpose.datasets.datasets.utils import parse_pose_metainfo

    from prtr.visualization import QueryVisualizer
    meta = parse_pose_metainfo(
        dict(from_file='configs/_base_/datasets/'
             'coco.py'))
    crop = np.zeros((128, 96, 3), np.uint8)
    joints = np.random.default_rng(0).uniform((10, 10), (86, 118), (17, 2))
    image, scale = QueryVisualizer(
        meta, upscale=512).draw_skeleton(crop, joints)
    assert scale == 4 and image.shape == (512, 384, 3)
    a, b = meta['skeleton_links'][0]
    mid = ((joints[a] + joints[b]) / 2 * scale).astype(int)
    color = image[mid[1] - 1:mid[1] + 2, mid[0] - 1:mid[0] + 2]
    link = np.asarray(meta['skeleton_link_colors'][0])
    assert np.abs(color.reshape(-1, 3) - link).sum(1).min() < 30, color
    assert (image.sum(-1) > 0).mean() < 0.2  # lines and dots, not a fill


def test_vis_queries_annotation(trained, tool, tmp_path, capsys):
    _, ckpt = trained
    out = tmp_path / 'q.png'
    result = tool.main(
        [TINY_CONFIG, ckpt, '--out',
         str(out), '--person', '3', '--dpi', '50'])
    stdout = capsys.readouterr().out
    assert '17 joints matched to queries' in stdout
    png = read_png(out)
    # 14 x 6.5 inches at 50 dpi
    assert png.shape[:2] == (325, 700), png.shape
    rgb = png[..., :3]
    assert rgb.std() > 0.1, 'blank picture'
    # the left panel holds the crop (many colours), the right the heat map
    assert len(np.unique((rgb * 255).astype(np.uint8).reshape(-1, 3),
                         axis=0)) > 500
    matched = [int(q) for q in stdout.split('[')[1].split(']')[0].split(',')]
    assert matched == result['matched'].tolist()
    assert len(set(matched)) == 17  # one query per joint, all different


def test_vis_queries_box_and_layer(trained, tool, tmp_path):
    _, ckpt = trained
    out = tmp_path / 'sub' / 'box.png'
    tool.main([
        TINY_CONFIG, ckpt, '--out',
        str(out), '--img', IMG, '--bbox', '10', '20', '200', '300', '--layer',
        '0', '--dpi', '40'
    ])
    assert out.is_file() and read_png(out)[..., :3].std() > 0.1


def test_matching_is_the_heads(trained):
    """The picture's query indices are those PRTRHead.predict decodes
    from."""
    from mmpose.apis import init_model

    from prtr.models.heads.prtr_head import hungarian_decode
    from prtr.visualization import match_queries, run_model
    _, ckpt = trained
    model = init_model(TINY_CONFIG, ckpt, device='cpu')
    out = run_model(model, IMG, np.array([10, 20, 200, 300], np.float32))
    assert out.crop.shape == (128, 96, 3) and out.crop.dtype == np.uint8
    assert out.cls_scores.shape == (3, 20, 18)
    assert out.kpt_preds.shape == (3, 20, 2) and out.gt is None
    queries, scores = match_queries(out.cls_scores[-1])
    coords, ref_scores, _ = hungarian_decode(out.cls_scores[-1:],
                                             out.kpt_preds[-1:])
    assert torch.equal(out.kpt_preds[-1][torch.from_numpy(queries)], coords[0])
    assert np.allclose(scores, ref_scores[0].numpy())


@pytest.mark.parametrize('bad', ['person', 'ann-id', 'layer', 'bbox'])
def test_vis_queries_bad_input(trained, tool, tmp_path, bad):
    from prtr.utils import UserInputError
    _, ckpt = trained
    n = len(people())
    args, needles = {
        'person': (['--person',
                    str(n)], [f'--person {n} is out of range', f'{n} people']),
        'ann-id': (['--ann-id',
                    '-5'], ['--ann-id -5', 'person_keypoints_train2017.json']),
        'layer': (['--layer',
                   '3'], ['--layer 3 is out of range', '3 decoder layers']),
        'bbox': (['--img', IMG, '--bbox', '50', '50', '40',
                  '90'], ['--bbox', 'X2 > X1']),
    }[bad]
    with pytest.raises(UserInputError) as error:
        tool.main([TINY_CONFIG, ckpt, '--out', str(tmp_path / 'x.png'), *args])
    for needle in needles:
        assert needle in str(error.value)
    assert not (tmp_path / 'x.png').exists()


def test_vis_queries_missing_checkpoint(tmp_path):
    missing = str(tmp_path / 'none.pth')
    proc = run([PYTHON, TOOL, TINY_CONFIG, missing, '--out', 'x.png'])
    assert_one_line_error(proc, 'checkpoint not found', missing)
