# Copyright (c) prtr authors. All rights reserved.
"""The cascade's spatial-transformer crop: a fixed sampling grid over each
person box, read from backbone features with ``F.grid_sample``.

Boxes are ``(cx, cy, w, h)`` normalised by the image size (DETR's box
format). A box covers ``expand`` (1.25) times its size; the crop-relative
point ``u`` in ``[0, 1]`` maps to the image as
``x = cx + (u * expand - expand / 2) * w`` (upstream's
``(x * 1.25 - 0.625) * w + cx``), likewise ``y``.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmpose.registry import MODELS
from torch import Tensor, nn


def crop_to_image(coords: Tensor,
                  boxes: Tensor,
                  expand: float = 1.25,
                  clamp: bool = True) -> Tensor:
    """Map crop-relative points to image-normalised points.

    Args:
        coords (Tensor): ``[..., P, N, 2]`` points in ``[0, 1]`` of the crop.
        boxes (Tensor): ``[P, 4]`` boxes ``(cx, cy, w, h)``.
        expand (float): how much of the box the crop covers.
        clamp (bool): clamp the result to the image, ``[0, 1]``.

    Returns:
        Tensor: ``[..., P, N, 2]`` points normalised by the image size.
    """
    center = boxes[:, None, :2]  # [P, 1, 2]
    size = boxes[:, None, 2:]
    out = center + (coords * expand - expand / 2) * size
    return out.clamp(0, 1) if clamp else out


def image_to_crop(points: Tensor,
                  boxes: Tensor,
                  expand: float = 1.25) -> Tensor:
    """Inverse of :func:`crop_to_image` (without clamping)."""
    center = boxes[:, None, :2]
    size = boxes[:, None, 2:].clamp(min=1e-6)
    return ((points - center) / size + expand / 2) / expand


@MODELS.register_module()
class SpatialTransformerCrop(nn.Module):
    """Differentiable crop of backbone features over person boxes.

    For each box a fixed ``x_res x y_res`` grid of cell centres covering
    ``expand`` times the box is sampled bilinearly (``F.grid_sample``, border
    padding) from each chosen feature level; the levels are concatenated on
    channels. The output depends on the box through the grid, so gradients
    reach the person detector unless ``detach_boxes`` stops them.

    Args:
        out_size (tuple[int]): ``(x_res, y_res)``. Defaults to (10, 10) as
            upstream's notebook.
        expand (float): crop size relative to the box. Defaults to 1.25.
        in_levels (Sequence[int]): indices of the backbone outputs to sample.
        detach_boxes (bool): stop the gradient from the crop to the boxes.
    """

    def __init__(self,
                 out_size: Tuple[int, int] = (10, 10),
                 expand: float = 1.25,
                 in_levels: Sequence[int] = (-1, ),
                 detach_boxes: bool = False) -> None:
        super().__init__()
        self.out_size = tuple(out_size)
        self.expand = expand
        self.in_levels = tuple(in_levels)
        self.detach_boxes = detach_boxes

    def grid(self, boxes: Tensor, scale: Optional[Tensor] = None) -> Tensor:
        """``grid_sample`` grid ``[P, y_res, x_res, 2]`` of the boxes.

        Args:
            boxes (Tensor): ``[P, 4]`` image-normalised ``(cx, cy, w, h)``.
            scale (Tensor, optional): ``[P, 2]`` image size / padded batch
                size, when the image fills only part of the batch tensor.
        """
        x_res, y_res = self.out_size
        u = (torch.arange(x_res, device=boxes.device) + 0.5) / x_res
        v = (torch.arange(y_res, device=boxes.device) + 0.5) / y_res
        vv, uu = torch.meshgrid(v, u, indexing='ij')
        cells = torch.stack([uu, vv], -1).reshape(1, -1, 2).to(boxes.dtype)
        points = crop_to_image(
            cells.expand(boxes.size(0), -1, -1),
            boxes,
            self.expand,
            clamp=False)  # [P, y_res*x_res, 2]
        if scale is not None:
            points = points * scale[:, None]
        # align_corners=False: -1 / 1 are the outer edges of the map
        return (points * 2 - 1).reshape(-1, y_res, x_res, 2)

    def forward(self,
                feats: Sequence[Tensor],
                boxes: Tensor,
                batch_inds: Tensor,
                scale: Optional[Tensor] = None) -> Tensor:
        """Crop every box from its image's feature maps.

        Args:
            feats (Sequence[Tensor]): backbone outputs ``[B, C_l, H_l, W_l]``.
            boxes (Tensor): ``[P, 4]`` image-normalised ``(cx, cy, w, h)``.
            batch_inds (Tensor): ``[P]`` image index of each box.
            scale (Tensor, optional): see :meth:`grid`.

        Returns:
            Tensor: ``[P, sum(C_l), y_res, x_res]``.
        """
        if self.detach_boxes:
            boxes = boxes.detach()
        grid = self.grid(boxes, scale)  # [P, y_res, x_res, 2]
        x_res, y_res = self.out_size
        # one host transfer for all levels: the images that have boxes
        images = [(b, (batch_inds == b).nonzero(as_tuple=True)[0])
                  for b in batch_inds.unique().tolist()]
        levels = []
        for level in self.in_levels:
            feat = feats[level]
            out = feat.new_zeros((boxes.size(0), feat.size(1), y_res, x_res))
            # one grid_sample per image: its P_b grids stacked on rows,
            # [1, P_b*y_res, x_res, 2] -> [1, C, P_b*y_res, x_res]
            for b, sel in images:
                g = grid[sel].reshape(1, -1, x_res, 2).to(feat.dtype)
                sampled = F.grid_sample(
                    feat[b:b + 1],
                    g,
                    mode='bilinear',
                    padding_mode='border',
                    align_corners=False)
                out[sel] = sampled.reshape(
                    feat.size(1), len(sel), y_res, x_res).transpose(0, 1)
            levels.append(out)
        return torch.cat(levels, dim=1)

    def forward_grouped(self,
                        feats: Sequence[Tensor],
                        boxes: Tensor,
                        scale: Optional[Tensor] = None) -> Tensor:
        """:meth:`forward` for the same number P of boxes in every image
        (inference's top persons): one ``grid_sample`` per level for the
        whole batch, no host round trip, and traceable for any batch size
        (ONNX export). The values are :meth:`forward`'s.

        Args:
            feats (Sequence[Tensor]): backbone outputs ``[B, C_l, H_l, W_l]``.
            boxes (Tensor): ``[B, P, 4]`` image-normalised ``(cx, cy, w, h)``.
            scale (Tensor, optional): ``[B, 2]``, see :meth:`grid`.

        Returns:
            Tensor: ``[B*P, sum(C_l), y_res, x_res]``, image by image.
        """
        bs, num = boxes.shape[:2]
        x_res, y_res = self.out_size
        if scale is not None:
            scale = scale.repeat_interleave(num, 0)
        # [B*P, y_res, x_res, 2] -> [B, P*y_res, x_res, 2]
        grid = self.grid(boxes.flatten(0, 1),
                         scale).reshape(bs, num * y_res, x_res, 2)
        levels = []
        for level in self.in_levels:
            feat = feats[level]
            sampled = F.grid_sample(
                feat,
                grid.to(feat.dtype),
                mode='bilinear',
                padding_mode='border',
                align_corners=False)  # [B, C, P*y_res, x_res]
            # [B, C, P, y_res, x_res] -> [B*P, C, y_res, x_res]
            levels.append(
                sampled.reshape(bs, feat.size(1), num, y_res,
                                x_res).transpose(1, 2).flatten(0, 1))
        return torch.cat(levels, dim=1)
