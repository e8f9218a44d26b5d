# Copyright (c) prtr authors. All rights reserved.
"""End-to-end PRTR: person DETR -> spatial-transformer crop -> keypoints."""
from typing import List, Tuple

import numpy as np
import torch
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh
from mmengine.structures import InstanceData
from mmpose.models.pose_estimators import BottomupPoseEstimator
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType, SampleList
from torch import Tensor, nn

from ..heads.prtr_head import hungarian_decode
from ..layers.spatial_transformer_crop import (SpatialTransformerCrop,
                                               crop_to_image)


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


@MODELS.register_module()
class PRTRCascade(BottomupPoseEstimator):
    """PRTR's end-to-end cascade, trained as one network.

    "Pose Recognition with Cascade Transformers", Li et al., CVPR 2021,
    Sec. 3.2 (upstream released only an illustrative notebook). One backbone
    feeds both stages:

    1. ``person_head`` (:class:`DETRPersonHead`): DETR person queries on the
       last backbone level -> person logits and normalised boxes;
    2. ``crop`` (:class:`SpatialTransformerCrop`): a fixed grid over 125 %
       of each person box, sampled from ``crop.in_levels`` of the backbone;
    3. ``head`` (:class:`CascadeKeypointHead`): PRTR's keypoint
       transformer on each crop; its box-relative coordinates are mapped to
       the image (``x = (x * 1.25 - 0.625) * w + cx``, clamped to [0, 1]).

    Training: DETR's person set loss on every decoder layer
    (``person.loss_cls/loss_bbox/loss_iou``, ``person.d{i}.*``); the persons
    its assigner matches to ground truth (last decoder layer) that have a
    labelled joint go to the second stage, whose keypoint set loss
    (``kpt.loss_cls/loss_kpt``, ``kpt.d{i}.*``) is computed in
    image-normalised coordinates. Inference: the top ``test_cfg.max_persons``
    persons by score, Hungarian per person on the K x N keypoint matrix.

    Args:
        backbone (dict): backbone config (its outputs feed both stages).
        person_head (dict): :class:`DETRPersonHead` config.
        head (dict): the keypoint transformer, :class:`CascadeKeypointHead`
            config (also reachable as :attr:`keypoint_head`).
        crop (dict): :class:`SpatialTransformerCrop` arguments.
        neck (dict, optional): neck config.
        train_cfg (dict, optional): ``crop_boxes``: the boxes the crop uses
            in training, ``'pred'`` (the matched queries' predicted boxes,
            end to end; default) or ``'gt'`` (their ground-truth boxes);
            ``max_kpt_persons``: cap on the persons per batch sent to the
            keypoint stage (default: all).
        test_cfg (dict, optional): ``max_persons`` (default 20) and
            ``score_thr`` (default 0.0) of the kept persons.
        data_preprocessor (dict, optional): data preprocessor config.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 backbone: ConfigType,
                 person_head: ConfigType,
                 head: ConfigType,
                 crop: ConfigType = dict(),
                 neck: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None) -> None:
        crop = dict(crop)
        crop.pop('type', None)
        crop = SpatialTransformerCrop(**crop)
        # the keypoint transformer is mmpose's ``head`` of the estimator
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=dict(head, crop_size=crop.out_size),
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.crop = crop
        self.person_head = MODELS.build(person_head)
        self.num_keypoints = self.head.num_keypoints
        crop_boxes = self.train_cfg.get('crop_boxes', 'pred')
        if crop_boxes not in ('pred', 'gt'):
            raise ValueError(f"train_cfg.crop_boxes must be 'pred' or 'gt', "
                             f'got {crop_boxes!r}')

    @property
    def keypoint_head(self) -> nn.Module:
        """The keypoint transformer (:class:`CascadeKeypointHead`)."""
        return self.head

    # -- shared pieces -----------------------------------------------------
    def _forward_persons(self, inputs: Tensor) -> Tuple:
        feats = self.extract_feat(inputs)
        cls_scores, bbox_preds = self.person_head(feats[-1])
        return feats, cls_scores, bbox_preds

    @staticmethod
    def _pad_scale(data_samples: SampleList, inputs: Tensor) -> Tensor:
        """``[B, 2]`` image size / padded batch size (width, height)."""
        pad_h, pad_w = inputs.shape[-2:]
        sizes = [input_shape(d.metainfo) for d in data_samples]
        return inputs.new_tensor([[w / pad_w, h / pad_h] for h, w in sizes])

    def _keypoints(self, feats: Tuple[Tensor], boxes: Tensor,
                   batch_inds: Tensor, pad_scale: Tensor) -> Tuple:
        """Keypoint stage on ``[P, 4]`` boxes: class logits
        ``[L, P, N, K+1]`` and image-normalised coordinates
        ``[L, P, N, 2]``."""
        if self.crop.detach_boxes:
            boxes = boxes.detach()
        crops = self.crop(feats, boxes, batch_inds, pad_scale[batch_inds])
        cls_scores, coords = self.keypoint_head(crops)
        return cls_scores, crop_to_image(coords, boxes, self.crop.expand)

    def _forward(self, inputs: Tensor, data_samples: SampleList = None):
        """Raw outputs (tensor mode): person logits and boxes of every
        decoder layer, and the keypoint stage on the top person of each
        image."""
        feats, cls_scores, bbox_preds = self._forward_persons(inputs)
        best = cls_scores[-1].softmax(-1)[..., 0].argmax(-1)  # [B]
        batch_inds = torch.arange(inputs.size(0), device=inputs.device)
        boxes = bbox_preds[-1][batch_inds, best]
        kpt_cls, kpts = self._keypoints(feats, boxes, batch_inds,
                                        inputs.new_ones(inputs.size(0), 2))
        return cls_scores, bbox_preds, kpt_cls, kpts

    # -- training ------------------------------------------------------------
    def _gt_persons(self, data_samples: SampleList,
                    device: torch.device) -> Tuple[List, List]:
        """Ground-truth persons of each image in the input frame.

        Crowd regions and boxes left with no area after augmentation are
        dropped. Returns mmdet-style ``InstanceData(bboxes, labels)`` (pixel
        ``xyxy``, label 0) with the image-normalised ``keypoints``
        ``[n, K, 2]`` and ``keypoint_weights`` ``[n, K]`` (visibility), and
        the image metas.
        """
        instances, metas = [], []
        for sample in data_samples:
            # mmdet's DETRHead normalises boxes by the meta's img_shape
            meta = dict(
                sample.metainfo, img_shape=input_shape(sample.metainfo))
            img_h, img_w = meta['img_shape']
            gt = sample.gt_instances
            bboxes = torch.as_tensor(
                np.asarray(gt.bboxes, dtype=np.float32),
                device=device).reshape(-1, 4)
            kpts = torch.as_tensor(
                np.asarray(gt.keypoints, dtype=np.float32), device=device)
            vis = torch.as_tensor(
                np.asarray(gt.keypoints_visible, dtype=np.float32),
                device=device)
            if kpts.numel() and kpts.size(1) != self.num_keypoints:
                raise ValueError(
                    f'the data has {kpts.size(1)} keypoints per person but '
                    f'the keypoint head has num_keypoints='
                    f'{self.num_keypoints}: set '
                    'model.head.num_keypoints to the dataset\'s '
                    'keypoint count')
            kpts = kpts.reshape(-1, self.num_keypoints, 2)
            vis = vis.reshape(-1, self.num_keypoints)
            bboxes[:, 0::2] = bboxes[:, 0::2].clamp(0, img_w)
            bboxes[:, 1::2] = bboxes[:, 1::2].clamp(0, img_h)
            keep = ((bboxes[:, 2] - bboxes[:, 0]) >= 1) & (
                (bboxes[:, 3] - bboxes[:, 1]) >= 1)
            crowd = meta.get('iscrowd', None)
            if crowd is not None and len(crowd) == len(keep):
                keep &= torch.as_tensor(np.asarray(crowd) == 0, device=device)
            inside = ((kpts >= 0) &
                      (kpts <= kpts.new_tensor([img_w, img_h]))).all(-1)
            instances.append(
                InstanceData(
                    bboxes=bboxes[keep],
                    labels=torch.zeros_like(keep[keep], dtype=torch.long),
                    keypoints=kpts[keep] / kpts.new_tensor([img_w, img_h]),
                    keypoint_weights=(vis[keep] > 0).float() * inside[keep]))
            metas.append(meta)
        return instances, metas

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Person set loss + keypoint set loss of the matched persons."""
        feats, cls_scores, bbox_preds = self._forward_persons(inputs)
        gts, metas = self._gt_persons(data_samples, inputs.device)
        losses = {
            f'person.{k}': v
            for k, v in self.person_head.loss_by_feat(cls_scores, bbox_preds,
                                                      gts, metas).items()
        }

        # persons matched on the last decoder layer, with a labelled joint
        batch_inds, boxes, gt_kpts, gt_weights = [], [], [], []
        matches = self.person_head.assign(cls_scores[-1], bbox_preds[-1], gts,
                                          metas)
        for b, ((queries, gt_inds), gt,
                meta) in enumerate(zip(matches, gts, metas)):
            labelled = gt.keypoint_weights[gt_inds].sum(-1) > 0
            queries, gt_inds = queries[labelled], gt_inds[labelled]
            if self.train_cfg.get('crop_boxes', 'pred') == 'gt':
                img_h, img_w = meta['img_shape']
                boxes.append(
                    bbox_xyxy_to_cxcywh(gt.bboxes[gt_inds]) /
                    gt.bboxes.new_tensor([img_w, img_h, img_w, img_h]))
            else:
                boxes.append(bbox_preds[-1, b, queries])
            batch_inds.append(torch.full_like(gt_inds, b))
            gt_kpts.append(gt.keypoints[gt_inds])
            gt_weights.append(gt.keypoint_weights[gt_inds])
        boxes, batch_inds = torch.cat(boxes), torch.cat(batch_inds)
        gt_kpts, gt_weights = torch.cat(gt_kpts), torch.cat(gt_weights)
        limit = self.train_cfg.get('max_kpt_persons', None)
        if limit is not None and len(boxes) > limit:
            keep = torch.randperm(len(boxes), device=boxes.device)[:limit]
            boxes, batch_inds = boxes[keep], batch_inds[keep]
            gt_kpts, gt_weights = gt_kpts[keep], gt_weights[keep]
        empty = len(boxes) == 0
        if empty:
            # no person to learn from: run the stage on a dummy box so that
            # every parameter gets a (zero) gradient, as DDP requires
            boxes = bbox_preds.new_tensor([[0.5, 0.5, 1.0, 1.0]])
            batch_inds = batch_inds.new_zeros(1)
            gt_kpts = boxes.new_zeros(1, self.num_keypoints, 2)
            gt_weights = boxes.new_zeros(1, self.num_keypoints)

        kpt_cls, kpts = self._keypoints(feats, boxes, batch_inds,
                                        self._pad_scale(data_samples, inputs))
        kpt_losses = self.keypoint_head.loss_by_feat(kpt_cls, kpts, gt_kpts,
                                                     gt_weights)
        for k, v in kpt_losses.items():
            losses[f'kpt.{k}'] = v * 0 if empty else v
        return losses

    # -- inference -----------------------------------------------------------
    def predict(self, inputs: Tensor, data_samples: SampleList) -> SampleList:
        """Persons with their keypoints, in original-image pixels.

        Returns:
            list[PoseDataSample]: ``pred_instances`` with ``bboxes``
            ``[P, 4]`` (xyxy), ``bbox_scores`` ``[P]`` (person probability),
            ``keypoints`` ``[P, K, 2]`` and ``keypoint_scores`` ``[P, K]``.
        """
        if self.test_cfg.get('flip_test', False):
            raise ValueError('PRTRCascade has no flip test: set '
                             'model.test_cfg.flip_test=False')
        max_persons = self.test_cfg.get('max_persons', 20)
        score_thr = self.test_cfg.get('score_thr', 0.0)
        feats, cls_scores, bbox_preds = self._forward_persons(inputs)
        person_prob = cls_scores[-1].softmax(-1)[..., 0]  # [B, Q]
        scores, queries = person_prob.topk(
            min(max_persons, person_prob.size(1)), dim=1)  # [B, P]
        keep = scores > score_thr
        batch_inds = torch.arange(
            inputs.size(0), device=inputs.device)[:, None].expand_as(queries)
        batch_inds, queries = batch_inds[keep], queries[keep]
        boxes = bbox_preds[-1][batch_inds, queries]  # [P, 4]
        scores = scores[keep]
        if len(boxes):
            kpt_cls, kpts = self._keypoints(
                feats, boxes, batch_inds,
                self._pad_scale(data_samples, inputs))
            coords, kpt_scores, _ = hungarian_decode(kpt_cls[-1], kpts[-1])
        else:
            coords = boxes.new_zeros(0, self.num_keypoints, 2)
            kpt_scores = boxes.new_zeros(0, self.num_keypoints)

        results = []
        for b, sample in enumerate(data_samples):
            img_h, img_w = input_shape(sample.metainfo)
            sel = batch_inds == b
            size = boxes.new_tensor([img_w, img_h])
            xyxy = bbox_cxcywh_to_xyxy(boxes[sel]) * size.repeat(2)
            results.append(
                InstanceData(
                    bboxes=xyxy.cpu().numpy(),
                    bbox_scores=scores[sel].cpu().numpy(),
                    keypoints=(coords[sel] * size).cpu().numpy(),
                    keypoint_scores=kpt_scores[sel].cpu().numpy()))
        return self.add_pred_to_datasample(results, None, data_samples)
