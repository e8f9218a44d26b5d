# Copyright (c) prtr authors. All rights reserved.
"""Person targets of the cascade's detector: no crowd regions, no empty
boxes."""
from typing import Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS

# per-instance entries a bottom-up COCO sample carries (arrays or lists)
INSTANCE_KEYS = ('bbox', 'bbox_score', 'bbox_scale', 'category_id',
                 'keypoints', 'keypoints_visible', 'area', 'id', 'iscrowd',
                 'num_keypoints', 'segmentation', 'raw_ann_info')


@TRANSFORMS.register_module()
class FilterPersons(BaseTransform):
    """Keep the instances that are person targets of a detector.

    Boxes are clipped to the canvas (``input_size``, when the sample has
    one); crowd regions (``iscrowd``) and boxes narrower or lower than
    ``min_gt_bbox_wh`` pixels are dropped from every per-instance entry
    (:data:`INSTANCE_KEYS`). Persons without labelled joints stay: they are
    persons all the same. mmpose's ``FilterAnnotations`` is not used because
    it keeps crowd regions, filters only some of the per-instance entries
    (``iscrowd`` and ``id`` would no longer line up with the boxes) and
    drops boxes of exactly ``min_gt_bbox_wh``.

    Args:
        min_gt_bbox_wh (tuple[float]): smallest kept box width and height.
        drop_crowd (bool): drop crowd regions.
    """

    def __init__(self,
                 min_gt_bbox_wh: Tuple[float, float] = (1., 1.),
                 drop_crowd: bool = True) -> None:
        self.min_gt_bbox_wh = tuple(min_gt_bbox_wh)
        self.drop_crowd = drop_crowd

    def transform(self, results: dict) -> Optional[dict]:
        bbox = np.asarray(results['bbox'], dtype=np.float32).reshape(-1, 4)
        if results.get('input_size') is not None:
            w, h = results['input_size']
            bbox[:, 0::2] = bbox[:, 0::2].clip(0, w)
            bbox[:, 1::2] = bbox[:, 1::2].clip(0, h)
        results['bbox'] = bbox
        min_w, min_h = self.min_gt_bbox_wh
        keep = ((bbox[:, 2] - bbox[:, 0]) >= min_w) & (
            (bbox[:, 3] - bbox[:, 1]) >= min_h)
        crowd = results.get('iscrowd')
        if self.drop_crowd and crowd is not None and len(crowd) == len(keep):
            keep &= np.asarray(crowd) == 0
        for key in INSTANCE_KEYS:
            value = results.get(key)
            if value is not None and len(value) == len(keep):
                results[key] = _take(value, keep)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_gt_bbox_wh='
                f'{self.min_gt_bbox_wh}, drop_crowd={self.drop_crowd})')


def _take(value: Sequence, keep: np.ndarray) -> Sequence:
    if isinstance(value, np.ndarray):
        return value[keep]
    return [v for v, k in zip(value, keep) if k]
