import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = osp.join(ROOT, 'configs',
                       'prtr_res18-tiny_1xb8-150e_coco-mini-128x96.py')
DATA_ROOT = osp.join(ROOT, 'data', 'coco_persons_mini')
PYTHON = sys.executable


@pytest.fixture(autouse=True, scope='session')
def _register():
    from mmpose.utils import register_all_modules

    import prtr  # noqa: F401
    register_all_modules(init_default_scope=True)
