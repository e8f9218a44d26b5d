"""End-to-end cascade: the spatial-transformer crop, the coordinate
mapping, and PRTRCascade's losses and predictions (K = 17 and K = 14)."""
import os.path as osp

import numpy as np
import pytest
import torch
from conftest import ROOT
from mmengine.config import Config
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

from prtr.models.layers import (SpatialTransformerCrop, crop_to_image,
                                image_to_crop)

CASCADE_CONFIG = osp.join(
    ROOT, 'configs', 'prtr-cascade_res18-tiny_1xb4-300e_coco-mini-'
    '192x192.py')


def ramp_map(h, w):
    """Stride-1 map whose channels hold each pixel centre's x and y."""
    ys, xs = torch.meshgrid(
        torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing='ij')
    return torch.stack([xs, ys]).unsqueeze(0).float()  # [1, 2, h, w]


def test_crop_samples_the_box_pixels():
    h, w = 48, 64
    box_px = (30.0, 8.0, 40.0, 32.0)  # cx, cy, bw, bh in pixels
    boxes = torch.tensor(
        [[box_px[0] / w, box_px[1] / h, box_px[2] / w, box_px[3] / h]])
    crop = SpatialTransformerCrop(out_size=(10, 8), expand=1.25)
    out = crop([ramp_map(h, w)], boxes, torch.tensor([0]))
    assert out.shape == (1, 2, 8, 10)
    # bilinear sampling of a linear ramp returns the sampled position:
    # cell centres (i + 0.5) / res over 125 % of the box
    u = (torch.arange(10) + 0.5) / 10
    v = (torch.arange(8) + 0.5) / 8
    want_x = box_px[0] + (u * 1.25 - 0.625) * box_px[2]
    want_y = box_px[1] + (v * 1.25 - 0.625) * box_px[3]
    inside_y = (want_y > 0.5) & (want_y < h - 0.5)  # border padding aside
    torch.testing.assert_close(out[0, 0, 0], want_x)
    torch.testing.assert_close(out[0, 1, inside_y, 0], want_y[inside_y])


def test_crop_sees_a_bright_box_and_its_margin():
    h, w = 64, 64
    img = torch.zeros(1, 1, h, w)
    img[..., 12:52, 16:48] = 1.0  # the person: x 16..48, y 12..52
    boxes = torch.tensor([[32 / w, 32 / h, 32 / w, 40 / h]])
    out = SpatialTransformerCrop(out_size=(10, 10))([img], boxes,
                                                    torch.tensor([0]))[0, 0]
    # 125 % of the box: the outer ring of cells lies in the 12.5 % margins
    assert torch.all(out[1:-1, 1:-1] == 1)
    assert torch.all(out[0] == 0) and torch.all(out[-1] == 0)
    assert torch.all(out[:, 0] == 0) and torch.all(out[:, -1] == 0)


def test_crop_of_a_padded_image_and_of_several_images():
    h, w = 40, 60  # image inside a 48 x 64 padded batch
    feats = torch.zeros(2, 2, 48, 64)
    feats[1] = ramp_map(48, 64)[0]
    boxes = torch.tensor([[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]])
    scale = torch.tensor([[w / 64, h / 48]]).expand(2, 2)
    out = SpatialTransformerCrop(out_size=(4, 4))([feats], boxes,
                                                  torch.tensor([1, 0]), scale)
    assert torch.all(out[1] == 0)  # the second box reads image 0
    centre_x = out[0, 0].mean()  # symmetric grid: mean = box centre
    centre_y = out[0, 1].mean()
    assert abs(centre_x.item() - w / 2) < 1e-4
    assert abs(centre_y.item() - h / 2) < 1e-4


def test_grouped_crop_equals_the_per_image_crop():
    """Inference's crop of P boxes per image in one grid_sample per level
    (forward_grouped, also what ONNX traces) gives forward's values, on
    padded images of two sizes and two feature levels."""
    g = torch.Generator().manual_seed(0)
    feats = [
        torch.rand(3, 4, 24, 32, generator=g),
        torch.rand(3, 5, 12, 16, generator=g)
    ]
    boxes = torch.rand(3, 4, 4, generator=g) * 0.5 + 0.25  # [B, P, 4]
    scale = torch.tensor([[1.0, 1.0], [0.75, 0.5], [0.5, 1.0]])
    crop = SpatialTransformerCrop(out_size=(5, 6), in_levels=(0, 1))
    want = crop(feats, boxes.flatten(0, 1),
                torch.arange(3).repeat_interleave(4),
                scale.repeat_interleave(4, 0))
    got = crop.forward_grouped(feats, boxes, scale)
    assert got.shape == want.shape == (12, 9, 6, 5)
    assert torch.equal(got, want)


