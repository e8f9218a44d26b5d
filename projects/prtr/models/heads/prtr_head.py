# Copyright (c) prtr authors. All rights reserved.
"""PRTR's keypoint transformer head."""
from typing import Dict, Tuple

import torch
from mmdet.models.layers.transformer import MLP
from mmpose.models.heads.base_head import BaseHead
from mmpose.models.utils.tta import flip_coordinates
from mmpose.registry import KEYPOINT_CODECS, MODELS, TASK_UTILS
from mmpose.utils.typing import (ConfigType, Features, OptConfigType,
                                 OptSampleList, Predictions)
from torch import Tensor, nn

from ..layers.detr_transformer import DETR_TRANSFORMER, DetrTransformerMixin
from ..task_modules.linear_assignment import linear_assignment


def keypoint_probabilities(cls_scores: Tensor) -> Tensor:
    """``[..., N, K+1]`` logits -> ``[..., N, K]`` joint probabilities.

    The "no keypoint" logit is dropped *before* the softmax, as PRTR's
    inference does. This and the coordinates are what an exported graph
    returns (:mod:`prtr.deployment`); the matching runs on the host.
    """
    return cls_scores[..., :-1].softmax(-1)


def hungarian_match(prob: Tensor,
                    kpt_preds: Tensor,
                    solver: str = 'auto') -> Tuple[Tensor, Tensor, Tensor]:
    """One query per joint: the K x N matrix of ``-prob`` of every image is
    solved in one batch and each joint takes its query's coordinates, with
    the matched probability as its score.

    Args:
        prob (Tensor): joint probabilities ``[B, N, K]``
            (:func:`keypoint_probabilities`).
        kpt_preds (Tensor): normalised coordinates ``[B, N, 2]``.
        solver (str): the solver of
            :func:`~prtr.models.task_modules.linear_assignment`.

    Returns:
        tuple: coordinates ``[B, K, 2]``, scores ``[B, K]`` and the index of
        the query matched to each joint ``[B, K]`` (long).
    """
    # [B, K]; the costs are finite unless the outputs are (then the host
    # solvers name the fault; the device solver, no sync, does not look)
    queries = linear_assignment(
        -prob.transpose(1, 2), solver, check_finite=solver != 'device')
    # [B, N, K] -> [B, K, N], then the matched query of each joint
    scores = prob.transpose(1, 2).gather(2, queries.unsqueeze(-1)).squeeze(-1)
    coords = torch.gather(kpt_preds, 1,
                          queries.unsqueeze(-1).expand(-1, -1, 2))
    return coords, scores, queries


def hungarian_decode(cls_scores: Tensor,
                     kpt_preds: Tensor,
                     solver: str = 'auto') -> Tuple[Tensor, Tensor, Tensor]:
    """PRTR inference on one decoder layer's logits ``[B, N, K+1]`` and
    coordinates ``[B, N, 2]``: :func:`keypoint_probabilities`, then
    :func:`hungarian_match` (see there for the returned tuple)."""
    return hungarian_match(
        keypoint_probabilities(cls_scores), kpt_preds, solver)


