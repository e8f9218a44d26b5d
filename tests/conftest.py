import os.path as osp
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


@pytest.fixture(autouse=True)
def _mmpose_scope():
    """Every test starts in mmpose's default scope: an in-process
    MMPoseInferencer with an mmdet detector leaves mmengine's global scope
    at 'mmdet', where prtr's modules are not registered."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmpose')
    yield


@pytest.fixture(scope='session')
def trained(tmp_path_factory):
    """One short training run of the small config (tools/train.py, one
    epoch on 32 persons), shared by the tool, demo and mim tests; returns
    ``(work_dir, checkpoint)``."""
    import os

    from _cli import QUICK, run
    work_dir = str(tmp_path_factory.mktemp('train'))
    # seeded: each pytest-xdist worker trains the same checkpoint
    proc = run([
        PYTHON, 'tools/train.py', TINY_CONFIG, '--work-dir', work_dir,
        '--cfg-options', *QUICK, 'randomness.seed=0'
    ])
    assert proc.returncode == 0, proc.stderr[-5000:]
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt), os.listdir(work_dir)
    return work_dir, ckpt
