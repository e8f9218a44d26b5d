"""Bad inputs through the tools a user runs (train, test, demo, the
checkpoint converter), for the top-down and the cascade config: each ends
in exit status 1 and one line naming the file or key at fault, and leaves
every file the user had unchanged.

The tools run in-process (``main(argv)`` inside ``run_cli``, as their
``__main__`` does); two cases run as real processes, where the exit
status of the process is what is tested."""
import copy
import glob
import hashlib
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from _cli import QUICK, Foreign, call, one_line, run
from conftest import DATA_ROOT, PYTHON, ROOT, TINY_CONFIG

CASCADE = osp.join(ROOT, 'configs',
                   'prtr-cascade_res18-tiny_1xb4-300e_coco-mini-192x192.py')
CONFIGS = {'topdown': TINY_CONFIG, 'cascade': CASCADE}
ANN = osp.join(DATA_ROOT, 'annotations', 'person_keypoints_train2017.json')
IMAGE = osp.join(DATA_ROOT, 'train2017', '000000000790.jpg')
FAST = QUICK + [
    'train_dataloader.batch_size=2', 'train_dataloader.dataset.indices=2'
]
# torch's error, after the file's name
NOT_CKPT = 'is not a PyTorch checkpoint or is corrupt ('
TEST_FAST = [
    'test_dataloader.num_workers=0',
    'test_dataloader.persistent_workers=False',
    'test_dataloader.dataset.indices=2'
]


def digest(*roots):
    """sha1 of every file under ``roots``."""
    out = {}
    for root in roots:
        files = [root] if osp.isfile(root) else glob.glob(
            osp.join(root, '**', '*'), recursive=True)
        for path in files:
            if osp.isfile(path):
                with open(path, 'rb') as f:
                    out[path] = hashlib.sha1(f.read()).hexdigest()
    return out


@pytest.fixture
def fakes(tmp_path):
    """A text file, a JPEG and a JSON file renamed .pth, and a checkpoint
    holding a foreign pickled type."""
    paths = {k: tmp_path / f'{k}.pth' for k in ('text', 'jpeg', 'json')}
    paths['text'].write_text('just some notes\n')
    shutil.copy(IMAGE, paths['jpeg'])
    paths['json'].write_text(json.dumps({'state_dict': {}}))
    torch.save(
        dict(state_dict=dict(w=torch.zeros(2)), meta=dict(evil=Foreign())),
        tmp_path / 'foreign.pth')
    paths['foreign'] = tmp_path / 'foreign.pth'
    return {k: str(v) for k, v in paths.items()}


@pytest.fixture
def untouched(trained, tmp_path, fakes):
    """The user's files (bundled data, the trained run, what the test put
    in tmp_path) are byte-identical after the test; no checkpoint is
    written."""
    roots = [DATA_ROOT, trained[0], str(tmp_path)]
    before = digest(*roots)
    # files the test makes for the user before running the tool
    yield lambda *paths: before.update(digest(*map(str, paths)))
    after = digest(*roots)
    assert {p: after.get(p) for p in before} == before
    new = set(after) - set(before)
    assert not [p for p in new if p.endswith('.pth')], new


def library_error(status, err, *needles):
    """Exit status 1; the library's traceback, then its error as the last
    line (mmengine's and mmpose's messages name the class and the key)."""
    assert status == 1, err[-3000:]
    assert 'Traceback' in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert ': error: ' in last, err[-3000:]
    for needle in needles:
        assert needle in last, err[-3000:]


@pytest.mark.parametrize('name', ['topdown', 'cascade'])
@pytest.mark.parametrize(
    'option,needles',
    [
        ('model.hed.num_keypoints=3', ["keyword argument 'hed'"]),
        # CheckpointHook passes unknown keys on to the first save: our hook
        # refuses them when it is built
        ('default_hooks.checkpoint.intervall=1',
         ['AtomicCheckpointHook takes no argument(s) intervall']),
        ('optim_wrapper.optimizer.lrr=0.1', ["keyword argument 'lrr'"]),
    ])
