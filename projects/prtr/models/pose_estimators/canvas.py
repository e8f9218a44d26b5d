# Copyright (c) prtr authors. All rights reserved.
"""The canvas of bottom-up inputs: the image's size inside a padded batch
and its mirror within it (used by :class:`PRTRCascade`)."""
from typing import Tuple

from torch import Tensor


def input_shape(meta: dict) -> Tuple[int, int]:
    """``(h, w)`` of the image inside the model input.

    mmpose's bottom-up transforms record the canvas they warp or resize the
    image to as ``input_size`` ``(w, h)``; ``BottomupRandomAffine`` leaves
    ``img_shape`` at the original image's size, so ``img_shape`` is only the
    fallback.
    """
    if meta.get('input_size') is not None:
        w, h = meta['input_size']
        return int(h), int(w)
    return tuple(meta['img_shape'][:2])


def flip_canvas(inputs: Tensor, pad_scale: Tensor) -> Tensor:
    """Mirror every image of ``[B, C, H, W]`` inputs within its canvas, the
    top-left ``pad_scale`` ``[B, 2]`` (w, h) part of the batch tensor."""
    if bool((pad_scale == 1).all()):
        return inputs.flip(-1)
    out = inputs.clone()
    for b, (scale_w, scale_h) in enumerate(pad_scale.tolist()):
        w = round(scale_w * inputs.size(-1))
        h = round(scale_h * inputs.size(-2))
        out[b, :, :h, :w] = inputs[b, :, :h, :w].flip(-1)
    return out