@pytest.mark.parametrize('detach', [False, True])
def test_gradient_reaches_the_box_unless_stopped(detach):
    img = torch.rand(1, 3, 32, 32, requires_grad=True)
    boxes = torch.tensor([[0.4, 0.6, 0.3, 0.5]], requires_grad=True)
    crop = SpatialTransformerCrop(out_size=(5, 5), detach_boxes=detach)
    crop([img], boxes, torch.tensor([0])).pow(2).sum().backward()
    if detach:
        assert boxes.grad is None
    else:
        assert boxes.grad is not None and boxes.grad.abs().sum() > 0


def test_coordinate_mapping_round_trips():
    g = torch.Generator().manual_seed(0)
    boxes = torch.rand(5, 4, generator=g) * 0.5 + 0.25
    coords = torch.rand(5, 7, 2, generator=g)
    image = crop_to_image(coords, boxes, clamp=False)
    torch.testing.assert_close(image_to_crop(image, boxes), coords)
    # upstream's formula, x = (x * 1.25 - 0.625) * w + cx
    want = (coords[..., 0] * 1.25 - 0.625) * boxes[:, None, 2] + \
        boxes[:, None, 0]
    torch.testing.assert_close(image[..., 0], want)
    # clamped to the image
    far = crop_to_image(torch.ones(1, 1, 2), torch.tensor([[0.9, 0.9, 1, 1]]))
    assert far.max() == 1


def build_cascade(num_keypoints=17, **train_cfg):
    cfg = Config.fromfile(CASCADE_CONFIG)
    cfg.model.head.num_keypoints = num_keypoints
    cfg.model.train_cfg.update(train_cfg)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def person_targets(results):
    """The cascade's training targets as the pipeline makes them
    (FilterPersons, GenerateTarget(CascadeLabel), PackPoseInputs)."""
    from mmpose.registry import TRANSFORMS
    results = TRANSFORMS.build(dict(type='FilterPersons'))(results)
    results = TRANSFORMS.build(
        dict(type='GenerateTarget', encoder=dict(type='CascadeLabel')))(
            results)
    results['img'] = np.zeros((1, 1, 3), np.uint8)  # PackPoseInputs needs one
    return TRANSFORMS.build(dict(
        type='PackPoseInputs'))(results)['data_samples'].gt_instance_labels


def make_batch(num_keypoints, persons=(2, 1), size=(96, 128), seed=0):
    g = torch.Generator().manual_seed(seed)
    w, h = size
    inputs, samples = [], []
    for n in persons:
        inputs.append(torch.rand(3, h, w, generator=g) * 255)
        xy = torch.rand(n, 2, generator=g) * torch.tensor([w / 2, h / 2])
        wh = torch.rand(n, 2, generator=g) * 30 + 20
        bboxes = torch.cat([xy, xy + wh], 1)
        kpts = xy[:, None] + torch.rand(n, num_keypoints, 2, generator=g) * \
            wh[:, None]
        s = PoseDataSample(
            metainfo=dict(
                img_shape=(h, w),
                input_size=(w, h),
                input_center=np.array([w / 2, h / 2], np.float32),
                input_scale=np.array([w, h], np.float32),
                iscrowd=[0] * n,
                flip_indices=list(range(num_keypoints))))
        s.gt_instances = InstanceData(
            bboxes=bboxes.numpy(),
            keypoints=kpts.numpy(),
            keypoints_visible=np.ones((n, num_keypoints), np.float32))
        s.gt_instance_labels = person_targets(
            dict(
                bbox=bboxes.numpy(),
                keypoints=kpts.numpy(),
                keypoints_visible=np.ones((n, num_keypoints), np.float32),
                iscrowd=[0] * n,
                input_size=(w, h)))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('num_keypoints', [17, 14])
