"""mim with prtr, run as a user runs it: `mim train/test/search prtr` from a
regular (wheel) install, whose prtr/.mim carries tools/, configs/ and
model-index.yml, and `mim test mmpose` through the configs' custom_imports.
"""
import glob
import os
import os.path as osp
import pickle
import re
import subprocess
import zipfile

import numpy as np
import pytest
import yaml
from _cli import QUICK
from conftest import PYTHON, ROOT, TINY_CONFIG

MIM = osp.join(osp.dirname(PYTHON), 'mim')
TINY = osp.basename(TINY_CONFIG)
# inference on 32 of the 139 persons
TEST_QUICK = [
    'test_dataloader.num_workers=0',
    'test_dataloader.persistent_workers=False',
    'test_dataloader.dataset.indices=32'
]
MIM_FILES = [
    'tools/train.py', 'tools/test.py', 'model-index.yml',
    'configs/metafile.yml', f'configs/{TINY}', 'configs/_base_/prtr_coco.py',
    'configs/_base_/prtr_head.py'
]


def run(args, pythonpath=None, timeout=600):
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    if pythonpath:
        env['PYTHONPATH'] = os.pathsep.join(
            [pythonpath] + [p for p in [env.get('PYTHONPATH')] if p])
    proc = subprocess.run(
        args,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-5000:]
    return proc.stdout


@pytest.fixture(scope='session')
def site(tmp_path_factory):
    """prtr built as an sdist, then a wheel, installed into a plain folder.

    The dev environment holds prtr as an editable install, whose dist-info
    lies in site-packages with no prtr/ next to it: mim finds a package at
    <distribution location>/<name> (pkg_resources), so it sees no tools
    there. With the folder first on PYTHONPATH, pkg_resources meets its
    dist-info first (sys.path order) and `import prtr` resolves there too
    (setuptools' editable finder is appended to sys.meta_path, after the
    path finder): a regular install, no second venv needed (a
    --system-site-packages venv would see the base interpreter's packages,
    not .venv's).
    """
    tmp = tmp_path_factory.mktemp('wheel')
    # --egg-base keeps the checkout free of build files
    run([
        PYTHON, 'setup.py', '-q', 'egg_info', '--egg-base',
        str(tmp), 'sdist', '-d',
        str(tmp / 'sdist')
    ])
    sdist, = glob.glob(str(tmp / 'sdist' / 'prtr-*.tar.gz'))
    pip = [PYTHON, '-m', 'pip', '--disable-pip-version-check']
    run(pip + [
        'wheel', '--no-deps', '--no-build-isolation', '--no-index', '-w',
        str(tmp / 'wheel'), sdist
    ])
    wheel, = glob.glob(str(tmp / 'wheel' / 'prtr-*.whl'))
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in MIM_FILES if f'prtr/.mim/{f}' not in names]
    assert not missing, sorted(names)
    assert 'prtr/cli/__init__.py' in names  # what the tools import
    assert not [n for n in names if '__pycache__' in n]
    target = str(tmp / 'site')
    run(pip + ['install', '--no-deps', '--no-index', '--target', target] +
        [wheel])
    for f in MIM_FILES:  # copies, not links to the checkout
        path = osp.join(target, 'prtr', '.mim', f)
        assert osp.isfile(path) and not osp.islink(path), path
    # what mim resolves, from a process with mim's sys.path (no cwd entry)
    out = run([
        PYTHON, '-I', '-c', 'import sys; sys.path.insert(0, sys.argv[1]); '
        'import pkg_resources, prtr; '
        'print(pkg_resources.get_distribution("prtr").location); '
        'print(prtr.__file__)', target
    ])
    assert out.split()[-2:] == [
        target, osp.join(target, 'prtr', '__init__.py')
    ], out
    return target


@pytest.fixture(scope='session')
def mim_trained(site, tmp_path_factory):
    """`mim train prtr` with the config's bare name: mim finds it among the
    installed package's configs and runs the installed tools/train.py."""
    work_dir = str(tmp_path_factory.mktemp('mim_train'))
    out = run([
        MIM, 'train', 'prtr', TINY, '--work-dir', work_dir, '--no-validate',
        '--cfg-options', *QUICK
    ], site)
    mim_dir = osp.join(site, 'prtr', '.mim')
    assert f'will use {osp.join(mim_dir, "configs", TINY)}' in out, out[:3000]
    assert f'{osp.join(mim_dir, "tools", "train.py")} ' in out, out[:3000]
    assert 'Training finished successfully' in out, out[-3000:]
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt), os.listdir(work_dir)
    return ckpt


def coco_metrics(out):
    line = [ln for ln in out.splitlines() if 'Epoch(test)' in ln]
    assert line, out[-3000:]
    metrics = dict(re.findall(r'(coco/A[PR][^:]*): ([\d.]+)', line[-1]))
    assert 'coco/AP' in metrics and 0 <= float(metrics['coco/AP']) <= 1, out
    return metrics


