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


def test_assigner_on_non_finite_predictions():
    """NaN predictions (diverged weights) still get a one-to-one
    assignment, so the loss turns NaN and NonFiniteCheckHook, not the
    solver, stops the step; finite problems keep their optimum."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 2, 6, 5, generator=g)
    coords = torch.rand(2, 2, 6, 2, generator=g)
    gt = torch.rand(2, 4, 2, generator=g)
    clean = KeypointHungarianAssigner().assign(logits, coords, gt)
    logits[1, 0, 2] = float('nan')
    coords[0, 1, 3, 0] = float('inf')
    assigned = KeypointHungarianAssigner().assign(logits, coords, gt)
    for layer, img in itertools.product(range(2), range(2)):
        assert len(set(assigned[layer, img].tolist())) == 4
    assert torch.equal(assigned[0, 0], clean[0, 0])
    assert torch.equal(assigned[1, 1], clean[1, 1])


def _total(cost, cols):
    """Summed cost of each problem's assignment (rows -> cols)."""
    return np.take_along_axis(cost, cols[..., None], 2).sum((1, 2))


@pytest.mark.parametrize('ties', [False, True])
def test_batched_solver_cost_equals_scipy(ties):
    """lapx's batch solve reaches scipy's optimum, ties included."""
    from prtr.models.task_modules import batched_linear_assignment
    rng = np.random.default_rng(0)
    if ties:  # few distinct values: many optimal assignments
        cost = rng.integers(0, 3, (200, 17, 30)).astype(np.float32)
    else:
        cost = rng.random((200, 17, 100), dtype=np.float32)
    cols = batched_linear_assignment(cost, 'lapx')
    ref = batched_linear_assignment(cost, 'scipy')
    assert cols.shape == (200, 17)
    assert all(len(set(c)) == 17 for c in cols)  # one query per joint
    np.testing.assert_allclose(_total(cost, cols), _total(cost, ref))
    if not ties:  # distinct random costs: the optimum is unique
        assert (cols == ref).all()


def test_batched_solver_rejects_more_rows_than_columns():
    from prtr.models.task_modules import batched_linear_assignment
    with pytest.raises(ValueError, match='cannot assign 5 rows to 3'):
        batched_linear_assignment(np.zeros((1, 5, 3)))


@pytest.mark.parametrize('value', [np.nan, np.inf])
def test_batched_solver_names_non_finite_cost(value):
    from prtr.models.task_modules import batched_linear_assignment
    cost = np.random.RandomState(0).rand(3, 4, 6)
    cost[2, 1, 5] = value
    for solver in ('lapx', 'scipy'):
        with pytest.raises(ValueError, match='problem 2, row 1, column 5'):
            batched_linear_assignment(cost, solver)


def test_class_cost_equals_mmdet_classification_cost():
    """KeypointClassCost is mmdet's ClassificationCost (labels 0..K-1),
    batched and joint-major."""
    from mmdet.models.task_modules import ClassificationCost
    from mmengine.structures import InstanceData

    from prtr.models.task_modules import KeypointClassCost
    logits = torch.randn(2, 3, 20, 18)
    gt = torch.rand(3, 17, 2)
    ours = KeypointClassCost(weight=2.)(
        pred_instances=InstanceData(scores=logits),
        gt_instances=InstanceData(keypoints=gt))
    assert ours.shape == (2, 3, 17, 20)
    mmdet_cost = ClassificationCost(weight=2.)
    for layer in range(2):
        for img in range(3):
            ref = mmdet_cost(
                InstanceData(scores=logits[layer, img]),
                InstanceData(labels=torch.arange(17)))
            torch.testing.assert_close(ours[layer, img], ref.T)
