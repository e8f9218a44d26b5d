import itertools

import numpy as np
import pytest
import torch

from prtr.models import KeypointHungarianAssigner


def brute_force(cost, joints):
    """Cheapest injective joint -> query map, by enumeration."""
    num_queries = cost.shape[0]
    best = np.inf
    for queries in itertools.permutations(range(num_queries), len(joints)):
        best = min(best, sum(cost[q, j] for q, j in zip(queries, joints)))
    return best


def reference_cost(logits, coords, gt):
    """PRTR's cost written out: -softmax(K+1)[:, j] + 5 * L1."""
    prob = torch.softmax(logits, -1)[:, :gt.shape[0]]
    l1 = (coords[:, None, :] - gt[None]).abs().sum(-1)
    return (-prob + 5 * l1).numpy()


@pytest.mark.parametrize('visible_only', [False, True])
@pytest.mark.parametrize('seed', range(4))
def test_assigner_equals_brute_force(seed, visible_only):
    g = torch.Generator().manual_seed(seed)
    num_layers, bs, num_queries, num_joints = 2, 3, 6, 4
    logits = torch.randn(
        num_layers, bs, num_queries, num_joints + 1, generator=g)
    coords = torch.rand(num_layers, bs, num_queries, 2, generator=g)
    gt = torch.rand(bs, num_joints, 2, generator=g)
    weights = (torch.rand(bs, num_joints, generator=g) > 0.4).float()
    weights[0] = 0  # an image with no visible joint at all

    assigner = KeypointHungarianAssigner(visible_only=visible_only)
    assigned = assigner.assign(logits, coords, gt, weights)
    assert assigned.shape == (num_layers, bs, num_joints)

    for layer, img in itertools.product(range(num_layers), range(bs)):
        cost = reference_cost(logits[layer, img], coords[layer, img], gt[img])
        joints = (
            weights[img].nonzero()[:, 0].tolist() if visible_only else list(
                range(num_joints)))
        got = assigned[layer, img]
        matched = got[joints]
        assert (matched >= 0).all()
        assert len(set(matched.tolist())) == len(joints)  # one-to-one
        unmatched = sorted(set(range(num_joints)) - set(joints))
        assert (got[unmatched] == -1).all()
        total = sum(cost[q, j] for q, j in zip(matched.tolist(), joints))
        assert total == pytest.approx(brute_force(cost, joints), abs=1e-5)


def test_assigner_single_host_transfer(monkeypatch):
    """All layers and images cross to the host in one tensor."""
    calls = []
    original = torch.Tensor.cpu

    def counting_cpu(self, *args, **kwargs):
        calls.append(tuple(self.shape))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, 'cpu', counting_cpu)
    assigner = KeypointHungarianAssigner()
    assigner.assign(
        torch.randn(6, 8, 20, 18), torch.rand(6, 8, 20, 2),
        torch.rand(8, 17, 2))
    assert calls == [(48, 17, 20)]
