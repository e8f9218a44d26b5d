# Copyright (c) prtr authors. All rights reserved.
"""What every keypoint query of a PRTR model predicts for one person box."""
from typing import NamedTuple, Optional, Tuple

import numpy as np
import torch

from prtr.utils import UserInputError


class QueryOutputs(NamedTuple):
    """A PRTR model's queries for one person.

    Attributes:
        crop (np.ndarray): the person crop the model saw, RGB uint8.
        cls_scores (Tensor): class logits of every decoder layer
            ``[L, N, K+1]``.
        kpt_preds (Tensor): normalised points ``[L, N, 2]``.
        gt (tuple, optional): ground-truth joints in crop pixels ``[K, 2]``
            and their visibility ``[K]`` (bool).
    """
    crop: np.ndarray
    cls_scores: torch.Tensor
    kpt_preds: torch.Tensor
    gt: Optional[Tuple[np.ndarray, np.ndarray]]


def run_model(model: torch.nn.Module,
              img_path: str,
              bbox: np.ndarray,
              keypoints: Optional[np.ndarray] = None) -> QueryOutputs:
    """Crop the person with the config's test pipeline and run the model's
    backbone, neck and head.

    Args:
        model: a PRTR top-down model (``mmpose.apis.init_model``).
        img_path (str): the image.
        bbox (np.ndarray): person box (x1, y1, x2, y2) in pixels.
        keypoints (np.ndarray, optional): ground truth ``[K, 3]``.

    Raises:
        UserInputError: the head's forward does not give PRTR's outputs.
    """
    from mmengine.dataset import Compose, pseudo_collate

    # the test pipeline up to its packing step (which drops the transformed
    # ground truth), then the packing step
    transforms = model.cfg.test_dataloader.dataset.pipeline
    crop_person, pack = Compose(transforms[:-1]), Compose(transforms[-1:])
    info = dict(
        img_path=img_path,
        bbox=bbox[None].astype(np.float32),
        bbox_score=np.ones(1, np.float32))
    if keypoints is not None:
        info.update(
            keypoints=keypoints[None, :, :2],
            keypoints_visible=np.minimum(keypoints[None, :, 2], 1))
    info.update(model.dataset_meta)
    results = crop_person(info)
    gt = None
    if keypoints is not None and 'transformed_keypoints' in results:
        gt = (results['transformed_keypoints'][0],
              results['keypoints_visible'][0] > 0)
    data = pack(results)
    batch = model.data_preprocessor(pseudo_collate([data]), False)
    with torch.no_grad():
        out = model.head.forward(model.extract_feat(batch['inputs']))
    if not (isinstance(out, tuple) and len(out) == 2 and out[0].dim() == 4
            and out[1].shape[-1] == 2):
        raise UserInputError(
            f'{type(model.head).__name__} is not a PRTR head: its forward '
            'does not give (class logits [L, B, N, K+1], points [L, B, N, 2])')
    crop = data['inputs'].permute(1, 2, 0).numpy()[..., ::-1]  # BGR -> RGB
    return QueryOutputs(
        np.ascontiguousarray(crop), out[0][:, 0].cpu(), out[1][:, 0].cpu(), gt)


def query_points(head: torch.nn.Module, kpt_preds: torch.Tensor,
                 crop_size: Tuple[int, int]) -> np.ndarray:
    """Every query's point in crop pixels ``[N, 2]``: the head's codec
    decodes ``kpt_preds`` ``[N, 2]`` (normalised) where it has one, else
    they are scaled by ``crop_size`` (w, h)."""
    decoder = getattr(head, 'decoder', None)
    if decoder is not None:
        return decoder.decode(kpt_preds.numpy()[None])[0][0]
    return kpt_preds.numpy() * np.array(crop_size)
