# Copyright (c) prtr authors. All rights reserved.
"""Training targets of the end-to-end cascade, made in the data pipeline."""
from typing import Optional, Tuple

import numpy as np
from mmpose.codecs.base import BaseKeypointCodec
from mmpose.registry import KEYPOINT_CODECS


@KEYPOINT_CODECS.register_module()
class CascadeLabel(BaseKeypointCodec):
    """Person boxes and canvas-normalised joints of a whole image.

    Used through mmpose's ``GenerateTarget`` after the image is warped onto
    its canvas (and :class:`FilterPersons`); ``PackPoseInputs`` then puts the
    targets into ``gt_instance_labels`` as tensors, ready for the model:

    - ``bboxes`` ``[n, 4]``: pixel ``xyxy`` boxes on the canvas (what mmdet's
      DETR heads take, with ``labels``);
    - ``labels`` ``[n]``: 0, the person class;
    - ``keypoint_labels`` ``[n, K, 2]``: joints / canvas ``(w, h)``;
    - ``keypoint_weights`` ``[n, K]``: 1 for a labelled joint on the canvas.

    Args:
        input_size (tuple[int], optional): the canvas ``(w, h)``; by default
            the sample's ``input_size`` (set by mmpose's bottom-up
            transforms).
    """

    auxiliary_encode_keys = {'bbox', 'input_size'}
    label_mapping_table = dict(
        bbox_labels='bboxes',
        person_labels='labels',
        keypoint_labels='keypoint_labels',
        keypoint_weights='keypoint_weights')

    def __init__(self, input_size: Optional[Tuple[int, int]] = None) -> None:
        super().__init__()
        self.input_size = input_size

    def encode(self,
               keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None,
               bbox: Optional[np.ndarray] = None,
               input_size: Optional[Tuple[int, int]] = None) -> dict:
        """Targets of ``n`` persons from keypoints ``[n, K, 2]``, visibility
        ``[n, K]`` and boxes ``[n, 4]`` (pixel ``xyxy``)."""
        size = input_size if input_size is not None else self.input_size
        if size is None:
            raise ValueError('CascadeLabel needs the canvas size: set '
                             'input_size or run it after a bottom-up '
                             'transform that sets input_size')
        size = np.asarray(size, dtype=np.float32)  # (w, h)
        num, num_keypoints = keypoints.shape[:2]
        if keypoints_visible is None:
            keypoints_visible = np.ones((num, num_keypoints), np.float32)
        inside = ((keypoints >= 0) & (keypoints <= size)).all(-1)
        weights = (keypoints_visible.reshape(num, num_keypoints) > 0) & inside
        if bbox is None:
            bbox = np.zeros((num, 4), np.float32)
        return dict(
            bbox_labels=np.asarray(bbox, np.float32).reshape(-1, 4),
            person_labels=np.zeros(num, np.int64),
            keypoint_labels=(keypoints / size).astype(np.float32),
            keypoint_weights=weights.astype(np.float32))

    def decode(self, encoded: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Canvas pixels of normalised ``[n, K, 2]`` joints (all scores 1).
        """
        if self.input_size is None:
            raise ValueError('CascadeLabel.decode needs input_size')
        keypoints = encoded[..., :2] * np.asarray(self.input_size)
        return keypoints, np.ones(keypoints.shape[:-1], np.float32)
