# Copyright (c) prtr authors. All rights reserved.
"""tools/make_wheelhouse.sh and tools/install.sh --offline on a tiny local
index of stand-in packages (no network, about half a minute).

The scripts run from a copy of the repository's tools/ under a fake root
whose requirement files name the stand-ins: a "torch" 1.0.0 (the pin) and
2.0.0 (the node's) that needs a "nvidia-fake", torchvisions built for each,
an mmcv sdist, an xtcocotools that has only an sdist (its setup.py
imports numpy undeclared), and mmengine, mmdet,
mmpose, openmim wheels. pip's configuration is ignored and every index
disabled; a proxy that refuses connections catches any network access.
"""
import os
import os.path as osp
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BASE_PYTHON = getattr(sys, '_base_executable', sys.executable)


def make_wheel(index, name, version, requires=(), modules=None):
    """A pure-Python wheel with ``modules`` ({import path: source})."""
    modules = modules or {name: ''}
    dist = f'{name.replace("-", "_")}-{version}'
    path = osp.join(index, f'{dist}-py3-none-any.whl')
    meta = ['Metadata-Version: 2.1', f'Name: {name}', f'Version: {version}']
    meta += [f'Requires-Dist: {r}' for r in requires]
    files = {
        f'{m.replace(".", "/")}/__init__.py': src
        for m, src in modules.items()
    }
    files[f'{dist}.dist-info/METADATA'] = '\n'.join(meta) + '\n'
    files[f'{dist}.dist-info/WHEEL'] = (
        'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n'
        'Tag: py3-none-any\n')
    record = f'{dist}.dist-info/RECORD'
    files[record] = ''.join(f'{f},,\n' for f in [*files, record])
    with zipfile.ZipFile(path, 'w') as z:
        for f, text in files.items():
            z.writestr(f, text)


def make_sdist(index, name, version, modules, setup_head=''):
    """A setup.py sdist; ``setup_head`` runs first (undeclared imports)."""
    dist = f'{name}-{version}'
    src = osp.join(index, 'src', dist)
    for m, text in modules.items():
        os.makedirs(osp.join(src, *m.split('.')), exist_ok=True)
        with open(osp.join(src, *m.split('.'), '__init__.py'), 'w') as f:
            f.write(text)
    with open(osp.join(src, 'setup.py'), 'w') as f:
        f.write(f'{setup_head}\nfrom setuptools import setup\n'
                f'setup(name={name!r}, version={version!r}, '
                f'packages={sorted(modules)!r})\n')
    with open(osp.join(src, 'PKG-INFO'), 'w') as f:
        f.write(f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n')
    with tarfile.open(osp.join(index, f'{dist}.tar.gz'), 'w:gz') as t:
        t.add(src, arcname=dist)
    shutil.rmtree(osp.join(index, 'src'))


def pack_installed_wheel(index, module):
    """A wheel of an installed pure-Python distribution (``wheel pack``)."""
    import importlib.metadata as md
    dist = md.distribution(module)
    site = str(dist.locate_file(''))
    unpacked = osp.join(index, 'unpacked', f'{module}-{dist.version}')
    shutil.copytree(osp.join(site, module), osp.join(unpacked, module))
    info = f'{module}-{dist.version}.dist-info'
    shutil.copytree(osp.join(site, info), osp.join(unpacked, info))
    subprocess.run(
        [sys.executable, '-m', 'wheel', 'pack', unpacked, '-d', index],
        check=True,
        capture_output=True)
    shutil.rmtree(osp.join(index, 'unpacked'))


@pytest.fixture
def fake_root(tmp_path):
    """A checkout whose requirements name the stand-ins, and their index."""
    root, index = tmp_path / 'repo', tmp_path / 'index'
    os.makedirs(root / 'tools')
    os.makedirs(root / 'requirements')
    os.makedirs(index)
    for script in ('install.sh', 'make_wheelhouse.sh'):
        shutil.copy(osp.join(ROOT, 'tools', script), root / 'tools')
    reqs = {
        'constraints.txt': 'torch==1.0.0\ntorchvision==0.1.0\nmmcv==2.1.0\n',
        'build.txt': 'setuptools\nwheel\ntorch\ntorchvision\nnumpy\n',
        'runtime.txt': 'mmengine\nxtcocotools\n',
        'tests.txt': '',
    }
    for name, text in reqs.items():
        (root / 'requirements' / name).write_text(text)
    (root / 'setup.py').write_text(
        'from setuptools import setup\nsetup(name="prtr", version="0.1", '
        'py_modules=[])\n')
    bundled = osp.join(osp.dirname(os.__file__), 'ensurepip', '_bundled')
    setuptools = [f for f in os.listdir(bundled) if f.startswith('setuptools')]
    if not setuptools:  # Python >= 3.12 bundles pip only
        pytest.skip('this Python bundles no setuptools wheel to build with')
    shutil.copy(osp.join(bundled, setuptools[0]), index)
    pack_installed_wheel(str(index), 'wheel')
    for v in ('1.0.0', '2.0.0'):
        make_wheel(index, 'torch', v, ['nvidia-fake'])
    make_wheel(index, 'nvidia-fake', '1.0', modules={'nvidia_fake': ''})
    make_wheel(index, 'torchvision', '0.1.0', ['torch==1.0.0', 'numpy'])
    make_wheel(index, 'torchvision', '0.2.0', ['torch==2.0.0', 'numpy'])
    make_wheel(index, 'numpy', '1.0')
    make_wheel(index, 'cython', '3.0', modules={'Cython': ''})
    make_wheel(index, 'mmengine', '0.10.7', ['numpy'])
    for name in ('mmdet', 'mmpose'):  # installed --no-deps: not resolved
        make_wheel(index, name, '9.0', ['chumpy'])
    make_wheel(index, 'openmim', '0.3.9', modules={'mim': ''})
    make_sdist(
        index,
        'xtcocotools',
        '1.14.3', {'xtcocotools': ''},
        setup_head='import numpy')
    make_sdist(
        index, 'mmcv', '2.1.0', {
            'mmcv':
            '__version__ = "2.1.0"\n',
            'mmcv.ops':
            'def get_compiling_cuda_version():\n'
            '    return "not available"\n'
        })
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(('PIP_', 'PRTR_', 'VIRTUAL_ENV'))
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX='1',
        PIP_FIND_LINKS=str(index),
        PIP_NO_CACHE_DIR='1',
        https_proxy='http://127.0.0.1:9',
        http_proxy='http://127.0.0.1:9',
        FORCE_CUDA='0',
        PATH=f'{osp.dirname(BASE_PYTHON)}:{env["PATH"]}')
    return root, index, env


