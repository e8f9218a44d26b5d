"""tools/train.py, tools/test.py, tools/dist_train.sh and checkpoint
loading, run as a user runs them on the bundled COCO sample."""
import glob
import os
import os.path as osp
import shutil

import pytest
import torch
from _cli import QUICK, Foreign, call, free_port, one_line, run
from conftest import DATA_ROOT, PYTHON, ROOT, TINY_CONFIG


def test_checkpoint_is_mmengine_not_plain_tensors(trained):
    """The checkpoint holds numpy/HistoryBuffer objects: weights_only
    loading works only thanks to prtr's safe globals."""
    import pickle

    import prtr
    _, ckpt = trained
    registered = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(ckpt)
        with pytest.raises(pickle.UnpicklingError):
            torch.load(ckpt, weights_only=True)
    finally:
        torch.serialization.add_safe_globals(registered)
    assert unsafe, 'expected non-tensor globals in an mmengine checkpoint'
    allowed = {
        g[1] if isinstance(g, tuple) else f'{g.__module__}.{g.__qualname__}'
        for g in prtr.checkpoint.mmengine_checkpoint_globals()
    }
    assert set(unsafe) <= allowed, set(unsafe) - allowed
    torch.load(ckpt, weights_only=True)  # does not raise


def test_getattr_is_limited_to_history_buffer():
    """The allowed `builtins.getattr` cannot fetch anything else."""
    import pickle

    from mmengine.logging import HistoryBuffer

    import prtr  # noqa: F401

    class GetattrInit:

        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))

    import io
    buf = io.BytesIO()
    torch.save({'x': GetattrInit()}, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buf, weights_only=True)


@pytest.mark.slow
def test_resume(trained, tmp_path):
    work_dir, ckpt = trained
    proc = run([
        PYTHON, 'tools/train.py', TINY_CONFIG, '--work-dir',
        str(tmp_path), '--resume', ckpt, '--no-validate', '--cfg-options',
        *QUICK, 'train_cfg.max_epochs=2'
    ])
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert 'resumed epoch: 1' in proc.stdout + proc.stderr
    assert osp.isfile(osp.join(tmp_path, 'epoch_2.pth'))


def test_init_model_and_inference(trained):
    from mmpose.apis import inference_topdown, init_model
    _, ckpt = trained
    model = init_model(TINY_CONFIG, ckpt, device='cpu')
    img = sorted(glob.glob(osp.join(DATA_ROOT, 'train2017', '*.jpg')))[0]
    results = inference_topdown(model, img, bboxes=[[10, 10, 200, 300]])
    assert results[0].pred_instances.keypoints.shape == (1, 17, 2)
    # the weights are the trained ones, not a fresh init
    state = torch.load(ckpt, weights_only=True)['state_dict']
    assert torch.equal(model.head.query_embed.weight,
                       state['head.query_embed.weight'])


@pytest.mark.slow
def test_test_tool_reports_coco_ap(trained, tmp_path):
    _, ckpt = trained
    out = tmp_path / 'metrics.json'
    proc = run([
        PYTHON, 'tools/test.py', TINY_CONFIG, ckpt, '--work-dir',
        str(tmp_path), '--out',
        str(out), '--cfg-options', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ])
    assert proc.returncode == 0, proc.stderr[-5000:]
    import json
    metrics = json.loads(out.read_text())
    assert 0 <= metrics['coco/AP'] <= 1


def test_foreign_pickle_is_refused(trained, tmp_path, capsys, monkeypatch):
    _, ckpt = trained
    state = torch.load(ckpt, weights_only=True)
    state['meta']['evil'] = Foreign()
    bad = tmp_path / 'foreign.pth'
    torch.save(state, bad)
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(bad)  # torch's default, with prtr imported
    one_line(*call('test', [TINY_CONFIG, str(bad)], capsys, monkeypatch),
             str(bad), 'refused')