def test_misspelled_cfg_option(name, option, needles, capsys, monkeypatch,
                               untouched, tmp_path):
    """Left to mmengine's builders, which name the class and the key; the
    option is repeated on the last line."""
    status, err = call('train', [
        CONFIGS[name], '--work-dir',
        str(tmp_path / 'w'), '--cfg-options', option
    ], capsys, monkeypatch)
    library_error(status, err, *needles, f'--cfg-options you set: {option}')


@pytest.mark.parametrize('name', ['topdown', 'cascade'])
def test_misspelled_key_in_config_file(name, tmp_path, capsys, monkeypatch,
                                       untouched):
    cfg = tmp_path / 'my_config.py'
    cfg.write_text(f"_base_ = ['{CONFIGS[name]}']\n"
                   'train_cfg = dict(max_epoch=3)\n')
    status, err = call('train', [str(cfg), '--work-dir',
                                 str(tmp_path / 'w')], capsys, monkeypatch)
    library_error(status, err, 'EpochBasedTrainLoop',
                  "keyword argument 'max_epoch'")


@pytest.mark.parametrize('name', ['topdown', 'cascade'])
@pytest.mark.parametrize('kind,needle',
                         [('text', NOT_CKPT), ('jpeg', NOT_CKPT),
                          ('json', NOT_CKPT),
                          ('foreign', 'unsafe globals: _cli.Foreign')])
def test_not_a_checkpoint(name, kind, needle, fakes, capsys, monkeypatch,
                          untouched):
    path = fakes[kind]
    status, err = call('test', [CONFIGS[name], path], capsys, monkeypatch)
    one_line(status, err, path, needle)


@pytest.mark.parametrize('name', ['topdown', 'cascade'])
def test_resume_auto_without_loadable_checkpoint(name, fakes, tmp_path, capsys,
                                                 monkeypatch, untouched):
    work = tmp_path / 'work'
    work.mkdir()
    shutil.copy(fakes['foreign'], work / 'epoch_2.pth')
    shutil.copy(fakes['text'], work / 'epoch_1.pth')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_2.pth'))
    untouched(work)
    status, err = call('train',
                       [CONFIGS[name], '--work-dir',
                        str(work), '--resume'], capsys, monkeypatch)
    one_line(status, err, str(work), 'no loadable checkpoint')


@pytest.mark.parametrize('dets,needles', [
    ([], ['holds no detection']),
    ([dict(image_id=999, category_id=1, bbox=[0, 0, 9, 9], score=1.0)
      ], ['KeyError: 999']),
    ([dict(image_id=790, category_id=1, bbox=[0, 0, 9, 9])
      ], ["score 'missing'"]),
])
def test_bad_bbox_file(dets, needles, trained, tmp_path, capsys, monkeypatch,
                       untouched):
    (tmp_path / 'dets.json').write_text(json.dumps(dets))
    path = str(tmp_path / 'dets.json')
    status, err = call('test', [
        TINY_CONFIG, trained[1], '--cfg-options',
        f'test_dataloader.dataset.bbox_file={path}'
    ], capsys, monkeypatch)
    one_line(status, err, f'bbox_file {path}', *needles)


@pytest.mark.parametrize('name', ['topdown', 'cascade'])
def test_no_usable_person(name, tmp_path, capsys, monkeypatch, untouched):
    with open(ANN) as f:
        ann = json.load(f)
    for a in ann['annotations']:
        a['num_keypoints'], a['keypoints'] = 0, [0] * 51
    root = tmp_path / 'data'
    (root / 'annotations').mkdir(parents=True)
    (root / 'annotations' / osp.basename(ANN)).write_text(json.dumps(ann))
    status, err = call('train', [
        CONFIGS[name], '--work-dir',
        str(tmp_path / 'w'), '--no-validate', '--cfg-options',
        f'train_dataloader.dataset.data_root={root}/'
    ], capsys, monkeypatch)
    one_line(status, err, str(root / 'annotations' / osp.basename(ANN)),
             'no usable person')


