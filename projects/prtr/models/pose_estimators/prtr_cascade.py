# Copyright (c) prtr authors. All rights reserved.
"""End-to-end PRTR: person DETR -> spatial-transformer crop -> keypoints."""
from typing import List, Tuple

import torch
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh
from mmengine.structures import InstanceData
from mmpose.models.pose_estimators import BottomupPoseEstimator
from mmpose.models.utils.tta import flip_coordinates
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType, SampleList
from torch import Tensor, nn

from ..heads.detr_person_head import boxes_to_pixels
from ..heads.prtr_head import hungarian_match, keypoint_probabilities
from ..layers.spatial_transformer_crop import crop_to_image, image_to_crop
from ..task_modules.linear_assignment import batched_linear_assignment
from .canvas import flip_canvas, input_shape


@MODELS.register_module()
class PRTRCascade(BottomupPoseEstimator):
    """PRTR's end-to-end cascade, trained as one network.

    "Pose Recognition with Cascade Transformers", Li et al., CVPR 2021,
    Sec. 3.2 (upstream released only an illustrative notebook). One backbone
    feeds both stages:

    1. ``person_head`` (:class:`DETRPersonHead` on the last backbone level,
       or :class:`DeformableDETRPersonHead` on several): person queries ->
       person logits and normalised boxes;
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
    persons by score (mmdet's DETR scores), Hungarian per person on the
    K x N keypoint matrix; with ``test_cfg.flip_test`` the mirrored image
    goes through both stages too, its persons are matched to the image's
    (Hungarian on the distance of the boxes) and boxes, scores and
    keypoints (joints swapped by ``flip_indices``) are averaged.

    Args:
        backbone (dict): backbone config (its outputs feed both stages).
        person_head (dict): :class:`DETRPersonHead` config.
        head (dict): the keypoint transformer, :class:`CascadeKeypointHead`
            config (also reachable as :attr:`keypoint_head`).
        crop (dict): crop config (type :class:`SpatialTransformerCrop` by
            default).
        neck (dict, optional): neck config.
        train_cfg (dict, optional): ``crop_boxes``: the boxes the crop uses
            in training, ``'pred'`` (the matched queries' predicted boxes,
            end to end; default) or ``'gt'`` (their ground-truth boxes);
            ``max_kpt_persons``: cap on the persons per batch sent to the
            keypoint stage (default: all); ``kpt_loss_space``: the frame
            of the keypoint matching and loss, ``'image'`` (image-normalised
            coordinates; default) or ``'crop'`` (relative to each person's
            crop, as the two-stage PRTR: persons weigh alike whatever their
            size; labelled joints outside the crop count at its border).
        test_cfg (dict, optional): ``max_persons`` (default 20) and
            ``score_thr`` (default 0.0) of the kept persons, ``flip_test``
            (default False).
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
        crop = MODELS.build(dict(dict(type='SpatialTransformerCrop'), **crop))
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
        for key, choices in (('crop_boxes', ('pred', 'gt')),
                             ('kpt_loss_space', ('image', 'crop'))):
            value = self.train_cfg.get(key, choices[0])
            if value not in choices:
                raise ValueError(f'train_cfg.{key} must be one of {choices}, '
                                 f'got {value!r}')

    @property
    def keypoint_head(self) -> nn.Module:
        """The keypoint transformer (:class:`CascadeKeypointHead`)."""
        return self.head

    # -- shared pieces -----------------------------------------------------
    def _forward_persons(self, inputs: Tensor) -> Tuple:
        """Backbone features and the person head's outputs (logits
        ``[L, B, Q, C]``, boxes ``[L, B, Q, 4]``, then any extras)."""
        feats = self.extract_feat(inputs)
        return feats, self.person_head(feats)

    def _top_persons(self, cls_scores: Tensor,
                     bbox_preds: Tensor) -> Tuple[Tensor, Tensor]:
        """Scores ``[B, P]`` and boxes ``[B, P, 4]`` of the top
        ``test_cfg.max_persons`` persons of every image."""
        scores, queries = self.person_head.predict_by_feat(
            cls_scores, self.test_cfg.get('max_persons', 20))
        boxes = bbox_preds[-1].gather(1,
                                      queries.unsqueeze(-1).expand(-1, -1, 4))
        return scores, boxes

    @staticmethod
    def _pad_scale(data_samples: SampleList, inputs: Tensor) -> Tensor:
        """``[B, 2]`` image size / padded batch size (width, height)."""
        pad_h, pad_w = inputs.shape[-2:]
        sizes = [input_shape(d.metainfo) for d in data_samples]
        return inputs.new_tensor([[w / pad_w, h / pad_h] for h, w in sizes])

    def _keypoints(self,
                   feats: Tuple[Tensor],
                   boxes: Tensor,
                   batch_inds: Tensor,
                   pad_scale: Tensor,
                   to_image: bool = True) -> Tuple:
        """Keypoint stage on ``[P, 4]`` boxes: class logits
        ``[L, P, N, K+1]`` and image-normalised coordinates
        ``[L, P, N, 2]`` (crop-relative ones unless ``to_image``)."""
        if self.crop.detach_boxes:
            boxes = boxes.detach()
        crops = self.crop(feats, boxes, batch_inds, pad_scale[batch_inds])
        cls_scores, coords = self.keypoint_head(crops)
        if not to_image:
            return cls_scores, coords
        return cls_scores, crop_to_image(coords, boxes, self.crop.expand)

    def _forward(self, inputs: Tensor, data_samples: SampleList = None):
        """Raw outputs of every decoder layer (tensor mode, used by FLOP
        counting; an export traces :meth:`forward_predict`):
        person logits ``[L, B, Q, C]`` and boxes ``[L, B, Q, 4]`` of every
        decoder layer, and the keypoint stage of the top
        ``test_cfg.max_persons`` (P) persons of every image, logits
        ``[L, B, P, N, K+1]`` and image-normalised coordinates
        ``[L, B, P, N, 2]``."""
        feats, outs = self._forward_persons(inputs)
        cls_scores, bbox_preds = outs[:2]
        _, boxes = self._top_persons(cls_scores, bbox_preds)
        bs, num = boxes.shape[:2]
        batch_inds = torch.arange(bs, device=inputs.device)
        kpt_cls, kpts = self._keypoints(feats, boxes.flatten(0, 1),
                                        batch_inds.repeat_interleave(num),
                                        inputs.new_ones(bs, 2))
        # [L, B*P, N, C] -> [L, B, P, N, C]
        return (cls_scores, bbox_preds, kpt_cls.unflatten(1, (bs, num)),
                kpts.unflatten(1, (bs, num)))

    # -- training ------------------------------------------------------------
    def _gt_persons(self, data_samples: SampleList) -> Tuple[List, List]:
        """Ground-truth persons of each image (``gt_instance_labels``, made
        by :class:`CascadeLabel` in the pipeline: ``bboxes``, ``labels``,
        ``keypoint_labels``, ``keypoint_weights``) and the image metas with
        ``img_shape`` set to the canvas, by which mmdet's DETR heads
        normalise the boxes."""
        instances, metas = [], []
        for sample in data_samples:
            gt = sample.get('gt_instance_labels')
            if gt is None or 'bboxes' not in gt:
                raise ValueError(
                    'PRTRCascade trains on person targets made in the data '
                    "pipeline: add dict(type='FilterPersons') and "
                    "dict(type='GenerateTarget', encoder=dict("
                    "type='CascadeLabel')) before PackPoseInputs")
            kpts = gt.keypoint_labels
            if kpts.dim() != 3 or kpts.size(1) != self.num_keypoints:
                raise ValueError(
                    f'the data has {kpts.size(1) if kpts.dim() > 1 else 0} '
                    'keypoints per person but the keypoint head has '
                    f'num_keypoints={self.num_keypoints}: set '
                    'model.head.num_keypoints to the dataset\'s '
                    'keypoint count')
            instances.append(gt)
            metas.append(
                dict(sample.metainfo, img_shape=input_shape(sample.metainfo)))
        return instances, metas

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """Person set loss + keypoint set loss of the matched persons."""
        feats, outs = self._forward_persons(inputs)
        gts, metas = self._gt_persons(data_samples)
        # the persons the loss matched on the last decoder layer
        person_losses, matches = self.person_head.loss_and_match(
            outs, gts, metas)
        losses = {f'person.{k}': v for k, v in person_losses.items()}

        bbox_preds = outs[1]
        batch_inds, boxes, gt_kpts, gt_weights = [], [], [], []
        for b, ((queries, gt_inds), gt,
                meta) in enumerate(zip(matches, gts, metas)):
            if self.train_cfg.get('crop_boxes', 'pred') == 'gt':
                img_h, img_w = meta['img_shape']
                boxes.append(
                    bbox_xyxy_to_cxcywh(gt.bboxes[gt_inds]) /
                    gt.bboxes.new_tensor([img_w, img_h, img_w, img_h]))
            else:
                boxes.append(bbox_preds[-1, b, queries])
            batch_inds.append(torch.full_like(gt_inds, b))
            gt_kpts.append(gt.keypoint_labels[gt_inds])
            gt_weights.append(gt.keypoint_weights[gt_inds])
        boxes, batch_inds = torch.cat(boxes), torch.cat(batch_inds)
        gt_kpts, gt_weights = torch.cat(gt_kpts), torch.cat(gt_weights)
        # of those, the ones with a labelled joint go to the keypoint stage
        # (one mask for the batch: one host sync, not one per image)
        labelled = gt_weights.sum(-1) > 0
        boxes, batch_inds = boxes[labelled], batch_inds[labelled]
        gt_kpts, gt_weights = gt_kpts[labelled], gt_weights[labelled]
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

        in_crop = self.train_cfg.get('kpt_loss_space', 'image') == 'crop'
        kpt_cls, kpts = self._keypoints(
            feats,
            boxes,
            batch_inds,
            self._pad_scale(data_samples, inputs),
            to_image=not in_crop)
        if in_crop:
            # joints relative to the crop, as the two-stage PRTR's targets:
            # every person weighs alike whatever its size; joints outside
            # the crop go to its border, where the sigmoid output can reach.
            # The targets carry no gradient: through them the loss (image
            # error / box size) would only push the boxes to grow
            gt_kpts = image_to_crop(gt_kpts, boxes.detach(),
                                    self.crop.expand).clamp(0, 1)
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
        pad_scale = self._pad_scale(data_samples, inputs)
        if self.test_cfg.get('flip_test', False):
            scores, boxes, kpts, kpt_scores = self._predict_flip(
                inputs, data_samples, pad_scale)
        else:
            scores, boxes, prob, coords = self.forward_predict(
                inputs, pad_scale)
            kpts, kpt_scores = self._match_keypoints(prob, coords)
        return self._pack(data_samples, scores, boxes, kpts, kpt_scores)

    def forward_predict(self, inputs: Tensor,
                        pad_scale: Tensor) -> Tuple[Tensor, ...]:
        """What inference needs of the network, and what an exported graph
        returns (:mod:`prtr.deployment`): the top ``test_cfg.max_persons``
        (P) persons of every image, their scores ``[B, P]`` and normalised
        boxes ``[B, P, 4]`` (cx, cy, w, h), and their keypoint stage's last
        layer, joint probabilities ``[B, P, N, K]``
        (:func:`keypoint_probabilities`) and image-normalised coordinates
        ``[B, P, N, 2]``.

        Args:
            inputs (Tensor): ``[B, C, H, W]`` preprocessed images.
            pad_scale (Tensor): ``[B, 2]`` image size / batch size (w, h).
        """
        feats, outs = self._forward_persons(inputs)
        scores, boxes = self._top_persons(*outs[:2])  # [B, P], [B, P, 4]
        bs, num = boxes.shape[:2]
        # P boxes in every image: the batch's crops in one grid_sample
        crops = self.crop.forward_grouped(feats, boxes, pad_scale)
        kpt_cls, kpts = self.keypoint_head(crops)
        kpts = crop_to_image(kpts[-1], boxes.flatten(0, 1), self.crop.expand)
        # [B*P, N, K+1] -> [B, P, N, K]
        prob = keypoint_probabilities(kpt_cls[-1]).unflatten(0, (bs, num))
        return scores, boxes, prob, kpts.unflatten(0, (bs, num))

    def _match_keypoints(self, prob: Tensor,
                         coords: Tensor) -> Tuple[Tensor, Tensor]:
        """PRTR's decoding of every person (:func:`hungarian_match`):
        keypoints ``[B, P, K, 2]`` and scores ``[B, P, K]`` from
        :meth:`forward_predict`'s ``[B, P, N, K]`` probabilities and
        ``[B, P, N, 2]`` coordinates."""
        bs_num = prob.shape[:2]
        kpts, scores, _ = hungarian_match(
            prob.flatten(0, 1), coords.flatten(0, 1),
            self.keypoint_head.solver)
        return kpts.unflatten(0, bs_num), scores.unflatten(0, bs_num)

    def _predict_flip(self, inputs: Tensor, data_samples: SampleList,
                      pad_scale: Tensor) -> Tuple[Tensor, ...]:
        """Both stages on the image and on its mirror (one batch), the
        mirror's persons matched to the image's and averaged."""
        bs = inputs.size(0)
        flip_indices = data_samples[0].metainfo.get('flip_indices')
        if flip_indices is None:
            raise ValueError(
                'test_cfg.flip_test needs the dataset\'s flip_indices in '
                'the data samples (PackPoseInputs meta_keys)')
        # [2B, P], [2B, P, 4], [2B, P, N, K], [2B, P, N, 2]
        scores, boxes, prob, coords = self.forward_predict(
            torch.cat([inputs, flip_canvas(inputs, pad_scale)]),
            pad_scale.repeat(2, 1))
        kpts, kpt_scores = self._match_keypoints(prob, coords)
        # the mirror's results in the image's frame: x -> 1 - x, joints
        # swapped (no pixel shift, as PRTR's flip test)
        mirror = boxes.new_tensor([-1., 1., 1., 1.])
        boxes_f = boxes[bs:] * mirror + boxes.new_tensor([1., 0., 0., 0.])
        kpts_f = flip_coordinates(kpts[bs:].flatten(0, 1).clone(),
                                  flip_indices, False,
                                  (1, 1)).unflatten(0, (bs, kpts.size(1)))
        kpt_scores_f = kpt_scores[bs:][..., flip_indices]
        # match the mirror's persons to the image's: Hungarian on the
        # squared L2 distance of the boxes (L1 ties whenever the boxes of
        # one pass all lie on one side of the other's: any matching costs
        # the same then)
        cost = torch.cdist(boxes[:bs].double(), boxes_f.double()).square()
        match = torch.from_numpy(
                batched_linear_assignment(cost.cpu().numpy())).to(boxes.device)

        def pair_mean(x: Tensor, x_f: Tensor) -> Tensor:
            index = match.reshape(*match.shape, *([1] * (x.dim() - 2)))
            return (x[:bs] + x_f.gather(1, index.expand_as(x_f))) * 0.5

        return (pair_mean(scores, scores[bs:]), pair_mean(boxes, boxes_f),
                pair_mean(kpts, kpts_f), pair_mean(kpt_scores, kpt_scores_f))

    def _pack(self, data_samples: SampleList, scores: Tensor, boxes: Tensor,
              kpts: Tensor, kpt_scores: Tensor) -> SampleList:
        """Persons above ``test_cfg.score_thr`` in canvas pixels, moved to
        the host in one copy, into the data samples."""
        bs, num = scores.shape
        sizes = scores.new_tensor(
            [input_shape(d.metainfo)[::-1] for d in data_samples])  # (w, h)
        size = sizes[:, None].expand(-1, num, -1)
        # [B, P, 1 + 4 + 2K + K]: score, box, keypoints, keypoint scores
        table = torch.cat([
            scores[..., None],
            boxes_to_pixels(boxes, size),
            (kpts * size[:, :, None]).flatten(2), kpt_scores
        ], -1).cpu().numpy()
        score_thr = self.test_cfg.get('score_thr', 0.0)
        num_k = self.num_keypoints
        results = []
        for rows in table:
            rows = rows[rows[:, 0] > score_thr]
            results.append(
                InstanceData(
                    bboxes=rows[:, 1:5],
                    bbox_scores=rows[:, 0],
                    keypoints=rows[:, 5:5 + 2 * num_k].reshape(-1, num_k, 2),
                    keypoint_scores=rows[:, 5 + 2 * num_k:]))
        return self.add_pred_to_datasample(results, None, data_samples)