def test_corrupt_checkpoint(trained, tmp_path, capsys, monkeypatch):
    _, ckpt = trained
    bad = tmp_path / 'truncated.pth'
    bad.write_bytes(open(ckpt, 'rb').read()[:5000])
    one_line(*call('test', [TINY_CONFIG, str(bad)], capsys, monkeypatch),
             str(bad), 'corrupt')


def test_missing_config(capsys, monkeypatch):
    one_line(
        *call('train', ['configs/no_such_config.py'], capsys, monkeypatch),
        'configs/no_such_config.py', 'not found')


def test_missing_annotations(tmp_path, capsys, monkeypatch):
    one_line(
        *call('train', [
            TINY_CONFIG, '--work-dir',
            str(tmp_path / 'w'), '--cfg-options',
            f'train_dataloader.dataset.data_root={tmp_path}/'
        ], capsys, monkeypatch), 'person_keypoints_train2017.json',
        'not found')


def test_malformed_annotations(tmp_path, capsys, monkeypatch):
    root = tmp_path / 'data'
    (root / 'annotations').mkdir(parents=True)
    (root / 'annotations' /
     'person_keypoints_train2017.json').write_text('{"images": [')
    one_line(
        *call('train', [
            TINY_CONFIG, '--work-dir',
            str(tmp_path / 'w'), '--no-validate', '--cfg-options',
            f'train_dataloader.dataset.data_root={root}/'
        ], capsys, monkeypatch), 'person_keypoints_train2017.json')


def test_unreadable_image(tmp_path, capsys, monkeypatch):
    root = tmp_path / 'data'
    shutil.copytree(DATA_ROOT, root)
    for jpg in glob.glob(str(root / 'train2017' / '*.jpg')):
        os.chmod(jpg, 0o644)
        with open(jpg, 'wb') as f:
            f.write(b'not a jpeg')
    one_line(
        *call('train', [
            TINY_CONFIG, '--work-dir',
            str(tmp_path / 'w'), '--no-validate', '--cfg-options',
            f'train_dataloader.dataset.data_root={root}/', *QUICK
        ], capsys, monkeypatch), '.jpg')


RANK_HOOK = '''
import os.path as osp
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RankWeightsHook(Hook):
    def __init__(self, out_dir):
        self.out_dir = out_dir

    def _dump(self, runner, tag):
        model = runner.model.module if hasattr(runner.model, 'module') \\
            else runner.model
        torch.save(model.state_dict(),
                   osp.join(self.out_dir, f'{tag}_rank{get_rank()}.pth'))

    def before_train(self, runner):
        self._dump(runner, 'start')

    def after_train(self, runner):
        self._dump(runner, 'end')
'''


@pytest.mark.slow
def test_dist_train_two_cpu_processes(tmp_path):
    (tmp_path / 'rank_weights_hook.py').write_text(RANK_HOOK)
    cfg = tmp_path / 'dist_cfg.py'
    cfg.write_text(f'''_base_ = ['{TINY_CONFIG}']
custom_imports = dict(
    imports=['prtr', 'rank_weights_hook'], allow_failed_imports=False)
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='RankWeightsHook', out_dir='{tmp_path}')
]
''')
    proc = run([
        'bash', 'tools/dist_train.sh',
        str(cfg), '2', '--work-dir',
        str(tmp_path / 'w'), '--no-validate', '--cfg-options', *QUICK
    ],
               env=dict(
                   PYTHON=PYTHON,
                   PORT=str(free_port()),
                   PYTHONPATH=f'{tmp_path}:' +
                   os.environ.get('PYTHONPATH', '')))
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-5000:])
    start = torch.load(tmp_path / 'start_rank0.pth')
    end = [torch.load(tmp_path / f'end_rank{r}.pth') for r in (0, 1)]
    assert set(end[0]) == set(end[1])
    for key in end[0]:
        assert torch.equal(end[0][key], end[1][key]), key
    # and training really changed them
    changed = [k for k in start if not torch.equal(start[k], end[0][k])]
    assert len(changed) > len(start) // 2
    assert osp.isfile(tmp_path / 'w' / 'epoch_1.pth')


