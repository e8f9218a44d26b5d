"""tools/analysis_tools/vis_queries.py: every query's point and the K x N
probability matrix of one person, from the session's trained checkpoint
(the tool's main in this process; one run as a command, for its one-line
error)."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from _cli import assert_one_line_error, run, tool_module
from conftest import DATA_ROOT, PYTHON, TINY_CONFIG

TOOL = 'tools/analysis_tools/vis_queries.py'
IMG = osp.join(DATA_ROOT, 'train2017', '000000000790.jpg')
BOX = ['10', '20', '200', '300']


@pytest.fixture(scope='session')
def tool():
    return tool_module('analysis_tools/vis_queries')


def near(pixels, color, tol=40):
    """Whether any of ``pixels`` ``[..., 3]`` (RGB) is within ``tol`` of
    ``color``."""
    diff = np.abs(pixels.reshape(-1, 3).astype(int) - np.array(color))
    return bool((diff.sum(1) < tol).any())


def test_crop_panel_draws_points_rings_and_skeleton(tool):
    """On a black crop: each query's dot in its joint's colour (grey: "no
    keypoint"), rings around the matched queries and the dataset's
    skeleton, by mmpose's visualizer."""
    from mmengine.structures import InstanceData
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    from mmpose.structures import PoseDataSample
    from mmpose.visualization import PoseLocalVisualizer
    meta = parse_pose_metainfo(
        dict(from_file='configs/_base_/datasets/'
             'coco.py'))
    vis = PoseLocalVisualizer(backend='matplotlib')
    vis.set_dataset_meta(meta)
    sample = dict(
        inputs=torch.zeros(3, 128, 96, dtype=torch.uint8),
        data_samples=PoseDataSample(
            metainfo=dict(input_size=(96, 128)), gt_instances=InstanceData()))
    points = np.random.default_rng(0).uniform((10, 10), (86, 118), (19, 2))
    probs = torch.zeros(19, 18)
    probs[range(17), range(17)] = 0.05  # queries 0-16: joints 0-16
    probs[17, 5] = 0.05  # an unmatched query of joint 5
    probs[18, 17] = 0.9  # "no keypoint"
    image = tool.draw_crop(vis, sample, probs, points, np.arange(17))
    assert image.shape == (512, 384, 3)  # the crop, 4 times larger
    colors = meta['keypoint_colors']
    a, b = meta['skeleton_links'][0]
    mid = ((points[a] + points[b]) * 2).astype(int)
    link = meta['skeleton_link_colors'][0]
    assert near(image[mid[1] - 1:mid[1] + 2, mid[0] - 1:mid[0] + 2], link)
    for query, color in ((17, colors[5]), (18, tool.GREY)):
        x, y = (points[query] * 4).astype(int)
        assert near(image[y - 1:y + 2, x - 1:x + 2], color)
    for joint in (0, 9, 16):
        x, y = (points[joint] * 4).astype(int)
        ring = image[y - 1:y + 2, x + tool.RING - 1:x + tool.RING + 2]
        assert near(ring, colors[joint])
    assert (image.sum(-1) > 0).mean() < 0.2  # lines and dots, not a fill


def test_vis_queries_on_a_test_person(trained, tool, tmp_path, capsys):
    """The crop (512 px high) beside the names and the 17 x 20 matrix,
    each joint's matched cell outlined in red."""
    _, ckpt = trained
    out = tmp_path / 'q.png'
    result = tool.main([TINY_CONFIG, ckpt, '--out', str(out), '--person', '3'])
    stdout = capsys.readouterr().out
    assert '17 joints matched to queries' in stdout
    matched = [int(q) for q in stdout.split('[')[1].split(']')[0].split(',')]
    assert matched == result['matched'].tolist()
    assert len(set(matched)) == 17  # one query per joint, all different
    image = cv2.imread(str(out))[..., ::-1]
    cell, left = tool.CELL, 384 + tool.LABELS
    assert image.shape == (512, left + 20 * cell, 3)
    assert image[:, :384].std() > 20, 'blank crop'
    red = (255, 0, 0)
    for joint, query in enumerate(matched):
        x = left + query * cell + cell // 2
        assert near(image[joint * cell:joint * cell + 2, x], red, 90)
        other = next(
            q for q in range(20)
            if q not in matched[max(joint - 1, 0):joint + 1])
        x = left + other * cell + cell // 2
        assert not near(image[joint * cell + 2:(joint + 1) * cell - 2, x], red,
                        90)


def test_vis_queries_box_and_layer(trained, tool, tmp_path):
    _, ckpt = trained
    out = tmp_path / 'sub' / 'box.png'
    tool.main([
        TINY_CONFIG, ckpt, '--out',
        str(out), '--img', IMG, '--bbox', *BOX, '--layer', '0'
    ])
    assert cv2.imread(str(out)).std() > 20


def test_matching_is_inferences(trained, tool, tmp_path):
    """The picture's matched queries are those of mmpose's inference (flip
    test off): the same scores for every joint."""
    from mmpose.apis import inference_topdown, init_model
    _, ckpt = trained
    model = init_model(
        TINY_CONFIG,
        ckpt,
        device='cpu',
        cfg_options=dict(model=dict(test_cfg=dict(flip_test=False))))
    box = np.array([[float(v) for v in BOX]])
    inferred = inference_topdown(model, IMG, box)[0].pred_instances
    result = tool.main([
        TINY_CONFIG, ckpt, '--out',
        str(tmp_path / 'q.png'), '--img', IMG, '--bbox', *BOX
    ])
    assert np.allclose(result['scores'], inferred.keypoint_scores[0])


@pytest.mark.parametrize('bad', ['person', 'layer', 'bbox', 'img'])
def test_vis_queries_bad_input(trained, tool, tmp_path, bad):
    from prtr.utils import UserInputError
    _, ckpt = trained
    args, needles = {
        'person': (['--person',
                    '10000'], ['--person 10000 is out of range', 'people']),
        'layer': (['--layer',
                   '3'], ['--layer 3 is out of range', '3 decoder layers']),
        'bbox': (['--img', IMG, '--bbox', '50', '50', '40',
                  '90'], ['--bbox', 'X2 > X1']),
        'img': (['--img', IMG], ['--img and --bbox go together']),
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