@MODELS.register_module()
class PRTRHead(DetrTransformerMixin, BaseHead):
    """Keypoint transformer head of two-stage PRTR.

    "Pose Recognition with Cascade Transformers", Li et al., CVPR 2021
    (https://arxiv.org/abs/2104.06976). A 1x1 projection of the last
    backbone feature, DETR's encoder/decoder with ``num_queries`` learned
    queries, and on every decoder layer a class head (K joints + "no
    keypoint", the last index) and a 3-layer MLP regressing normalised
    ``(x, y)``. Training matches queries to joints with a Hungarian
    assigner on every decoder layer; inference matches on the last one.

    Args:
        in_channels (int): channels of the last input feature.
        num_keypoints (int): K, the number of joints.
        num_queries (int): number of keypoint queries. Defaults to 100.
        embed_dims (int): transformer width. Defaults to 256.
        transformer (dict): ``encoder`` and ``decoder`` configs of mmdet's
            ``DetrTransformerEncoder`` / ``DetrTransformerDecoder``.
        positional_encoding (dict): mmdet ``SinePositionalEncoding`` config
            (DETR's: 128 features per axis, temperature 10000, normalised,
            scale 2*pi).
        eos_coef (float): class weight of "no keypoint". Defaults to 0.1.
        loss_cls (dict): classification loss (mmdet CrossEntropyLoss).
        loss_kpt (dict): coordinate loss (mmdet L1Loss, weight 5).
        assigner (dict): query-to-joint assigner.
        decoder (dict, optional): codec turning matched normalised
            coordinates into input-space keypoints (:class:`PRTRLabel`).
        lean_forward (bool): compute the transformer by
            :mod:`~prtr.models.layers.lean_detr_forward` (the same function
            in fewer operators) where its layers are DETR's; False runs
            mmdet's modules' forward. Defaults to True.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 in_channels: int = 2048,
                 num_keypoints: int = 17,
                 num_queries: int = 100,
                 embed_dims: int = 256,
                 transformer: ConfigType = DETR_TRANSFORMER,
                 positional_encoding: ConfigType = dict(
                     num_feats=128, temperature=10000, normalize=True),
                 eos_coef: float = 0.1,
                 loss_cls: ConfigType = dict(
                     type='mmdet.CrossEntropyLoss',
                     use_sigmoid=False,
                     loss_weight=1.0),
                 loss_kpt: ConfigType = dict(
                     type='mmdet.L1Loss', loss_weight=5.0),
                 assigner: ConfigType = dict(type='KeypointHungarianAssigner'),
                 decoder: OptConfigType = None,
                 lean_forward: bool = True,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_queries < num_keypoints:
            raise ValueError(
                f'PRTRHead needs at least one query per joint: num_queries='
                f'{num_queries} < num_keypoints={num_keypoints}')
        self.in_channels = in_channels
        self.num_keypoints = num_keypoints
        self.num_queries = num_queries
        self.embed_dims = embed_dims

        self._init_layers(transformer, positional_encoding)
        if not lean_forward:
            self.lean_forward = False
        self.class_embed = nn.Linear(embed_dims, num_keypoints + 1)
        self.kpt_embed = MLP(embed_dims, embed_dims, 2, 3)

        # weight 1 for every joint, eos_coef for "no keypoint" (last index)
        class_weight = torch.ones(num_keypoints + 1)
        class_weight[-1] = eos_coef
        self.register_buffer('class_weight', class_weight, persistent=False)
        # the class weights are applied in loss_by_feat_all from the
        # buffer: mmdet's loss would copy its list to the GPU on every call
        # (a host synchronisation)
        loss_cls = dict(loss_cls, class_weight=None)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_kpt = MODELS.build(loss_kpt)
        self.assigner = TASK_UTILS.build(assigner)
        self.decoder = KEYPOINT_CODECS.build(decoder) if decoder else None

    def init_weights(self) -> None:
        """DETR's init: xavier-uniform on every >1-dim transformer weight."""
        super().init_weights()
        self._init_transformer_weights()

    def forward(self, feats: Tuple[Tensor]) -> Tuple[Tensor, Tensor]:
        """Run the transformer on the last feature map.

        Args:
            feats (tuple[Tensor]): backbone/neck features; the last one,
                ``[bs, c, h, w]``, is used.

        Returns:
            tuple: class logits ``[L, bs, N, K+1]`` and normalised
            coordinates ``[L, bs, N, 2]`` of all L decoder layers.
        """
        hidden = self.forward_transformer(feats[-1])  # [L, bs, N, d]
        return self.class_embed(hidden), self.kpt_embed(hidden).sigmoid()

    def predict(self,
                feats: Features,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Keypoints of each instance, in input-image pixels.

        With ``test_cfg.flip_test`` ``feats`` is ``[feats, flipped_feats]``:
        the flipped output is matched on its own, mirrored (x -> 1 - x, no
        pixel shift), its joints swapped by the dataset's flip indices, and
        coordinates and scores are averaged with the unflipped result.

        Returns:
            list[InstanceData]: ``keypoints`` ``[1, K, 2]`` and
            ``keypoint_scores`` ``[1, K]`` per sample.
        """
        if test_cfg.get('flip_test', False):
            assert isinstance(feats, list) and len(feats) == 2
            metainfo = batch_data_samples[0].metainfo
            flip_indices = metainfo['flip_indices']
            # one transformer pass and one matching over [2B, ...]
            both = [torch.cat(pair) for pair in zip(feats[0], feats[1])]
            coords, scores = self._decode_last(both)
            bs = coords.size(0) // 2
            coords, coords_f = coords[:bs], coords[bs:].clone()
            scores, scores_f = scores[:bs], scores[bs:]
            coords_f = flip_coordinates(
                coords_f,
                flip_indices=flip_indices,
                shift_coords=test_cfg.get('shift_coords', False),
                input_size=metainfo['input_size'])
            coords = (coords + coords_f) * 0.5
            scores = (scores + scores_f[:, flip_indices]) * 0.5
        else:
            coords, scores = self._decode_last(feats)
        # [B, K, 2] + [B, K] -> [B, 1, K, 3]
        preds = torch.cat([coords, scores.unsqueeze(-1)], dim=-1)
        return self.decode(preds.unsqueeze(1))

    def forward_probs(self, feats: Tuple[Tensor]) -> Tuple[Tensor, Tensor]:
        """What inference needs of the network, and what an exported graph
        returns: the last decoder layer's joint probabilities ``[B, N, K]``
        (:func:`keypoint_probabilities`) and coordinates ``[B, N, 2]``."""
        cls_scores, kpt_preds = self.forward(feats)
        return keypoint_probabilities(cls_scores[-1]), kpt_preds[-1]

    def _decode_last(self, feats: Tuple[Tensor]) -> Tuple[Tensor, Tensor]:
        coords, scores, _ = hungarian_match(*self.forward_probs(feats),
                                            self.solver)
        return coords, scores

    @property
    def solver(self) -> str:
        """The assigner's solver, also used by inference's matching."""
        return getattr(self.assigner, 'solver', 'auto')

    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> Dict[str, Tensor]:
        """Set loss of every decoder layer (see :meth:`loss_by_feat`)."""
        cls_scores, kpt_preds = self.forward(feats)
        labels = [d.gt_instance_labels for d in batch_data_samples]
        gt_keypoints = torch.cat([d.keypoint_labels for d in labels])
        gt_weights = torch.cat([d.keypoint_weights for d in labels])
        if gt_keypoints.size(1) != self.num_keypoints:
            raise ValueError(
                f'the data has {gt_keypoints.size(1)} keypoints per person '
                f'but PRTRHead has num_keypoints={self.num_keypoints}: set '
                'model.head.num_keypoints to the dataset\'s keypoint count')
        return self.loss_by_feat(cls_scores, kpt_preds, gt_keypoints,
                                 gt_weights)

    def loss_by_feat(self, all_cls_scores: Tensor, all_kpt_preds: Tensor,
                     gt_keypoints: Tensor,
                     gt_weights: Tensor) -> Dict[str, Tensor]:
        """PRTR's set loss, in two steps as DETR's:

        1. match the K joints of each person to queries, independently on
           every decoder layer (:attr:`assigner`);
        2. cross-entropy over K+1 classes on every query (unmatched ones
           target "no keypoint", weighted ``eos_coef``) and L1 on matched
           coordinates times the target weight.

        Args:
            all_cls_scores (Tensor): ``[L, B, N, K+1]`` logits.
            all_kpt_preds (Tensor): ``[L, B, N, 2]`` normalised coordinates.
            gt_keypoints (Tensor): ``[B, K, 2]`` normalised targets.
            gt_weights (Tensor): ``[B, K]`` target weights.

        Returns:
            dict: ``loss_cls``/``loss_kpt`` of the last layer,
            ``d{i}.loss_cls``/``d{i}.loss_kpt`` of the others, and the
            (logged only) ``acc_cls`` of the matched queries' classes.
        """
        num_layers = all_cls_scores.size(0)
        assigned = self.assigner.assign(all_cls_scores, all_kpt_preds,
                                        gt_keypoints, gt_weights)
        labels = self.get_targets(assigned, all_cls_scores.size(2))
        loss_cls, loss_kpt = self.loss_by_feat_all(all_cls_scores,
                                                   all_kpt_preds, labels,
                                                   assigned, gt_keypoints,
                                                   gt_weights)
        losses = dict()
        for i, (cls_i, kpt_i) in enumerate(zip(loss_cls, loss_kpt)):
            prefix = '' if i == num_layers - 1 else f'd{i}.'
            losses[f'{prefix}loss_cls'] = cls_i
            losses[f'{prefix}loss_kpt'] = kpt_i
        with torch.no_grad():
            matched = assigned[-1] >= 0  # [B, K]
            pred_cls = all_cls_scores[-1].argmax(-1).gather(
                1, assigned[-1].clamp(min=0))  # [B, K]
            joint_ids = torch.arange(self.num_keypoints, device=matched.device)
            correct = (pred_cls == joint_ids) & matched
            # mean over the matched joints (0 if none), without a boolean
            # index: its size would be read on the host (a GPU sync)
            losses['acc_cls'] = correct.sum() / matched.sum().clamp(min=1)
        return losses

    def get_targets(self, assigned: Tensor, num_queries: int) -> Tensor:
        """Class target of every query.

        Args:
            assigned (Tensor): ``[L, B, K]`` query index per joint, ``-1``
                for an unmatched joint.
            num_queries (int): N.

        Returns:
            Tensor: ``[L, B, N]`` labels: the joint a query was matched to,
            K ("no keypoint") otherwise.
        """
        num_layers, bs, num_joints = assigned.shape
        labels = assigned.new_full((num_layers, bs, num_queries + 1),
                                   num_joints)
        joint_ids = torch.arange(num_joints, device=assigned.device)
        # unmatched joints (-1) write into a spare last column, dropped below
        labels.scatter_(2, assigned % (num_queries + 1),
                        joint_ids.expand_as(assigned))
        return labels[..., :num_queries]

    def loss_by_feat_all(self, cls_scores: Tensor, kpt_preds: Tensor,
                         labels: Tensor, assigned: Tensor,
                         gt_keypoints: Tensor,
                         gt_weights: Tensor) -> Tuple[Tensor, Tensor]:
        """Losses of all L decoder layers in one batched expression.

        Each layer's values are those of the official per-layer loss: the
        class-weighted cross-entropy averaged by the summed weights of the
        targets (``F.cross_entropy(weight=w)``), and the weighted L1 of the
        matched coordinates averaged over ``B * K * 2`` terms, times K.

        Args:
            cls_scores (Tensor): ``[L, B, N, K+1]``.
            kpt_preds (Tensor): ``[L, B, N, 2]``.
            labels (Tensor): ``[L, B, N]`` class targets.
            assigned (Tensor): ``[L, B, K]`` matched query per joint.
            gt_keypoints (Tensor): ``[B, K, 2]``.
            gt_weights (Tensor): ``[B, K]``.

        Returns:
            tuple: ``loss_cls`` and ``loss_kpt``, each ``[L]``.
        """
        num_layers, num_cls = cls_scores.size(0), cls_scores.size(-1)
        # mmdet's losses divide by (avg_factor + eps): same values, and 0
        # (not NaN) for a batch without persons
        eps = torch.finfo(torch.float32).eps
        # [L, B, N, K+1] -> [L*B*N, K+1]; per-element class-weighted CE,
        # w[y] * -log p[y] as F.cross_entropy(weight=w) computes it
        target_weight = self.class_weight[labels].reshape(num_layers, -1)
        loss_cls = self.loss_cls(
            cls_scores.reshape(-1, num_cls),
            labels.reshape(-1),
            reduction_override='none').reshape(num_layers, -1) * target_weight
        # F.cross_entropy(weight=w) averages by the targets' summed weights
        avg_cls = target_weight.sum(1)
        loss_cls = loss_cls.sum(1) / (avg_cls + eps)

        index = assigned.clamp(min=0).unsqueeze(-1).expand(-1, -1, -1, 2)
        matched = kpt_preds.gather(2, index)  # [L, B, K, 2]
        weights = (gt_weights * (assigned >= 0)).unsqueeze(-1)
        loss_kpt = self.loss_kpt(
            matched,
            gt_keypoints.expand_as(matched),
            reduction_override='none') * weights  # [L, B, K, 2]
        # Official: mean over all B*K*2 terms of a layer, times K.
        avg_kpt = matched[0].numel() / self.num_keypoints
        loss_kpt = loss_kpt.reshape(num_layers, -1).sum(1) / (avg_kpt + eps)
        return loss_cls, loss_kpt
