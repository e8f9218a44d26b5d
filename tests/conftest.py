import os
import os.path as osp
import shutil
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = osp.join(ROOT, 'configs',
                       'prtr_res18-tiny_1xb8-150e_coco-mini-128x96.py')
DATA_ROOT = osp.join(ROOT, 'data', 'coco_persons_mini')
PYTHON = sys.executable


def _longest_first(item) -> tuple:
    slow = item.get_closest_marker('slow') is not None
    learning = item.module.__name__ == 'test_real_data'
    return not slow, not learning


def pytest_collection_modifyitems(config, items):
    """Tests marked ``benchmark`` (long learning runs with recorded
    figures) run only when ``-m`` names them. The longest go first (the
    real-data learning checks, then the other ``slow`` ones), so that
    pytest-xdist's workers (``--dist load --maxschedchunk 1``: one test at
    a time) share the long runs rather than one of them ending the suite
    alone."""
    items.sort(key=_longest_first)
    if 'benchmark' in (config.getoption('markexpr') or ''):
        return
    kept = [i for i in items if i.get_closest_marker('benchmark') is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(
            items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture(autouse=True, scope='session')
def _register():
    from mmpose.utils import register_all_modules

    import prtr  # noqa: F401
    register_all_modules(init_default_scope=True)
    if os.environ.get('PYTEST_XDIST_WORKER'):
        # the other workers use the other cores: one thread each, in every
        # test (a test that sets its own count keeps it for later ones)
        import torch
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _mmpose_scope():
    """Every test starts in mmpose's default scope: an in-process
    MMPoseInferencer with an mmdet detector leaves mmengine's global scope
    at 'mmdet', where prtr's modules are not registered."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')
    yield


def built_once(tmp_path_factory, name, build):
    """``build(folder)`` run once for the whole session, also when
    pytest-xdist runs it in several workers (they share the session's
    temporary folder; a lock lets one build while the others wait). Returns
    the folder."""
    from filelock import FileLock
    base = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):
        base = base.parent  # the session's folder, above the workers'
    folder = base / name
    with FileLock(str(base / f'{name}.lock')):
        if not (folder / '.built').exists():
            shutil.rmtree(folder, ignore_errors=True)  # after a failed one
            folder.mkdir()
            build(str(folder))
            (folder / '.built').touch()
    return str(folder)


def quick_checkpoint(tmp_path_factory, name, config):
    """``config`` trained for one seeded epoch on 32 persons by
    tools/train.py, once per session (``built_once``); returns
    ``(work_dir, checkpoint)``."""
    from _cli import QUICK, run

    def train(work_dir):
        proc = run([
            PYTHON, 'tools/train.py', config, '--work-dir', work_dir,
            '--cfg-options', *QUICK, 'randomness.seed=0'
        ])
        assert proc.returncode == 0, proc.stderr[-5000:]

    work_dir = built_once(tmp_path_factory, name, train)
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt), os.listdir(work_dir)
    return work_dir, ckpt


@pytest.fixture(scope='session')
def trained(tmp_path_factory):
    """The small config's quick checkpoint, shared by the tool, demo and
    mim tests; returns ``(work_dir, checkpoint)``."""
    return quick_checkpoint(tmp_path_factory, 'train', TINY_CONFIG)
