"""Malformed inputs, each one line naming the file, entry or option at
fault (exit status 1; argparse's own status 2 for a
command-line item that is not key=value), with every file the user had
unchanged (``untouched``): annotation and detection entries mmpose's
loader cannot read, a work dir that cannot be one, the kind of the config
and ``--out`` files, a device this machine lacks; and an image that cannot
be read when training meets it."""
import json
import os.path as osp
import shutil

import pytest
from _cli import call, one_line
from conftest import DATA_ROOT, TINY_CONFIG
from test_bad_inputs import fakes  # noqa: F401
from test_bad_inputs import ANN, CASCADE, FAST, IMAGE, untouched  # noqa: F401


def broken_data(tmp_path, change):
    """A copy of the sample's annotation file, changed by ``change``
    (images linked from the sample): the data root."""
    with open(ANN) as f:
        ann = json.load(f)
    change(ann)
    root = tmp_path / 'data'
    (root / 'annotations').mkdir(parents=True)
    (root / 'annotations' / osp.basename(ANN)).write_text(json.dumps(ann))
    (root / 'train2017').symlink_to(osp.join(DATA_ROOT, 'train2017'))
    return root


def _first_person(ann, **fields):
    person = next(a for a in ann['annotations'] if 'keypoints' in a)
    person.update(fields)


@pytest.mark.parametrize('change,needles', [
    (lambda a: _first_person(a, keypoints=[0] * 50),
     ['cannot reshape array of size 50']),
    (lambda a: _first_person(a, bbox='abc'), ['not enough values to unpack']),
    (lambda a: a['images'][0].pop('file_name'), ["KeyError: 'file_name'"]),
    (lambda a: a.update(images={}), []),
])
@pytest.mark.parametrize('tool', ['train', 'test'])
def test_malformed_annotation_entry(tool, change, needles, trained, tmp_path,
                                    capsys, monkeypatch,
                                    untouched):  # noqa: F811
    root = broken_data(tmp_path, change)
    ann = str(root / 'annotations' / osp.basename(ANN))
    split = 'train' if tool == 'train' else 'test'
    argv = ['--work-dir', str(tmp_path /
                              'w')] if tool == 'train' else [trained[1]]
    options = [f'{split}_dataloader.dataset.data_root={root}/']
    if tool == 'test':
        options.append(f'test_evaluator.ann_file={ann}')
    status, err = call(tool,
                       [TINY_CONFIG] + argv + ['--cfg-options'] + options,
                       capsys, monkeypatch)
    # mmpose's own error, after the file it was reading
    one_line(status, err, f'cannot read CocoDataset ann_file {ann}: ',
             *needles)


@pytest.mark.parametrize('box,score,needle', [
    ([10, 10, -5, 20], 1.0, 'not negative'),
    ([10, 10, 0, 0], 1.0, 'not both 0'),
    ([10, float('nan'), 5, 20], 1.0, 'four finite numbers'),
    ([10, 10, 5, 20], 'high', "score 'high'"),
])
def test_bad_detection_values(box, score, needle, trained, tmp_path, capsys,
                              monkeypatch, untouched):  # noqa: F811
    dets = tmp_path / 'dets.json'
    dets.write_text(
        json.dumps([dict(image_id=790, category_id=1, bbox=box, score=score)]))
    status, err = call('test', [
        TINY_CONFIG, trained[1], '--cfg-options',
        f'test_dataloader.dataset.bbox_file={dets}'
    ], capsys, monkeypatch)
    one_line(status, err, f'bbox_file {dets}: detection 0', needle)


def test_work_dir_under_a_file(tmp_path, capsys, monkeypatch,
                               untouched):  # noqa: F811
    blocker = tmp_path / 'notes.txt'
    blocker.write_text('a file, not a folder\n')
    untouched(blocker)
    status, err = call('train',
                       [TINY_CONFIG, '--work-dir',
                        str(blocker / 'run')], capsys, monkeypatch)
    one_line(status, err, f'work dir {blocker / "run"}',
             f'{blocker} is a file')


@pytest.mark.parametrize('what', ['folder', 'readme'])
def test_config_of_the_wrong_kind(what, trained, capsys, monkeypatch,
                                  untouched):  # noqa: F811
    path, needle = {
        'folder': ('configs', 'is a folder'),
        'readme': ('README.md', 'is not a config file')
    }[what]
    status, err = call('test', [path, trained[1]], capsys, monkeypatch)
    one_line(status, err, f'config {path}', needle)


