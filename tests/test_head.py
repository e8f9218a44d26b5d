import numpy as np
import pytest
import torch
from _tiny import tiny_head_cfg
from mmpose.registry import MODELS
from mmpose.testing import get_packed_inputs

INPUT_SIZE = (48, 64)  # (w, h)


def _samples(bs, num_keypoints, seed=0):
    """mmpose's fake top-down batch: one person per sample, normalised
    regression labels, a random permutation as flip indices."""
    np.random.seed(seed)  # get_packed_inputs draws from numpy's global RNG
    return get_packed_inputs(
        batch_size=bs,
        num_keypoints=num_keypoints,
        img_shape=INPUT_SIZE[::-1],
        input_size=INPUT_SIZE,
        with_heatmap=False,
        with_simcc_label=False)['data_samples']


@pytest.mark.parametrize('num_keypoints', [17, 14])
def test_forward_shapes(num_keypoints):
    head = MODELS.build(tiny_head_cfg(num_keypoints=num_keypoints))
    head.init_weights()
    feats = (torch.randn(2, 16, 4, 3), )
    cls, kpt = head(feats)
    assert cls.shape == (2, 2, 20, num_keypoints + 1)
    assert kpt.shape == (2, 2, 20, 2)
    assert ((kpt >= 0) & (kpt <= 1)).all()


@pytest.mark.parametrize('num_keypoints', [17, 14])
def test_loss_backward(num_keypoints):
    head = MODELS.build(tiny_head_cfg(num_keypoints=num_keypoints))
    feats = (torch.randn(3, 16, 4, 3, requires_grad=True), )
    losses = head.loss(feats, _samples(3, num_keypoints))
    assert set(losses) == {
        'loss_cls', 'loss_kpt', 'd0.loss_cls', 'd0.loss_kpt', 'acc_cls'
    }
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert feats[0].grad.abs().sum() > 0
    assert head.query_embed.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('num_keypoints', [17, 14])
def test_predict(num_keypoints):
    head = MODELS.build(tiny_head_cfg(num_keypoints=num_keypoints)).eval()
    feats = (torch.randn(2, 16, 4, 3), )
    preds = head.predict(feats, _samples(2, num_keypoints))
    assert len(preds) == 2
    for p in preds:
        assert p.keypoints.shape == (1, num_keypoints, 2)
        assert p.keypoint_scores.shape == (1, num_keypoints)
        assert (p.keypoints[..., 0] <= INPUT_SIZE[0]).all()
        assert (p.keypoints[..., 1] <= INPUT_SIZE[1]).all()
        assert ((p.keypoint_scores > 0) & (p.keypoint_scores < 1)).all()

    # the decoding is the Hungarian optimum over -softmax(K logits)
    cls, kpt = head(feats)
    prob = cls[-1, 0, :, :-1].softmax(-1)  # [N, K]
    from scipy.optimize import linear_sum_assignment
    _, queries = linear_sum_assignment(-prob.T.detach().numpy())
    expected = prob[queries, torch.arange(num_keypoints)]
    assert torch.allclose(
        torch.as_tensor(preds[0].keypoint_scores[0]), expected, atol=1e-6)
    assert torch.allclose(
        torch.as_tensor(preds[0].keypoints[0]).float(),
        kpt[-1, 0, queries] * torch.tensor(INPUT_SIZE, dtype=torch.float),
        atol=1e-4)


def test_predict_flip_test_averages_mirrored_output():
    head = MODELS.build(tiny_head_cfg()).eval()
    samples = _samples(2, 17)
    flip = samples[0].metainfo['flip_indices']
    feats = (torch.randn(2, 16, 4, 3), )
    feats_flip = (torch.randn(2, 16, 4, 3), )
    plain = head.predict(feats, samples)
    mirrored = head.predict(feats_flip, samples)
    both = head.predict([feats, feats_flip],
                        samples,
                        test_cfg=dict(flip_test=True))
    for p, m, b in zip(plain, mirrored, both):
        m_kpts = m.keypoints[0][flip].copy()
        m_kpts[:, 0] = INPUT_SIZE[0] - m_kpts[:, 0]  # x -> 1 - x, no shift
        expected = (p.keypoints[0] + m_kpts) / 2
        assert abs(b.keypoints[0] - expected).max() < 1e-3
        expected_scores = (p.keypoint_scores[0] +
                           m.keypoint_scores[0][flip]) / 2
        assert abs(b.keypoint_scores[0] - expected_scores).max() < 1e-6


def test_fewer_queries_than_joints_is_rejected():
    with pytest.raises(ValueError, match='num_queries=10 < num_keypoints=17'):
        MODELS.build(tiny_head_cfg(num_queries=10))


def test_wrong_keypoint_count_is_named():
    head = MODELS.build(tiny_head_cfg(num_keypoints=17))
    with pytest.raises(ValueError, match='14 keypoints per person'):
        head.loss((torch.randn(2, 16, 4, 3), ), _samples(2, 14))


def test_loss_and_predict_under_bf16_autocast():
    """AMP: costs and scores in half precision still reach the solver."""
    head = MODELS.build(tiny_head_cfg())
    feats = (torch.randn(2, 16, 4, 3), )
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = head.loss(feats, _samples(2, 17))
        cls, _ = head(feats)
        preds = head.eval().predict(feats, _samples(2, 17))
    assert cls.dtype == torch.bfloat16  # autocast was on
    assert all(torch.isfinite(v) for v in losses.values())
    assert preds[0].keypoints.shape == (1, 17, 2)