@pytest.mark.parametrize('tool', ['train', 'test'])
@pytest.mark.parametrize('name', ['topdown', 'cascade'])
def test_num_keypoints_mismatch(tool, name, trained, tmp_path, capsys,
                                monkeypatch, untouched):
    argv = [CONFIGS[name]] + ([trained[1]] if tool == 'test' else
                              ['--work-dir', str(tmp_path / 'w')])
    status, err = call(tool,
                       argv + ['--cfg-options', 'model.head.num_keypoints=16'],
                       capsys, monkeypatch)
    if tool == 'test':  # the 17-joint checkpoint, refused before any work
        one_line(status, err, trained[1], 'does not fit the model')
    else:  # the model's own check, at the first training step
        library_error(status, err, 'has 17 keypoints per person',
                      'num_keypoints=16', 'model.head.num_keypoints')


def test_demo_skips_unreadable_image(trained, tmp_path, capsys, monkeypatch,
                                     untouched):
    folder = tmp_path / 'images'
    folder.mkdir()
    shutil.copy(IMAGE, folder / 'good.jpg')
    (folder / 'broken.jpg').write_bytes(b'not a jpeg')
    (folder / 'empty.jpg').write_bytes(b'')  # mmcv raises on this one
    out = tmp_path / 'out'
    status, err = call('demo', [
        TINY_CONFIG, trained[1], '--input',
        str(folder), '--out-dir',
        str(out), '--device', 'cpu'
    ], capsys, monkeypatch)
    assert status == 0, err[-3000:]
    for bad in ('broken.jpg', 'empty.jpg'):
        assert f'cannot read image {folder / bad}, skipped' in err
    assert sorted(os.listdir(out)) == ['good.jpg']


def test_demo_detector_checkpoint_not_a_checkpoint(trained, fakes, capsys,
                                                   monkeypatch, untouched):
    import mmpose
    det_cfg = osp.join(
        osp.dirname(mmpose.__file__), '.mim', 'demo', 'mmdetection_cfg',
        'rtmdet_nano_320-8xb32_coco-person.py')
    text = fakes['text']
    status, err = call('demo', [
        TINY_CONFIG, trained[1], '--input', IMAGE, '--det-config', det_cfg,
        '--det-checkpoint', text
    ], capsys, monkeypatch)
    one_line(status, err, f'checkpoint {text}', NOT_CKPT)


@pytest.mark.parametrize('kind,needle', [('jpeg', NOT_CKPT),
                                         ('ours', 'already a checkpoint'),
                                         ('dst_dir', 'output folder')])
def test_converter(kind, needle, trained, fakes, tmp_path, capsys, monkeypatch,
                   untouched):
    src = fakes['jpeg'] if kind == 'jpeg' else trained[1]
    dst = tmp_path / ('missing/out.pth' if kind == 'dst_dir' else 'out.pth')
    status, err = call('convert_prtr_checkpoint', [src, str(dst)], capsys,
                       monkeypatch)
    one_line(status, err, needle)
    assert not dst.exists()


@pytest.mark.parametrize('name', ['topdown', 'cascade'])
def test_nan_image_stops_training(name, tmp_path, capsys, monkeypatch,
                                  untouched):
    cfg = nan_config(CONFIGS[name], tmp_path, 'train')
    status, err = call('train', [
        cfg, '--work-dir',
        str(tmp_path / 'w'), '--no-validate', '--cfg-options', *FAST
    ], capsys, monkeypatch)
    last = one_line(status, err, 'input image', '.jpg', 'NaN or infinite')
    assert 'data/coco_persons_mini/train2017/' in last


def test_nan_image_at_test_time(trained, tmp_path, capsys, monkeypatch,
                                untouched):
    cfg = nan_config(TINY_CONFIG, tmp_path, 'test')
    status, err = call('test', [cfg, trained[1], '--cfg-options', *TEST_FAST],
                       capsys, monkeypatch)
    one_line(status, err, 'input image', '.jpg', 'test batch 1')