def test_out_file_of_the_wrong_kind(trained, tmp_path, capsys, monkeypatch,
                                    untouched):  # noqa: F811
    out = tmp_path / 'metrics.txt'
    status, err = call('test', [TINY_CONFIG, trained[1], '--out',
                                str(out)], capsys, monkeypatch)
    one_line(status, err, '--out must name', str(out))
    assert not out.exists() and not (tmp_path / 'work_dirs').exists()


@pytest.mark.parametrize('device,needle', [('gpu0', 'is not a device'),
                                           ('cuda:0', 'no CUDA device')])
def test_device_this_machine_lacks(device, needle, trained, capsys,
                                   monkeypatch, untouched):  # noqa: F811
    import torch
    if torch.cuda.is_available() and device.startswith('cuda'):
        pytest.skip('this machine has a GPU')
    status, err = call('demo', [
        TINY_CONFIG, trained[1], '--device', device, '--input', IMAGE
    ], capsys, monkeypatch)
    one_line(status, err, f'--device {device}', needle)


def test_cfg_option_without_value(capsys, monkeypatch):
    status, err = call('train',
                       [TINY_CONFIG, '--cfg-options', 'train_cfg.max_epochs'],
                       capsys, monkeypatch)
    assert status == 2, err[-3000:]  # argparse's usage error
    assert 'Traceback' not in err, err[-3000:]
    assert err.strip().splitlines()[-1].endswith(
        "--cfg-options: 'train_cfg.max_epochs' is not key=value")


@pytest.mark.parametrize('name', ['topdown', 'cascade'])
def test_image_unreadable_when_training_meets_it(name, tmp_path, capsys,
                                                 monkeypatch,
                                                 untouched):  # noqa: F811
    """Images are read as training meets them (checking every COCO image
    first would take minutes): an empty one then stops training with one
    line that names it."""
    root = tmp_path / 'data'
    shutil.copytree(
        DATA_ROOT,
        root,
        ignore=lambda d, names: [n for n in names if n.endswith('.jpg')])
    with open(ANN) as f:
        images = json.load(f)['images']
    for image in images:
        (root / 'train2017' / image['file_name']).write_bytes(b'')
    config = {'topdown': TINY_CONFIG, 'cascade': CASCADE}[name]
    status, err = call('train', [
        config, '--work-dir',
        str(tmp_path / 'w'), '--no-validate', '--cfg-options', *FAST,
        f'train_dataloader.dataset.data_root={root}/'
    ], capsys, monkeypatch)
    # mmpose's LoadImage names the image; run_cli passes its message on
    one_line(status, err, 'cannot read an image', f'{root}/train2017/', '.jpg')


def test_annotation_checks_accept_what_mmpose_reads(tmp_path):
    """What the file checks must let through: an image list without
    annotations (COCO test-dev, for testing), MPII's list of persons, a
    detection of zero width or with more than four numbers (mmpose reads
    the first four), other categories' detections (mmpose skips them);
    and what they refuse: no annotations for training, no person
    detection."""
    from prtr.cli import checks
    with open(ANN) as f:
        ann = json.load(f)
    test_dev = tmp_path / 'image_info.json'
    test_dev.write_text(json.dumps(dict(images=ann['images'])))
    checks.check_annotations(str(test_dev), 'test')
    with pytest.raises(checks.UserInputError, match='no annotations'):
        checks.check_annotations(str(test_dev), 'train')
    mpii = tmp_path / 'mpii.json'
    mpii.write_text(json.dumps([dict(image='a.jpg', joints=[[0, 0]] * 16)]))
    checks.check_annotations(str(mpii), 'train')
    dets = tmp_path / 'dets.json'
    dets.write_text(
        json.dumps([
            dict(image_id=790, category_id=1, bbox=[5, 5, 0, 30], score=0.9),
            dict(image_id=790, category_id=1, bbox=[1, 2, 3, 4, 5], score=1),
            dict(image_id=790, category_id=3, bbox=[5, 5, -1, 0], score=0.9)
        ]))
    checks.check_bbox_file(str(dets))
    dets.write_text(
        json.dumps([dict(image_id=790, category_id=3, bbox=[1, 1, 9, 9])]))
    with pytest.raises(checks.UserInputError, match='no person detection'):
        checks.check_bbox_file(str(dets))
