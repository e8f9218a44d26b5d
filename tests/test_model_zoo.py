"""The model zoo by name (prtr.model_zoo): every metafile entry resolves by
its name and alias to its config, mmpose's MMPoseInferencer runs a resolved
model, tools/demo.py takes a zoo name, and an unknown name is one line with
suggestions."""
import glob
import os
import os.path as osp

import pytest
import torch
import yaml
from _cli import run
from conftest import DATA_ROOT, PYTHON, ROOT

IMAGE = sorted(glob.glob(osp.join(DATA_ROOT, 'train2017', '*.jpg')))[0]
R50 = 'prtr-r50-coco-384'


def entries():
    with open(osp.join(ROOT, 'configs', 'metafile.yml')) as f:
        return yaml.safe_load(f)['Models']


def test_every_entry_resolves_by_name_and_alias():
    from prtr.model_zoo import resolve_model
    aliases = [m['Alias'] for m in entries()]
    assert len(set(aliases)) == len(aliases)
    for model in entries():
        for key in (model['Name'], model['Alias'], model['Alias'].upper()):
            config, weights = resolve_model(key)
            assert osp.samefile(config, osp.join(ROOT, model['Config']))
            assert weights == model.get('Weights')


def test_zoo_lists_every_full_size_config():
    """Every config but the small CPU ones of the sample (coco-mini) has
    an entry, with COCO's AP, AP50, AP75 and AR where it has results."""
    listed = {osp.basename(m['Config']) for m in entries()}
    configs = {
        osp.basename(p)
        for p in glob.glob(osp.join(ROOT, 'configs', 'prtr*.py'))
        if 'coco-mini' not in p and not p.endswith('prtr_hrnet_w32.py')
    }
    assert configs == listed
    for model in entries():
        for result in model.get('Results', []):
            if result['Dataset'].startswith('COCO'):
                assert set(
                    result['Metrics']) == {'AP', 'AP@0.5', 'AP@0.75', 'AR'}


def test_unknown_name_suggests_close_ones():
    from prtr.model_zoo import resolve_model
    from prtr.utils import UserInputError
    with pytest.raises(UserInputError, match='did you mean prtr-hrnet-w32'):
        resolve_model('prtr-hrnet-coco-384')


@pytest.fixture(scope='session')
def r50_weights(tmp_path_factory):
    """A randomly initialised PRTR R-50, saved where the zoo's weights go
    (``checkpoints/NAME.pth`` under a working directory of its own)."""
    from mmengine.config import Config
    from mmpose.apis import init_model

    from prtr.model_zoo import resolve_model
    config, weights = resolve_model(R50)
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = init_model(cfg, None, device='cpu')
    cwd = tmp_path_factory.mktemp('zoo')
    os.makedirs(cwd / osp.dirname(weights))
    torch.save({'state_dict': model.state_dict()}, cwd / weights)
    return cwd, weights


def test_mmposeinferencer_runs_a_zoo_model(r50_weights, monkeypatch):
    from mmpose.apis import MMPoseInferencer

    from prtr.model_zoo import resolve_model
    cwd, _ = r50_weights
    monkeypatch.chdir(cwd)
    config, weights = resolve_model(R50)
    inferencer = MMPoseInferencer(
        pose2d=config,
        pose2d_weights=weights,
        det_model='whole_image',
        device='cpu')
    result = next(inferencer(IMAGE))
    person, = result['predictions'][0]  # no detector: the whole image
    assert len(person['keypoints']) == 17


@pytest.mark.slow
def test_demo_takes_a_zoo_name(r50_weights, tmp_path):
    cwd, weights = r50_weights
    proc = run([
        PYTHON,
        osp.join(ROOT, 'tools', 'demo.py'), R50, '--input', IMAGE, '--out-dir',
        str(tmp_path), '--device', 'cpu'
    ],
               cwd=str(cwd))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '1 person(s) in 1 frame(s)' in proc.stdout
    assert os.listdir(tmp_path)
    proc = run([
        PYTHON, 'tools/demo.py', 'prtr-cascade-r50-coco-640', '--input', IMAGE
    ])
    assert proc.returncode == 1
    assert 'has no released weights: give CHECKPOINT' in proc.stderr
    # from a folder without the converted weights: the file is named
    proc = run(
        [PYTHON,
         osp.join(ROOT, 'tools', 'demo.py'), R50, '--input', IMAGE],
        cwd=str(tmp_path))
    assert proc.returncode == 1
    assert f'checkpoint not found: {weights}' in proc.stderr, proc.stderr