@pytest.mark.slow
def test_mmpose_topdown_demo_with_mmdet_detector(trained, tmp_path):
    """mmpose's own demo/topdown_demo_with_mmdet.py with an mmdet detector
    config and a PRTR config (the detector has random weights: no weights
    can be downloaded here, so the boxes are arbitrary)."""
    import mmpose
    from mmdet.apis import init_detector
    _, ckpt = trained
    mim = osp.join(osp.dirname(mmpose.__file__), '.mim')
    det_cfg = osp.join(mim, 'demo', 'mmdetection_cfg',
                       'rtmdet_nano_320-8xb32_coco-person.py')
    detector = init_detector(det_cfg, None, device='cpu')
    det_ckpt = tmp_path / 'rtmdet_random.pth'
    torch.save({'state_dict': detector.state_dict()}, det_ckpt)
    img = sorted(glob.glob(osp.join(DATA_ROOT, 'train2017', '*.jpg')))[0]
    proc = run([
        PYTHON,
        osp.join(mim, 'demo', 'topdown_demo_with_mmdet.py'), det_cfg,
        str(det_ckpt), TINY_CONFIG, ckpt, '--input', img, '--output-root',
        str(tmp_path / 'out'), '--bbox-thr', '0', '--device', 'cpu',
        '--save-predictions'
    ])
    assert proc.returncode == 0, proc.stderr[-5000:]
    out_img = tmp_path / 'out' / osp.basename(img)
    assert out_img.is_file()
    import json
    preds = json.loads(
        (tmp_path / 'out' /
         f'results_{osp.splitext(osp.basename(img))[0]}.json').read_text())
    assert preds['instance_info'], 'no person was drawn'
    assert len(preds['instance_info'][0]['keypoints']) == 17


def test_missing_pretrained_weights(tmp_path, capsys, monkeypatch):
    one_line(
        *call('train', [
            'configs/prtr_hrnet_w32.py', '--work-dir',
            str(tmp_path), '--cfg-options',
            f'train_dataloader.dataset.data_root={DATA_ROOT}/',
            'train_dataloader.dataset.ann_file='
            'annotations/person_keypoints_train2017.json', '--no-validate'
        ], capsys, monkeypatch), 'checkpoints/hrnetv2_w32_imagenet_prtr.pth',
        'not found')


@pytest.mark.parametrize('script,fourth,want', [
    ('slurm_train.sh', 'work_dirs/x',
     ['train.py', 'CFG.py', '--work-dir=work_dirs/x']),
    ('slurm_test.sh', 'ckpt.pth', ['test.py', 'CFG.py', 'ckpt.pth']),
])
def test_slurm_scripts_call_srun(tmp_path, script, fourth, want):
    """tools/slurm_{train,test}.sh with ``srun`` stubbed (no cluster here):
    the partition, job name, GPUs and the tool's command line reach it."""
    import subprocess
    stub = tmp_path / 'srun'
    stub.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$SRUN_LOG"\n')
    stub.chmod(0o755)
    env = dict(
        os.environ,
        PATH=f'{tmp_path}:{os.environ["PATH"]}',
        SRUN_LOG=str(tmp_path / 'args'),
        GPUS='16',
        SRUN_ARGS='--quotatype=auto --time=1:00:00')
    proc = subprocess.run([
        'bash',
        osp.join(ROOT, 'tools', script), 'gpu_part', 'prtr_job', 'CFG.py',
        fourth, '--cfg-options', 'a=1'
    ],
                          env=env,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    args = (tmp_path / 'args').read_text().splitlines()
    assert args[:2] == ['-p', 'gpu_part']
    for arg in ('--job-name=prtr_job', '--ntasks=16', '--gres=gpu:8',
                '--ntasks-per-node=8', '--quotatype=auto', '--time=1:00:00'):
        assert arg in args, args
    tool = next(i for i, a in enumerate(args) if a.endswith(want[0]))
    assert args[tool +
                1:] == want[1:] + ['--launcher=slurm', '--cfg-options', 'a=1']
