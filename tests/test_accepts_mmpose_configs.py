"""The project's config checks accept what mmpose runs: mmpose's own shipped
top-down configs (COCO, AIC, CrowdPose, MPII, COCO-WholeBody, and the
multi-dataset body8 and body8-Halpe26 configs: CombinedDataset +
KeypointConverter), each with its head replaced by a PRTRHead of the K its
samples carry, pass check_config_keys and check_num_keypoints; a PRTRHead
of another K is still refused, naming the key."""
import os.path as osp

import pytest
from mmengine.config import Config

from prtr.utils import UserInputError, check_config_keys, check_num_keypoints

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


@pytest.mark.parametrize('name,num_keypoints', CONFIGS.items())
def test_mmpose_configs_pass_the_checks(name, num_keypoints):
    cfg = with_prtr_head(name, num_keypoints)
    check_config_keys(cfg, name)
    check_num_keypoints(cfg)
    # the check still tells a wrong head from the right one, on the
    # training data (the CombinedDataset of body8) too
    cfg.model.head.num_keypoints = num_keypoints + 1
    with pytest.raises(UserInputError, match='model.head.num_keypoints'):
        check_num_keypoints(cfg, ('train', ))


def test_combined_part_without_its_converter_is_refused():
    """body8 with the KeypointConverter of its AIC part forgotten: the part
    gives 14 joints to a 17-joint CombinedDataset, named in one line."""
    name = 'body_2d_keypoint/rtmpose/body8/rtmpose-m_8xb256-420e_body8-256x192.py'  # noqa: E501
    cfg = with_prtr_head(name, 17)
    parts = cfg.train_dataloader.dataset.datasets
    aic, = [p for p in parts if p.type == 'AicDataset']
    aic.pipeline = []
    with pytest.raises(UserInputError, match=r'part \(AicDataset.*gives 14'):
        check_num_keypoints(cfg, ('train', ))
