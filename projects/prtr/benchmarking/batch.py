# Copyright (c) prtr authors. All rights reserved.
"""Synthetic batches of a config's input size, packed as the runner hands
them to ``train_step`` and ``test_step``."""
from typing import List

import numpy as np
from mmengine.config import Config

from .config import input_size_of, num_keypoints_of


def flip_indices_of(cfg: Config, num_keypoints: int) -> List[int]:
    """The flip indices of the config's test dataset (identity, as costly,
    when the config has none that fit)."""
    try:
        from mmpose.datasets.datasets.utils import parse_pose_metainfo
        from mmpose.registry import DATASETS
        dataset = DATASETS.get(cfg.test_dataloader.dataset.type)
        meta = parse_pose_metainfo(dataset.METAINFO)
        if len(meta['flip_indices']) == num_keypoints:
            return list(meta['flip_indices'])
    except Exception:  # no test dataset in the config
        pass
    return list(range(num_keypoints))


def make_batch(cfg: Config,
               batch_size: int,
               with_targets: bool,
               seed: int = 0) -> dict:
    """Random crops of the config's input size, one person each with random
    keypoints, packed by mmpose's ``PackPoseInputs`` (after
    ``GenerateTarget`` with the config's codec when ``with_targets``).

    Args:
        cfg (Config): a top-down config.
        batch_size (int): number of crops.
        with_targets (bool): make training targets.
        seed (int): seed of the random crops and keypoints.

    Returns:
        dict: ``inputs`` (list of ``[3, H, W]`` uint8 tensors) and
        ``data_samples`` (list of ``PoseDataSample``), as mmengine's
        ``pseudo_collate`` makes them.
    """
    from mmpose.registry import TRANSFORMS
    w, h = input_size_of(cfg)
    k = num_keypoints_of(cfg)
    transforms = [TRANSFORMS.build(dict(type='PackPoseInputs'))]
    if with_targets:
        transforms.insert(
            0,
            TRANSFORMS.build(dict(type='GenerateTarget', encoder=cfg.codec)))
    flip_indices = flip_indices_of(cfg, k)
    rng = np.random.default_rng(seed)
    inputs, samples = [], []
    for _ in range(batch_size):
        kpts = rng.uniform((0.1 * w, 0.1 * h), (0.9 * w, 0.9 * h),
                           (1, k, 2)).astype(np.float32)
        results = dict(
            img=rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
            img_shape=(h, w),
            ori_shape=(h, w),
            input_size=(w, h),
            input_center=np.array([w / 2, h / 2], dtype=np.float32),
            input_scale=np.array([w, h], dtype=np.float32),
            bbox=np.array([[0, 0, w, h]], dtype=np.float32),
            bbox_score=np.ones(1, dtype=np.float32),
            keypoints=kpts,
            transformed_keypoints=kpts.copy(),
            keypoints_visible=np.ones((1, k), dtype=np.float32),
            flip_indices=flip_indices)
        for t in transforms:
            results = t(results)
        inputs.append(results['inputs'])
        samples.append(results['data_samples'])
    return dict(inputs=inputs, data_samples=samples)
