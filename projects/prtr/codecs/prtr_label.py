# Copyright (c) prtr authors. All rights reserved.
"""Regression targets of PRTR's keypoint queries."""
from typing import Optional, Tuple

import numpy as np
from mmpose.codecs import RegressionLabel
from mmpose.registry import KEYPOINT_CODECS
from torch import Tensor


@KEYPOINT_CODECS.register_module()
class PRTRLabel(RegressionLabel):
    """Coordinates normalised by the crop size, as PRTR trains on them.

    Encoding: ``keypoint_labels = keypoints / [w, h]``, never clipped.
    With ``zero_out_of_crop=False`` (PRTR's behaviour, the default) the
    target weight is the visibility alone, so a labelled joint that the
    augmentation moved outside the crop is still supervised, and an
    unlabelled joint has the target ``(0, 0)`` (upstream never transforms
    unlabelled joints, and its matcher still matches them). With
    ``zero_out_of_crop=True`` it behaves exactly like mmpose's
    :class:`RegressionLabel` (weight 0 outside ``[0, w-1] x [0, h-1]``).

    Decoding takes ``[N, K, 3]`` arrays of normalised ``(x, y, score)`` (the
    head's matched queries) or ``[N, K, 2]`` coordinates; ``batch_decode``
    takes a whole batch ``[B, N, K, 3]`` at once (one host copy, no loop
    over images).

    Args:
        input_size (tuple): crop size ``(w, h)``.
        zero_out_of_crop (bool): zero the weight of joints outside the crop.
    """

    def __init__(self,
                 input_size: Tuple[int, int],
                 zero_out_of_crop: bool = False) -> None:
        super().__init__(input_size=input_size)
        self.zero_out_of_crop = zero_out_of_crop

    def encode(self,
               keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None) -> dict:
        if self.zero_out_of_crop:
            return super().encode(keypoints, keypoints_visible)
        if keypoints_visible is None:
            keypoints_visible = np.ones(keypoints.shape[:2], dtype=np.float32)
        w, h = self.input_size
        visible = keypoints_visible > 0.5
        labels = keypoints / np.array([w, h]) * visible[..., None]
        return dict(
            keypoint_labels=labels.astype(np.float32),
            keypoint_weights=visible.astype(np.float32))

    def decode(self, encoded: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        if encoded.shape[-1] == 3:
            keypoints, _ = super().decode(encoded[..., :2])
            return keypoints, encoded[..., 2].astype(np.float32)
        return super().decode(encoded)

    def batch_decode(self, encoded: Tensor) -> Tuple[np.ndarray, np.ndarray]:
        """Decode a batch: ``[B, N, K, 3]`` normalised ``(x, y, score)`` ->
        keypoints ``[B, N, K, 2]`` (input pixels) and scores ``[B, N, K]``."""
        encoded = encoded.detach().float().cpu().numpy()
        keypoints = encoded[..., :2] * np.array(self.input_size)
        return keypoints, encoded[..., 2].astype(np.float32)
