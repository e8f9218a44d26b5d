# Copyright (c) prtr authors. All rights reserved.
"""Configs of the benchmarked models: which pairs, their labels, and the
changes a benchmark makes to a config (no pretrained weights, another input
size, flip test forced on or off)."""
import os.path as osp
from typing import Any, Optional, Sequence, Tuple

from mmengine.config import Config

from ..utils.input_size import config_dicts, set_input_size

DEFAULT_PAIRS = [
    ('configs/prtr_res50_4xb32-200e_coco-384x288.py',
     'configs/baselines/td-hm_res50_8xb64-210e_coco-384x288.py'),
    ('configs/prtr_hrnet-w32_4xb16-200e_coco-384x288.py',
     'configs/baselines/td-hm_hrnet-w32_8xb64-210e_coco-384x288.py'),
]
LABELS = {
    'prtr_res50_4xb32-200e_coco-384x288': 'PRTR R-50',
    'td-hm_res50_8xb64-210e_coco-384x288': 'SimpleBaseline R-50',
    'prtr_hrnet-w32_4xb16-200e_coco-384x288': 'PRTR HRNet-W32',
    'td-hm_hrnet-w32_8xb64-210e_coco-384x288': 'HRNet-W32 heatmap',
    'prtr_res18-tiny_1xb8-150e_coco-mini-128x96': 'PRTR R-18 tiny',
}
# the pair the issue sets a training-step goal for, and the goal
GOAL_PAIR = DEFAULT_PAIRS[0]
GOAL = 0.7


def label_of(config: str) -> str:
    """A short name of the model of a config (its file stem if unknown)."""
    stem = osp.splitext(osp.basename(config))[0]
    return LABELS.get(stem, stem)


def strip_init_cfg(node: Any) -> None:
    """Remove every ``init_cfg`` in place: random weights time the same and
    need no download."""
    for d in config_dicts(node):
        d.pop('init_cfg', None)


def load_config(path: str,
                root: str = '.',
                cfg_options: Optional[dict] = None,
                input_size: Optional[Sequence[int]] = None,
                flip_test: str = 'config',
                **unused) -> Config:
    """Load a config as the benchmark runs it.

    Args:
        path (str): config file, absolute or relative to ``root``.
        root (str): directory of relative config paths.
        cfg_options (dict, optional): settings merged into the config.
        input_size (Sequence[int], optional): (w, h) of every input size.
        flip_test (str): ``'config'`` (as configured), ``'on'`` or ``'off'``.
        **unused: other settings of a benchmark job, ignored.

    Returns:
        Config: the config.
    """
    cfg = Config.fromfile(path if osp.isabs(path) else osp.join(root, path))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if input_size:
        set_input_size(cfg._cfg_dict, tuple(input_size))
    if flip_test != 'config':
        cfg.model.setdefault('test_cfg', {})['flip_test'] = flip_test == 'on'
    return cfg


def input_size_of(cfg: Config) -> Tuple[int, int]:
    """The (w, h) input size of a config: a top-down config's crop (its
    codec's), a bottom-up one's canvas (its test pipeline's resize)."""
    if cfg.get('codec') and 'input_size' in cfg.codec:
        return tuple(cfg.codec.input_size)
    decoder = cfg.model.get('head', {}).get('decoder', {})
    if 'input_size' in decoder:
        return tuple(decoder['input_size'])
    for t in cfg.test_dataloader.dataset.pipeline:
        if 'input_size' in t:
            return tuple(t['input_size'])
    raise ValueError('no input size in the config (codec, head decoder or '
                     'test pipeline)')


def num_keypoints_of(cfg: Config) -> int:
    """The number of keypoints the config's head predicts."""
    head = cfg.model.head
    return head.get('num_keypoints', head.get('out_channels'))


def build_model(cfg: Config, device: str = 'cpu'):
    """The config's model with random weights (no ``init_cfg``), on
    ``device``."""
    from mmpose.registry import MODELS
    model_cfg = cfg.model.to_dict()
    strip_init_cfg(model_cfg)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model.to(device)
