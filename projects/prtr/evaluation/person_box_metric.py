# Copyright (c) prtr authors. All rights reserved.
"""Person-box AP of a whole-image pose model, by mmdet's COCO metric."""
import copy
from typing import Optional, Sequence

import numpy as np
import torch
from mmdet.evaluation import CocoMetric
from mmpose.registry import METRICS


@METRICS.register_module()
class PersonBoxCocoMetric(CocoMetric):
    """mmdet's ``CocoMetric`` (bbox) on the persons of mmpose predictions.

    mmpose data samples carry ``pred_instances.bboxes`` (xyxy, original
    image pixels) and ``bbox_scores`` as numpy arrays and mmpose's dataset
    meta has no ``classes``; this adapter gives mmdet's metric the tensors
    ``bboxes``, ``scores``, ``labels`` it reads and the single class
    ``person``. Keys are reported as ``person/bbox_mAP`` etc.

    Args:
        **kwargs: mmdet ``CocoMetric`` arguments (``ann_file`` at least).
    """
    default_prefix: Optional[str] = 'person'

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault('metric', 'bbox')
        super().__init__(**kwargs)

    @property
    def dataset_meta(self) -> Optional[dict]:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: Optional[dict]) -> None:
        meta = copy.deepcopy(dict(dataset_meta or {}))
        meta['classes'] = ('person', )
        self._dataset_meta = meta

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        samples = []
        for sample in data_samples:
            pred = sample['pred_instances']
            bboxes = np.asarray(pred['bboxes'], dtype=np.float32)
            scores = np.asarray(pred['bbox_scores'], dtype=np.float32)
            samples.append(
                dict(
                    img_id=sample['img_id'],
                    ori_shape=sample['ori_shape'],
                    pred_instances=dict(
                        bboxes=torch.from_numpy(bboxes.reshape(-1, 4)),
                        scores=torch.from_numpy(scores.reshape(-1)),
                        labels=torch.zeros(len(scores), dtype=torch.long))))
        super().process(data_batch, samples)