def run(cmd, env, **kw):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, **kw)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


@pytest.mark.slow
def test_wheelhouse_then_offline_install_keeps_the_nodes_torch(fake_root):
    root, index, env = fake_root
    house = root.parent / 'house'
    run([
        'bash',
        str(root / 'tools' / 'make_wheelhouse.sh'),
        str(house), '--python', BASE_PYTHON, '--torch', '2.0.0'
    ], env)
    files = sorted(os.listdir(house))
    # Built for the node's torch, without torch and what only torch needs.
    assert 'torchvision-0.2.0-py3-none-any.whl' in files, files
    assert not [f for f in files if f.startswith(('torch-', 'nvidia'))]
    assert 'mmcv-2.1.0.tar.gz' in files  # compiled on the node
    assert [
        f for f in files
        if f.startswith('xtcocotools-1.14.3-') and f.endswith('.whl')
    ], files  # built here, numpy undeclared
    for name in ('numpy-1.0', 'mmengine-0.10.7', 'mmdet-9.0', 'mmpose-9.0',
                 'openmim-0.3.9', 'setuptools-', 'wheel-'):
        assert [f for f in files if f.startswith(name)], (name, files)

    # The node: a venv holding only its torch; nothing may be downloaded.
    venv = root.parent / 'node'
    run([BASE_PYTHON, '-m', 'venv', str(venv)], env)
    node_env = dict(env, PIP_FIND_LINKS=str(index))
    run([
        str(venv / 'bin' / 'python'), '-m', 'pip', 'install', '-q',
        'torch==2.0.0'
    ], node_env)
    env_off = {k: v for k, v in env.items() if k != 'PIP_FIND_LINKS'}
    env_off.pop('PIP_NO_INDEX')  # install.sh itself must go offline
    out = run(
        ['bash',
         str(root / 'tools' / 'install.sh'), '--offline',
         str(house)], dict(env_off, PRTR_VENV=str(venv)))
    assert 'Downloading' not in out, out
    assert "keeping the environment's torch 2.0.0" in out
    py = str(venv / 'bin' / 'python')
    listed = run([py, '-m', 'pip', 'list', '--format=freeze'], env)
    for pin in ('torch==2.0.0', 'torchvision==0.2.0', 'mmcv==2.1.0',
                'xtcocotools==1.14.3', 'mmpose==9.0', 'prtr==0.1'):
        assert pin in listed.split(), (pin, listed)
    assert (venv / '.prtr-stack').exists()
    assert (venv / '.prtr-kept-torch').read_text().strip() == '2.0.0'
    # A second run sees a complete environment.
    again = run(
        ['bash',
         str(root / 'tools' / 'install.sh'), '--offline',
         str(house)], dict(env_off, PRTR_VENV=str(venv)))
    assert 'pinned stack already installed' in again
    assert "keeping the environment's torch 2.0.0" in again


@pytest.mark.parametrize('args, message', [
    (['--offline'], '--offline needs the wheelhouse folder'),
    (['--offline', '/nonexistent/wheels'], "no folder '/nonexistent/wheels'"),
    (['--offline', '.'], 'holds no mmcv sdist'),
    (['--bogus'], "unknown argument '--bogus'"),
])
def test_install_refuses_bad_arguments(args, message, tmp_path):
    proc = subprocess.run(
        ['bash', osp.join(ROOT, 'tools', 'install.sh')] + args,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=dict(os.environ, PRTR_VENV=str(tmp_path / 'v')))
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert not (tmp_path / 'v').exists()  # refused before any work