def test_cascade_losses_and_predictions(num_keypoints):
    model = build_cascade(num_keypoints)
    data = model.data_preprocessor(make_batch(num_keypoints), training=True)
    model.train()
    losses = model(**data, mode='loss')
    for key in ('person.loss_cls', 'person.loss_bbox', 'person.loss_iou',
                'person.d0.loss_cls', 'kpt.loss_cls', 'kpt.loss_kpt',
                'kpt.d0.loss_kpt'):
        assert key in losses and torch.isfinite(losses[key]), key
    assert losses['kpt.loss_kpt'] > 0
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    for name in ('person_head', 'keypoint_head'):
        grads = [p.grad for p in getattr(model, name).parameters()]
        assert all(g is not None for g in grads), name

    model.eval()
    with torch.no_grad():
        results = model(**data, mode='predict')
    assert len(results) == 2
    for res in results:
        pred = res.pred_instances
        assert pred.bboxes.shape == (20, 4)  # test_cfg.max_persons
        assert pred.keypoints.shape == (20, num_keypoints, 2)
        assert pred.keypoint_scores.shape == (20, num_keypoints)
        assert pred.bbox_scores.shape == (20, )
        # predictions lie in the image (input_center/scale: identity here)
        assert (pred.keypoints >= 0).all() and (pred.keypoints[..., 0]
                                                <= 96).all()
        assert (pred.bboxes[:, 2] >= pred.bboxes[:, 0]).all()


@pytest.mark.parametrize('detach', [False, True])
def test_keypoint_loss_trains_the_boxes_unless_stopped(detach):
    model = build_cascade(crop_boxes='pred')
    model.crop.detach_boxes = detach
    data = model.data_preprocessor(make_batch(17), training=True)
    losses = model(**data, mode='loss')
    (losses['kpt.loss_kpt'] + losses['kpt.loss_cls']).backward()
    box_grad = model.person_head.bbox_head.fc_reg.weight.grad
    if detach:
        assert box_grad is None or box_grad.abs().sum() == 0
    else:
        assert box_grad is not None and box_grad.abs().sum() > 0


def test_image_without_persons_gives_zero_keypoint_loss():
    model = build_cascade()
    data = model.data_preprocessor(make_batch(17, persons=(0, 0)), True)
    losses = model(**data, mode='loss')
    assert losses['kpt.loss_kpt'] == 0 and losses['kpt.loss_cls'] == 0
    assert torch.isfinite(losses['person.loss_cls'])
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    grads = [p.grad for p in model.keypoint_head.parameters()]
    assert all(g is not None for g in grads)  # DDP needs every gradient


def test_crowd_and_empty_boxes_are_not_person_targets():
    boxes = np.array([[0, 0, 20, 30], [5, 5, 40, 40], [10, 10, 10.5, 40],
                      [-30, 10, 50, 20], [90, 10, 130, 20]], np.float32)
    kpts = np.full((5, 17, 2), 10, np.float32)
    kpts[0, 0] = [100, 10]  # off the 96-wide canvas
    vis = np.ones((5, 17), np.float32)
    vis[3] = 0  # a person without labelled joints is a person all the same
    gt = person_targets(
        dict(
            bbox=boxes,
            keypoints=kpts,
            keypoints_visible=vis,
            iscrowd=[0, 1, 0, 0, 0],
            id=[1, 2, 3, 4, 5],
            input_size=(96, 128)))
    # crowd (1), no width (2) dropped; boxes clipped to the canvas
    np.testing.assert_allclose(gt.bboxes.numpy(),
                               [[0, 0, 20, 30], [0, 10, 50, 20],
                                [90, 10, 96, 20]])
    assert gt.labels.dtype == torch.long and (gt.labels == 0).all()
    assert gt.keypoint_weights[0, 0] == 0 and gt.keypoint_weights[0, 1] == 1
    assert gt.keypoint_weights[1].sum() == 0
    torch.testing.assert_close(gt.keypoint_labels[0, 1],
                               torch.tensor([10 / 96, 10 / 128]))


def test_missing_targets_name_the_pipeline_steps():
    model = build_cascade()
    data = model.data_preprocessor(make_batch(17), training=True)
    for sample in data['data_samples']:
        del sample.gt_instance_labels
    with pytest.raises(ValueError, match='CascadeLabel'):
        model(**data, mode='loss')


def test_wrong_keypoint_count_names_the_setting():
    model = build_cascade(17)
    data = model.data_preprocessor(make_batch(14), training=True)
    with pytest.raises(ValueError, match='num_keypoints'):
        model(**data, mode='loss')


def test_bad_crop_boxes_setting():
    with pytest.raises(ValueError, match='crop_boxes'):
        build_cascade(crop_boxes='random')