def load_keypoints(dump):
    with open(dump, 'rb') as f:
        samples = pickle.load(f)
    assert len(samples) == 32  # TEST_QUICK's persons
    return np.concatenate(
        [np.asarray(s['pred_instances']['keypoints']) for s in samples])


@pytest.mark.slow
def test_mim_test_prtr_and_mmpose_agree(site, mim_trained, tmp_path):
    """`mim test prtr` (installed tools/test.py) and `mim test mmpose`
    (mmpose's, prtr loaded by custom_imports) evaluate the checkpoint the
    same way: same metrics, same predictions (a model left at its random
    init would differ between the two runs)."""
    ckpt = mim_trained
    outs, kpts = [], []
    for pkg, path, script in [
        ('prtr', site, osp.join(site, 'prtr', '.mim', 'tools', 'test.py')),
        ('mmpose', None, osp.join('mmpose', '.mim', 'tools', 'test.py')),
    ]:
        dump = str(tmp_path / f'{pkg}.pkl')
        out = run([
            MIM, 'test', pkg, TINY_CONFIG, '--checkpoint', ckpt, '--work-dir',
            str(tmp_path / pkg), '--dump', dump, '--cfg-options', *TEST_QUICK
        ], path)
        command = [ln for ln in out.splitlines() if 'Testing command' in ln]
        assert command and script in command[0], out[:3000]
        assert f'Load checkpoint from {ckpt}' in out, out[-3000:]
        outs.append(coco_metrics(out))
        kpts.append(load_keypoints(dump))
    assert outs[0] == outs[1]
    np.testing.assert_allclose(kpts[0], kpts[1], rtol=1e-5, atol=1e-3)


def test_mim_search_lists_the_model_index(site):
    with open(osp.join(ROOT, 'configs', 'metafile.yml')) as f:
        models = yaml.safe_load(f)['Models']
    names = [m['Name'] for m in models]
    assert len(names) >= 18, names
    out = run([MIM, 'search', 'prtr', '--valid-config'], site)
    listed = re.findall(r"'([^']+)'", out.split('valid config ids:')[-1])
    assert sorted(listed) == sorted(names), out
    out = run([
        MIM, 'search', 'prtr', '--config', 'prtr_hrnet-w32_4xb16-200e_coco-'
        '384x288', '--field', 'coco/ap', 'weight', 'note'
    ], site)
    assert re.search(r'coco/ap\s+0\.731\b', out), out
    assert 'prtr_hrnet-w32_4xb16-200e_coco-384x288.pth' in out, out
    assert 'official implementation' in out, out


def test_metafile_entries_match_the_configs():
    """Each index entry names an existing config after its file name and,
    where it has results, the official release it converts and where the
    converted weights go."""
    import modelindex

    index = modelindex.load(osp.join(ROOT, 'model-index.yml'))
    assert len(index.models) >= 18
    for model in index.models:
        assert model.in_collection == 'PRTR'
        assert osp.isfile(osp.join(ROOT, model.config)), model.config
        assert osp.basename(model.config) == model.name + '.py'
        data = model.metadata.data
        datasets = data['Training Data']
        for dataset in [datasets] if isinstance(datasets, str) else datasets:
            assert dataset in ('COCO', 'MPII', 'CrowdPose', 'AI Challenger')
        for result in model.results or []:
            assert result.task == 'Body 2D Keypoint'
            for value in result.metrics.values():
                assert 0.6 < value < 1, (model.name, result.metrics)
        if model.results:
            assert model.weights == f'checkpoints/{model.name}.pth'
            size = model.name.rsplit('-', 1)[1]
            assert data['Converted From'].endswith(f'_{size}.pth')
        else:
            assert model.weights is None, model.name


def test_editable_build_links_mim_files(tmp_path):
    """`pip install -e .` (PEP 660 build_editable) links prtr/.mim to the
    checkout instead of copying, and git ignores the links."""
    run([
        PYTHON, '-c', 'import sys; from setuptools import build_meta; '
        'build_meta.__legacy__.build_editable(sys.argv[1])',
        str(tmp_path)
    ])
    mim_dir = osp.join(ROOT, 'projects', 'prtr', '.mim')
    for name in ('tools', 'configs', 'model-index.yml'):
        link = osp.join(mim_dir, name)
        assert osp.islink(link), link
        assert osp.samefile(link, osp.join(ROOT, name)), link
    status = subprocess.run(['git', 'status', '--porcelain', mim_dir],
                            cwd=ROOT,
                            capture_output=True,
                            text=True)
    assert status.returncode == 0 and status.stdout == '', status.stdout