def nan_config(base, tmp_path, split):
    """``base`` with a pipeline step that turns the images float with a
    NaN (as a float image file read unchanged would)."""
    from mmcv.transforms import BaseTransform
    from mmengine.config import Config
    from mmpose.registry import TRANSFORMS

    @TRANSFORMS.register_module(name='_NaNImage', force=True)
    class NaNImage(BaseTransform):

        def transform(self, results):
            img = results['img'].astype(np.float32)
            img[0, 0, 0] = np.nan
            results['img'] = img
            return results

    cfg = Config.fromfile(base)
    pipeline = cfg[f'{split}_dataloader'].dataset.pipeline
    pipeline.insert(len(pipeline) - 1, dict(type='_NaNImage'))
    path = str(tmp_path / f'nan_{split}.py')
    cfg.dump(path)
    return path


def test_hook_restores_state_on_nan_loss():
    """A NaN loss stops the step before backward with the BatchNorm
    statistics of before the forward pass; weights are untouched."""
    from types import SimpleNamespace

    from mmengine.model import BaseModel
    from mmengine.optim import OptimWrapper

    from prtr.engine.hooks import NonFiniteCheckHook, NonFiniteError

    class Net(BaseModel):

        def __init__(self):
            super().__init__()
            self.bn = torch.nn.BatchNorm1d(3)

        def forward(self, inputs, data_samples=None, mode='loss'):
            return dict(loss=self.bn(inputs).sum() * float('nan'))

    model = Net()
    hook = NonFiniteCheckHook()
    runner = SimpleNamespace(model=model, epoch=0, iter=0)
    hook.before_train(runner)
    before = copy.deepcopy(model.state_dict())
    batch = dict(inputs=torch.randn(4, 3) + 5)
    hook.before_train_iter(runner, 0, batch)
    optim = torch.optim.SGD(model.parameters(), lr=1)
    with pytest.raises(NonFiniteError, match='non-finite loss loss'):
        model.train_step(batch, OptimWrapper(optim))
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    # a finite batch is left alone; a NaN one is refused before forward
    hook.before_train_iter(runner, 0, dict(inputs=[torch.ones(3)]))
    with pytest.raises(NonFiniteError, match='input image #0'):
        hook.before_train_iter(runner, 0,
                               dict(inputs=[torch.tensor([1., np.inf])]))


def test_library_error_keeps_traceback(tmp_path, capsys, monkeypatch):
    """An error inside the library is no bad input: its traceback stays,
    followed by its message and the options the user set."""
    status, err = call('train', [
        TINY_CONFIG, '--work-dir',
        str(tmp_path), '--cfg-options', 'model.backbone.num_stages=2'
    ], capsys, monkeypatch)
    assert status == 1
    assert 'Traceback' in err and 'resnet.py' in err
    last = err.strip().splitlines()[-1]
    assert ': error: ' in last and 'num_stages=2' in last


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='the error is for a machine without GPU')
def test_amp_without_gpu(tmp_path, capsys, monkeypatch):
    """--amp on a CPU machine: one line naming --amp, not mmengine's
    assertion, and nothing written."""
    work = tmp_path / 'work'
    status, err = call('train',
                       [TINY_CONFIG, '--work-dir',
                        str(work), '--amp'], capsys, monkeypatch)
    one_line(status, err, '--amp', 'CUDA GPU')
    assert not work.exists()


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_real_process_exit_status(tool, tmp_path):
    """As real processes: exit status 1 and one line on stderr."""
    bad = tmp_path / 'notes.pth'
    bad.write_text('not a checkpoint\n')
    args = [CASCADE, '--work-dir', str(tmp_path), '--cfg-options',
            f'train_dataloader.dataset.data_root={tmp_path}/'] \
        if tool == 'train' else [TINY_CONFIG, str(bad)]
    proc = run([PYTHON, f'tools/{tool}.py'] + args)
    assert proc.returncode == 1, proc.stderr[-3000:]
    one_line(
        1, proc.stderr,
        *(['train ann_file not found',
           str(tmp_path)] if tool == 'train' else [str(bad), NOT_CKPT]))