def test_person_box_metric_scores_ground_truth_as_perfect(tmp_path):
    from mmpose.evaluation import CocoMetric  # noqa: F401  (registry)
    from mmpose.registry import METRICS
    from xtcocotools.coco import COCO
    ann = osp.join(ROOT, 'data', 'coco_persons_mini', 'annotations',
                   'person_keypoints_train2017.json')
    coco = COCO(ann)
    metric = METRICS.build(dict(type='PersonBoxCocoMetric', ann_file=ann))
    metric.dataset_meta = dict(dataset_name='coco')
    samples = []
    for img_id in coco.getImgIds():
        info = coco.loadImgs(img_id)[0]
        anns = [
            a for a in coco.loadAnns(coco.getAnnIds(imgIds=img_id))
            if not a['iscrowd']
        ]
        xywh = np.array([a['bbox'] for a in anns], np.float32).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)
        samples.append(
            dict(
                img_id=img_id,
                ori_shape=(info['height'], info['width']),
                pred_instances=dict(
                    bboxes=xyxy, bbox_scores=np.ones(len(xyxy)))))
    metric.process({}, samples)
    result = metric.evaluate(len(samples))
    assert result['person/bbox_mAP'] > 0.99, result
    # a shifted box set scores far lower: the metric reads the boxes
    metric.results.clear()
    for s in samples:
        s['pred_instances']['bboxes'] = s['pred_instances']['bboxes'] + 50
    metric.process({}, samples)
    assert metric.evaluate(len(samples))['person/bbox_mAP'] < 0.5


def test_targets_use_the_canvas_not_the_original_image_size():
    """BottomupRandomAffine leaves img_shape at the original image's size;
    targets are normalised by the canvas (input_size)."""
    model = build_cascade()
    batch = make_batch(17, persons=(2, ))
    sample = batch['data_samples'][0]
    sample.set_metainfo(dict(img_shape=(480, 640)))  # stale, as in training
    gts, metas = model._gt_persons(batch['data_samples'])
    assert metas[0]['img_shape'] == (128, 96)
    want = sample.gt_instances.keypoints / np.array([96, 128])
    np.testing.assert_allclose(gts[0].keypoint_labels.numpy(), want, rtol=1e-5)


def test_training_pipeline_gives_boxes_and_joints_on_the_canvas():
    from mmpose.registry import DATASETS
    cfg = Config.fromfile(CASCADE_CONFIG)
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.data_root = osp.join(ROOT, 'data', 'coco_persons_mini')
    dataset = DATASETS.build(ds_cfg)
    model = build_cascade()
    w, h = cfg.input_size
    for i in range(4):
        item = dataset[i]
        assert item['inputs'].shape[-2:] == (h, w)
        gts, _ = model._gt_persons([item['data_samples']])
        boxes = gts[0].bboxes
        assert len(boxes) > 0 and len(gts[0].labels) == len(boxes)
        assert boxes[:, 0::2].max() <= w and boxes[:, 1::2].max() <= h
        assert ((boxes[:, 2:] - boxes[:, :2]) >= 1).all()
        kpts = gts[0].keypoint_labels[gts[0].keypoint_weights > 0]
        assert len(kpts) and ((kpts >= 0) & (kpts <= 1)).all()


def test_keypoint_stage_reuses_the_person_loss_matching(monkeypatch):
    """One assignment per decoder layer and image (the loss's own), and the
    keypoint stage gets the last layer's matches."""
    model = build_cascade(crop_boxes='pred')
    data = model.data_preprocessor(make_batch(17), training=True)
    recorder = model.person_head.bbox_head.assigner
    calls = []
    inner = recorder.assigner.assign

    def counting(*args, **kwargs):
        calls.append(kwargs['pred_instances'].bboxes.detach().clone())
        return inner(*args, **kwargs)

    monkeypatch.setattr(recorder.assigner, 'assign', counting)
    seen = {}
    keypoints = model._keypoints

    def spy(feats, boxes, batch_inds, *args, **kwargs):
        seen.update(boxes=boxes.detach(), batch_inds=batch_inds)
        return keypoints(feats, boxes, batch_inds, *args, **kwargs)

    monkeypatch.setattr(model, '_keypoints', spy)
    model(**data, mode='loss')
    num_layers = 2
    assert len(calls) == num_layers * 2  # layers x images, nothing more
    # the matched queries' boxes are the predicted boxes of the matches a
    # fresh assignment of the last layer gives
    with torch.no_grad():
        feats, (cls, boxes) = model._forward_persons(data['inputs'])
    gts, metas = model._gt_persons(data['data_samples'])
    from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
    want = []
    for b, (gt, meta) in enumerate(zip(gts, metas)):
        h, w = meta['img_shape']
        pred = InstanceData(
            scores=cls[-1, b],
            bboxes=bbox_cxcywh_to_xyxy(boxes[-1, b]) *
            boxes.new_tensor([w, h, w, h]))
        res = inner(pred_instances=pred, gt_instances=gt, img_meta=meta)
        want.append(boxes[-1, b, (res.gt_inds > 0).nonzero()[:, 0]])
    torch.testing.assert_close(seen['boxes'], torch.cat(want))
    assert seen['batch_inds'].tolist() == [0, 0, 1]


