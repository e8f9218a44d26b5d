"""End-to-end cascade at test time: the person top-k (mmdet's DETR
prediction), the keypoint decoding (the head's), tensor mode and the flip
test."""
import numpy as np
import pytest
import torch
from test_cascade import build_cascade, make_batch


def test_person_topk_follows_mmdet_detr_prediction():
    model = build_cascade().eval()
    model.test_cfg['max_persons'] = 5
    data = model.data_preprocessor(make_batch(17), training=False)
    with torch.no_grad():
        _, (cls, boxes) = model._forward_persons(data['inputs'])
        results = model(**data, mode='predict')
    metas = [dict(img_shape=(128, 96)) for _ in range(2)]
    bbox_head = model.person_head.bbox_head
    bbox_head.test_cfg = dict(max_per_img=5)
    want = bbox_head.predict_by_feat(cls, boxes, metas, rescale=False)
    for res, ref in zip(results, want):
        np.testing.assert_allclose(
            res.pred_instances.bbox_scores, ref.scores.numpy(), rtol=1e-6)
        np.testing.assert_allclose(
            res.pred_instances.bboxes, ref.bboxes.numpy(), atol=1e-4)


def test_keypoints_are_the_heads_decoding():
    model = build_cascade().eval()
    data = model.data_preprocessor(make_batch(17), training=False)
    with torch.no_grad():
        cls, boxes, kpt_cls, kpts = model(**data, mode='tensor')
        results = model(**data, mode='predict')
    # tensor mode: the top max_persons (20) persons of every image
    assert kpt_cls.shape == (2, 2, 20, 20, 18) and kpts.shape[:3] == (2, 2, 20)
    from prtr.models.heads.prtr_head import hungarian_decode
    size = np.array([96, 128])
    for b, res in enumerate(results):
        coords, scores, _ = hungarian_decode(kpt_cls[-1, b], kpts[-1, b])
        np.testing.assert_allclose(
            res.pred_instances.keypoints, coords.numpy() * size, atol=1e-4)
        np.testing.assert_allclose(
            res.pred_instances.keypoint_scores, scores.numpy(), atol=1e-6)


@pytest.mark.parametrize('deformable', [False, True])
def test_flip_test_gives_mirrored_predictions_for_a_mirrored_image(deformable):
    from scipy.optimize import linear_sum_assignment
    if deformable:
        from test_cascade_deformable import build
        model = build().eval()
    else:
        model = build_cascade().eval()
    model.test_cfg['flip_test'] = True
    model.test_cfg['max_persons'] = 6
    batch = make_batch(17, persons=(2, 2))
    flip_indices = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    batch['inputs'][1] = batch['inputs'][0].flip(-1)  # image 1 = mirror of 0
    for s in batch['data_samples']:
        s.set_metainfo(dict(flip_indices=flip_indices))
    data = model.data_preprocessor(batch, training=False)
    with torch.no_grad():
        res = model(**data, mode='predict')
    a, m = res[0].pred_instances, res[1].pred_instances
    assert len(a.bboxes) == 6
    w = 96
    mirrored_boxes = np.stack([
        w - m.bboxes[:, 2], m.bboxes[:, 1], w - m.bboxes[:, 0], m.bboxes[:, 3]
    ], 1)
    mirrored_kpts = m.keypoints[:, flip_indices].copy()
    mirrored_kpts[..., 0] = w - mirrored_kpts[..., 0]
    # the two sets of persons are mirror images: a zero-cost matching
    cost = np.abs(a.bboxes[:, None] - mirrored_boxes[None]).sum(-1) + \
        np.abs(a.keypoints[:, None] - mirrored_kpts[None]).sum((-1, -2))
    rows, cols = linear_sum_assignment(cost)
    np.testing.assert_allclose(a.bboxes[rows], mirrored_boxes[cols], atol=1e-3)
    np.testing.assert_allclose(
        a.keypoints[rows], mirrored_kpts[cols], atol=1e-3)
    np.testing.assert_allclose(
        a.keypoint_scores[rows],
        m.keypoint_scores[cols][:, flip_indices],
        atol=1e-5)
    np.testing.assert_allclose(
        a.bbox_scores[rows], m.bbox_scores[cols], atol=1e-6)
    # without flip test the predictions are not mirror images
    model.test_cfg['flip_test'] = False
    with torch.no_grad():
        res = model(**data, mode='predict')
    a, m = res[0].pred_instances, res[1].pred_instances
    mirrored = m.keypoints[:, flip_indices].copy()
    mirrored[..., 0] = w - mirrored[..., 0]
    cost = np.abs(a.keypoints[:, None] - mirrored[None]).sum((-1, -2))
    rows, cols = linear_sum_assignment(cost)
    assert cost[rows, cols].max() > 1


def test_flip_test_without_flip_indices_names_them():
    model = build_cascade().eval()
    model.test_cfg['flip_test'] = True
    batch = make_batch(17)
    for s in batch['data_samples']:
        del s.flip_indices
    data = model.data_preprocessor(batch, training=False)
    with pytest.raises(ValueError, match='flip_indices'):
        model(**data, mode='predict')
