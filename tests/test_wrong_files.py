"""Files that exist and load but are the wrong ones: a checkpoint of
another config (test, demo, resume, fine-tuning, the query picture), a
truncated image, and the converter's output where a file already is. Each
ends in exit status 1 and one line naming the file, or, for a demo folder,
a warning, and no file the user had changes (``untouched``)."""
import os
import os.path as osp
import shutil

import pytest
import torch
from _cli import call, one_line
from conftest import TINY_CONFIG
from mmengine.config import Config
from test_bad_inputs import CASCADE, IMAGE, fakes, untouched  # noqa: F401

NOT_IT = 'does not fit the model of'


def truncated(path, tmp_path):
    """The bundled image cut to its first 5,000 bytes (OpenCV's ``imread``
    still returns part of it; mmcv, which mmpose reads with, nothing)."""
    cut = tmp_path / 'cut.jpg'
    with open(path, 'rb') as f:
        cut.write_bytes(f.read(5000))
    return cut


@pytest.mark.parametrize('tool', ['test', 'demo', 'resume', 'vis_queries'])
def test_checkpoint_of_another_config(tool, trained, tmp_path, capsys,
                                      monkeypatch, untouched):  # noqa: F811
    ckpt = trained[1]  # the small top-down model's; the config: cascade
    argv = {
        'test': ['test', [CASCADE, ckpt]],
        'demo': [
            'demo',
            [
                CASCADE, ckpt, '--input', IMAGE, '--out-dir',
                str(tmp_path / 'out')
            ]
        ],
        'resume': [
            'train',
            [CASCADE, '--work-dir',
             str(tmp_path / 'w'), '--resume', ckpt]
        ],
        'vis_queries': [
            'analysis_tools/vis_queries',
            [CASCADE, ckpt, '--out',
             str(tmp_path / 'out' / 'q.png')]
        ],
    }[tool]
    status, err = call(*argv, capsys, monkeypatch)
    last = one_line(status, err, f'checkpoint {ckpt}', NOT_IT, CASCADE)
    assert 'have other shapes' in last and 'are missing' in last
    assert not (tmp_path / 'out').exists() and not (tmp_path / 'w').exists()


def test_fine_tuning_needs_only_part_of_the_model(trained, tmp_path):
    """``load_from`` when training: a checkpoint with some of the model's
    tensors passes (mmengine warns of the rest), one with none fails;
    testing and resuming need all of them."""
    from prtr.cli import checkpoints as checks
    cfg = Config.fromfile(TINY_CONFIG)
    state = torch.load(trained[1], weights_only=True)['state_dict']
    backbone = tmp_path / 'backbone.pth'
    torch.save(
        dict(state_dict={
            k: v
            for k, v in state.items() if k.startswith('backbone.')
        }), backbone)
    foreign = tmp_path / 'foreign.pth'
    torch.save(dict(state_dict=dict(w=torch.zeros(2))), foreign)
    checks.check_checkpoint_fits(cfg, trained[1], TINY_CONFIG)
    checks.check_checkpoint_fits(cfg, str(backbone), TINY_CONFIG, strict=False)
    with pytest.raises(checks.UserInputError, match='are missing'):
        checks.check_checkpoint_fits(cfg, str(backbone), TINY_CONFIG)
    with pytest.raises(checks.UserInputError, match=NOT_IT):
        checks.check_checkpoint_fits(
            cfg, str(foreign), TINY_CONFIG, strict=False)
    # the check builds the model from a copy (mmdet's DETRHead writes its
    # class weights into the loss config it is given)
    cascade = Config.fromfile(CASCADE)
    before = cascade.pretty_text
    with pytest.raises(checks.UserInputError, match=NOT_IT):
        checks.check_checkpoint_fits(cascade, trained[1], CASCADE)
    assert cascade.pretty_text == before


def test_query_picture_of_a_cascade_config(trained, capsys, monkeypatch,
                                           tmp_path, untouched):  # noqa: F811
    """A cascade model with its own checkpoint (random weights): the query
    picture is drawn for a top-down model."""
    from mmpose.apis import init_model
    ckpt = tmp_path / 'cascade.pth'
    model = init_model(CASCADE, None, device='cpu')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    untouched(ckpt)
    status, err = call('analysis_tools/vis_queries', [
        CASCADE,
        str(ckpt), '--person', '3', '--out',
        str(tmp_path / 'q.png')
    ], capsys, monkeypatch)
    one_line(status, err, CASCADE, 'PRTRCascade config', 'top-down')
    assert not (tmp_path / 'q.png').exists()


def test_demo_truncated_image(trained, tmp_path, capsys, monkeypatch,
                              untouched):  # noqa: F811
    cut = truncated(IMAGE, tmp_path)
    untouched(cut)
    status, err = call('demo', [
        TINY_CONFIG, trained[1], '--input',
        str(cut), '--out-dir',
        str(tmp_path / 'o')
    ], capsys, monkeypatch)
    one_line(status, err, f'cannot read image {cut}')
    # in a folder: skipped with a warning, the others drawn
    folder = tmp_path / 'images'
    folder.mkdir()
    shutil.copy(IMAGE, folder / 'good.jpg')
    shutil.copy(cut, folder / 'cut.jpg')
    status, err = call('demo', [
        TINY_CONFIG, trained[1], '--input',
        str(folder), '--out-dir',
        str(tmp_path / 'out')
    ], capsys, monkeypatch)
    assert status == 0, err[-3000:]
    assert f'cannot read image {folder / "cut.jpg"}, skipped' in err
    assert sorted(os.listdir(tmp_path / 'out')) == ['good.jpg']


def _official_like(path):
    """A state dict of the official layout (one backbone tensor)."""
    torch.save({'backbone.0.body.conv1.weight': torch.ones(2)}, path)


def test_converter_keeps_an_existing_output(trained, tmp_path, capsys,
                                            monkeypatch):
    src, dst = tmp_path / 'official.pth', tmp_path / 'out.pth'
    _official_like(src)
    shutil.copy(trained[1], dst)
    before = dst.read_bytes()
    status, err = call('convert_prtr_checkpoint',
                       [str(src), str(dst)], capsys, monkeypatch)
    one_line(status, err, f'output {dst} exists', '--overwrite')
    assert dst.read_bytes() == before
    status, err = call('convert_prtr_checkpoint',
                       [str(src), str(tmp_path)], capsys, monkeypatch)
    one_line(status, err, f'output {tmp_path} is a folder')
    status, err = call('convert_prtr_checkpoint',
                       [str(src), str(dst), '--overwrite'], capsys,
                       monkeypatch)
    assert status == 0, err[-3000:]
    converted = torch.load(dst, weights_only=True)['state_dict']
    assert list(converted) == ['backbone.conv1.weight']
    # written aside and renamed: nothing else is left in the folder
    assert sorted(os.listdir(tmp_path)) == ['official.pth', 'out.pth']


@pytest.mark.parametrize('content,needle', [
    (dict(a=1, b='x'), 'holds no state dict'),
    (dict(a=torch.ones(1), b=torch.ones(2)), 'neither an official PRTR'),
])
def test_converter_refuses_what_is_no_known_state_dict(content, needle,
                                                       tmp_path, capsys,
                                                       monkeypatch):
    src, dst = tmp_path / 'in.pth', tmp_path / 'out.pth'
    torch.save(content, src)
    status, err = call('convert_prtr_checkpoint',
                       [str(src), str(dst)], capsys, monkeypatch)
    one_line(status, err, str(src), needle)
    assert not osp.exists(dst)