@pytest.mark.parametrize('deformable', [False, True])
def test_non_finite_person_predictions_reach_the_loss(deformable):
    """Diverged weights: the person matching (mmdet's assigner, scipy) gets
    finite stand-ins, so the step ends in non-finite losses, which
    NonFiniteCheckHook names, not in scipy's bare ValueError."""
    if deformable:
        from test_cascade_deformable import build
        model = build(False, False, crop_boxes='pred')
        cls_layer = model.person_head.bbox_head.cls_branches[0]
    else:
        model = build_cascade(crop_boxes='pred')
        cls_layer = model.person_head.bbox_head.fc_cls
    with torch.no_grad():
        cls_layer.bias[0] = float('nan')  # the person logit
        if not deformable:  # DETR's softmax: an inf no-object logit too
            cls_layer.bias[1] = float('inf')
    data = model.data_preprocessor(make_batch(17), training=True)
    losses = model(**data, mode='loss')
    assert not torch.isfinite(losses['person.loss_cls'])
    assert torch.isfinite(losses['person.loss_bbox'])


def test_bad_keypoint_loss_space_setting():
    with pytest.raises(ValueError, match='kpt_loss_space'):
        build_cascade(kpt_loss_space='canvas')


def test_keypoint_loss_in_crop_space(monkeypatch):
    """kpt_loss_space='crop': predictions and targets both relative to each
    person's crop; mapped back they are the image-space ones."""
    seen = {}
    for space in ('image', 'crop'):
        torch.manual_seed(0)
        model = build_cascade(crop_boxes='gt', kpt_loss_space=space)
        data = model.data_preprocessor(make_batch(17), training=True)
        loss_by_feat = model.keypoint_head.loss_by_feat
        keypoints = model._keypoints

        def spy_loss(cls, kpts, gt, weights, space=space):
            seen[space] = dict(kpts=kpts.detach(), gt=gt, weights=weights)
            return loss_by_feat(cls, kpts, gt, weights)

        def spy_boxes(feats, boxes, *args, space=space, **kwargs):
            seen[space + '_boxes'] = boxes.detach()
            return keypoints(feats, boxes, *args, **kwargs)

        monkeypatch.setattr(model.keypoint_head, 'loss_by_feat', spy_loss)
        monkeypatch.setattr(model, '_keypoints', spy_boxes)
        losses = model(**data, mode='loss')
        assert torch.isfinite(losses['kpt.loss_kpt'])
    image, crop = seen['image'], seen['crop']
    boxes = seen['crop_boxes']
    assert torch.equal(boxes, seen['image_boxes'])
    assert ((crop['gt'] >= 0) & (crop['gt'] <= 1)).all()
    assert not torch.allclose(crop['gt'], image['gt'])
    # the crop-relative targets are the image targets in the crop's frame
    inside = ((image['gt'] >= 0) & (image['gt'] <= 1)).all(-1)
    back = crop_to_image(crop['gt'], boxes, clamp=False)
    inside &= ((crop['gt'] > 0) & (crop['gt'] < 1)).all(-1)
    assert inside.any()
    assert torch.allclose(back[inside], image['gt'][inside], atol=1e-5)
    assert torch.allclose(
        crop_to_image(crop['kpts'], boxes), image['kpts'], atol=1e-5)


def test_crop_space_targets_do_not_train_the_boxes(monkeypatch):
    """With predicted crop boxes, the boxes get the keypoint loss's gradient
    through the crop only, not through the crop-relative targets."""
    model = build_cascade(crop_boxes='pred', kpt_loss_space='crop')
    data = model.data_preprocessor(make_batch(17), training=True)
    loss_by_feat = model.keypoint_head.loss_by_feat
    seen = {}

    def spy_loss(cls, kpts, gt, weights):
        seen['gt_grad'] = gt.requires_grad
        return loss_by_feat(cls, kpts, gt, weights)

    monkeypatch.setattr(model.keypoint_head, 'loss_by_feat', spy_loss)
    losses = model(**data, mode='loss')
    assert seen['gt_grad'] is False
    losses['kpt.loss_kpt'].backward()  # the crop still reaches the boxes
    assert model.person_head.bbox_head.fc_reg.weight.grad.abs().sum() > 0
