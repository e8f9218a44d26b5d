import pytest
import torch
from _tiny import tiny_head_cfg
from mmpose.registry import MODELS


def test_set_loss_by_hand():
    """Two joints, three queries, one image, two decoder layers."""
    head = MODELS.build(tiny_head_cfg(num_keypoints=2, num_queries=3))
    # class scores: query 0 says joint 1, query 2 says joint 0
    logits = torch.tensor([[[0., 3., 0.], [0., 0., 2.], [3., 0., 0.]]])
    coords = torch.tensor([[[0.2, 0.2], [0.9, 0.9], [0.6, 0.4]]])
    gt = torch.tensor([[[0.5, 0.5], [0.25, 0.25]]])
    weights = torch.tensor([[1., 0.]])  # joint 1 is not visible
    all_logits = torch.stack([logits, logits])
    all_coords = torch.stack([coords, coords])

    losses = head.loss_by_feat(all_logits, all_coords, gt, weights)

    # matching (all joints, official): joint 0 -> query 2, joint 1 -> query 0
    # CE: targets [1, 2(no kpt), 0], class weights [1, 1, 0.1]
    def nll(row, cls):
        return -(row[cls] - torch.logsumexp(row, 0)).item()

    ce = (1 * nll(logits[0, 0], 1) + 0.1 * nll(logits[0, 1], 2) +
          1 * nll(logits[0, 2], 0)) / (1 + 0.1 + 1)
    # L1: only joint 0 counts: |0.6-0.5| + |0.4-0.5| = 0.2; mean over
    # B*K*2 = 4 terms, times K = 2, times the loss weight 5
    l1 = 0.2 / 4 * 2 * 5
    for prefix in ('', 'd0.'):
        assert losses[prefix + 'loss_cls'].item() == pytest.approx(ce)
        assert losses[prefix + 'loss_kpt'].item() == pytest.approx(l1)
    assert set(losses) == {
        'loss_cls', 'loss_kpt', 'd0.loss_cls', 'd0.loss_kpt', 'acc_cls'
    }
    assert losses['acc_cls'].item() == pytest.approx(1.0)


def test_set_loss_matches_official_formula():
    """Every decoder layer's loss (computed in one batch) equals upstream's
    per-layer F.cross_entropy(weight) and l1.mean() * K on random inputs."""
    import torch.nn.functional as F
    torch.manual_seed(0)
    num_layers, k, n, bs = 3, 5, 9, 4
    head = MODELS.build(tiny_head_cfg(num_keypoints=k, num_queries=n))
    logits = torch.randn(num_layers, bs, n, k + 1)
    coords = torch.rand(num_layers, bs, n, 2)
    gt = torch.rand(bs, k, 2)
    weights = (torch.rand(bs, k) > 0.3).float()
    losses = head.loss_by_feat(logits, coords, gt, weights)

    all_assigned = head.assigner.assign(logits, coords, gt, weights)
    empty_weight = torch.ones(k + 1)
    empty_weight[-1] = 0.1
    for layer, assigned in enumerate(all_assigned):
        target = torch.full((bs, n), k)
        for b in range(bs):
            target[b, assigned[b]] = torch.arange(k)
        ce = F.cross_entropy(logits[layer].transpose(1, 2), target,
                             empty_weight)
        matched = torch.stack(
            [coords[layer, b, assigned[b]] for b in range(bs)])
        l1 = (F.l1_loss(matched, gt, reduction='none') *
              weights[..., None]).mean() * k
        prefix = '' if layer == num_layers - 1 else f'd{layer}.'
        assert losses[prefix + 'loss_cls'].item() == pytest.approx(
            ce.item(), rel=1e-6)
        assert losses[prefix + 'loss_kpt'].item() == pytest.approx(
            5 * l1.item(), rel=1e-6)
