"""The project's checks accept what mmpose runs: mmpose's own shipped
top-down configs (COCO, AIC, CrowdPose, MPII, COCO-WholeBody, and the
multi-dataset body8 and body8-Halpe26 configs: CombinedDataset +
KeypointConverter), each with its head replaced by a PRTRHead of the K its
samples carry and its files pointed at the bundled sample, pass the checks
tools/train.py and tools/test.py run before any work; a missing file in
any of their datasets is still named."""
import os.path as osp

import pytest
from conftest import DATA_ROOT
from mmengine.config import Config

from prtr.cli import UserInputError, check_data_files, check_pretrained

ANN = osp.join(DATA_ROOT, 'annotations', 'person_keypoints_train2017.json')
CONFIGS = {
    'body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py':  # noqa: E501
    17,
    'body_2d_keypoint/topdown_heatmap/aic/td-hm_res101_8xb64-210e_aic-256x192.py':  # noqa: E501
    14,
    'body_2d_keypoint/topdown_heatmap/crowdpose/td-hm_res50_8xb64-210e_crowdpose-256x192.py':  # noqa: E501
    14,
    'body_2d_keypoint/topdown_heatmap/mpii/td-hm_res50_8xb64-210e_mpii-256x256.py':  # noqa: E501
    16,
    'wholebody_2d_keypoint/topdown_heatmap/coco-wholebody/td-hm_res50_8xb64-210e_coco-wholebody-256x192.py':  # noqa: E501
    133,
    'body_2d_keypoint/rtmpose/body8/rtmpose-m_8xb256-420e_body8-256x192.py':
    17,
    'body_2d_keypoint/rtmpose/body8/rtmpose-m_8xb512-700e_body8-halpe26-256x192.py':  # noqa: E501
    26,
}


def mmpose_config(name):
    import mmpose
    return osp.join(
        osp.dirname(mmpose.__file__), '.mim', 'configs', *name.split('/'))


def with_prtr_head(name, num_keypoints):
    """mmpose's config with a PRTR head (and codec) of ``num_keypoints``,
    as a user adapts it."""
    cfg = Config.fromfile(mmpose_config(name))
    cfg.custom_imports = dict(imports=['prtr'])
    w, h = cfg.codec['input_size']
    cfg.model.head = dict(
        type='PRTRHead',
        in_channels=2048,
        num_keypoints=num_keypoints,
        decoder=dict(type='PRTRLabel', input_size=(w, h)))
    return cfg


def datasets(cfg):
    """The dataset configs of every split, wrappers' parts included."""
    for split in ('train', 'val', 'test'):
        stack = [cfg[f'{split}_dataloader'].dataset]
        while stack:
            ds = stack.pop()
            stack += ds.get('datasets') or []
            yield ds


@pytest.mark.parametrize('name,num_keypoints', CONFIGS.items())
def test_mmpose_configs_pass_the_checks(name, num_keypoints):
    cfg = with_prtr_head(name, num_keypoints)
    leaves = [ds for ds in datasets(cfg) if 'ann_file' in ds]
    assert leaves
    for ds in leaves:  # the bundled sample in place of the real data
        ds.update(data_root=DATA_ROOT, ann_file=ANN, bbox_file=None)
    for split in ('val', 'test'):
        evaluator = cfg[f'{split}_evaluator']
        for ev in evaluator if isinstance(evaluator, list) else [evaluator]:
            if ev.get('ann_file'):
                ev.ann_file = ANN
    check_data_files(cfg)
    check_pretrained(cfg)
    # the checks still see every dataset: a missing file is named
    leaves[-1].ann_file = 'missing.json'
    with pytest.raises(
            UserInputError, match='ann_file not found: .*missing.json'):
        check_data_files(cfg)
