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


@pytest.mark.parametrize('solver', ['auto', 'device'])
@pytest.mark.parametrize('visible_only', [False, True])
@pytest.mark.parametrize('seed', range(4))
def test_assigner_equals_brute_force(seed, visible_only, solver):
    g = torch.Generator().manual_seed(seed)
    num_layers, bs, num_queries, num_joints = 2, 3, 6, 4
    logits = torch.randn(
        num_layers, bs, num_queries, num_joints + 1, generator=g)
    coords = torch.rand(num_layers, bs, num_queries, 2, generator=g)
    gt = torch.rand(bs, num_joints, 2, generator=g)
    weights = (torch.rand(bs, num_joints, generator=g) > 0.4).float()
    weights[0] = 0  # an image with no visible joint at all

    assigner = KeypointHungarianAssigner(
        visible_only=visible_only, solver=solver)
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


@pytest.mark.parametrize('solver', ['auto', 'device'])
def test_assigner_on_non_finite_predictions(solver):
    """NaN predictions (diverged weights) still get a one-to-one
    assignment, so the loss turns NaN and NonFiniteCheckHook, not the
    solver, stops the step; finite problems keep their optimum."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 2, 6, 5, generator=g)
    coords = torch.rand(2, 2, 6, 2, generator=g)
    gt = torch.rand(2, 4, 2, generator=g)
    assigner = KeypointHungarianAssigner(solver=solver)
    clean = assigner.assign(logits, coords, gt)
    logits[1, 0, 2] = float('nan')
    coords[0, 1, 3, 0] = float('inf')
    assigned = assigner.assign(logits, coords, gt)
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
    from prtr.models.task_modules import (batched_linear_assignment,
                                          linear_assignment)
    cost = np.random.RandomState(0).rand(3, 4, 6)
    cost[2, 1, 5] = value
    for solver in ('lapx', 'scipy'):
        with pytest.raises(ValueError, match='problem 2, row 1, column 5'):
            batched_linear_assignment(cost, solver)
    for solver in ('auto', 'device'):
        with pytest.raises(ValueError, match='problem 2, row 1, column 5'):
            linear_assignment(torch.from_numpy(cost), solver)
    with pytest.raises(ValueError, match='cannot assign 5 rows to 3'):
        linear_assignment(torch.zeros(1, 5, 3), 'device')


@pytest.mark.parametrize('kind', ['distinct', 'ties', 'coarse ties'])
@pytest.mark.parametrize('shape', [(17, 100), (17, 17), (1, 5), (6, 7)])
def test_device_solver_cost_equals_scipy(kind, shape):
    """The tensor solver reaches scipy's optimum on every problem, with
    many optimal assignments (ties) and square problems included."""
    from prtr.models.task_modules import (batched_linear_assignment,
                                          device_linear_assignment)
    rng = np.random.default_rng(1)
    size = (60, *shape)
    if kind == 'distinct':
        cost = rng.random(size)
    elif kind == 'ties':  # PRTR-like: -prob + 5 * L1 on a coarse grid
        cost = rng.integers(0, 4, size) * 0.25 - rng.integers(0, 2, size)
    else:
        cost = rng.integers(0, 2, size).astype(np.float64)
    cols = device_linear_assignment(torch.from_numpy(cost)).numpy()
    ref = batched_linear_assignment(cost, 'scipy')
    assert all(len(set(c)) == shape[0] for c in cols)  # one-to-one
    np.testing.assert_allclose(
        _total(cost, cols), _total(cost, ref), rtol=0, atol=1e-12)
    if kind == 'distinct':  # the optimum is unique
        assert (cols == ref).all()


# aten operators that make the host wait for a GPU: results read on the
# host, and host values copied in (``torch.tensor``/``new_tensor`` of data:
# ``lift_fresh``); host transfers do not dispatch on a CPU, patched below
SYNCING_OPS = ('_local_scalar_dense', 'nonzero', 'masked_select', 'unique',
               '_unique2', 'is_nonzero', 'equal', 'lift_fresh')
# these take a 0-dim tensor value that a GPU kernel reads on the host (a
# GPU value) or copies in (a host value, e.g. ``x[index] = True``)
SCALAR_VALUE_OPS = {
    'masked_fill': 2,
    'masked_fill_': 2,
    'fill_': 1,
    'index_put': 2,
    'index_put_': 2
}


def _host_reads(fn, monkeypatch):
    """Names of the operations of ``fn`` that would wait for a GPU."""
    from torch.utils._python_dispatch import TorchDispatchMode
    reads = []

    class Recorder(TorchDispatchMode):

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.overloadpacket.__name__
            value = SCALAR_VALUE_OPS.get(name)
            if name in SYNCING_OPS or (value is not None
                                       and len(args) > value and isinstance(
                                           args[value], torch.Tensor)
                                       and args[value].dim() == 0):
                reads.append(name)
            return func(*args, **(kwargs or {}))

    with monkeypatch.context() as patch:
        for name in ('cpu', 'numpy', 'tolist'):
            method = getattr(torch.Tensor, name)

            def patched(self, *a, _name=name, _method=method, **k):
                reads.append(_name)
                return _method(self, *a, **k)

            patch.setattr(torch.Tensor, name, patched)
        with Recorder():
            fn()
    return reads


def test_host_read_recorder_sees_scalar_copies(monkeypatch):
    """The recorder flags what the GPU check would: an indexed assignment
    of a Python value, a fill by a 0-dim tensor, a tensor made from data,
    ``item``; and not their sync-free forms."""
    x = torch.zeros(3, 4)
    index = torch.tensor([0, 2])
    mask = x > 0

    def syncing():
        x[index, index] = 1.
        x.masked_fill(mask, x.new_tensor(2.))
        x.sum().item()

    def free():
        x.scatter_(1, index[:, None], 1.)
        x.masked_fill(mask, 2.)
        torch.where(mask, x, 0.)

    assert _host_reads(syncing, monkeypatch) == [
        'lift_fresh', 'index_put_', 'lift_fresh', 'masked_fill',
        '_local_scalar_dense'
    ]
    assert _host_reads(free, monkeypatch) == []


@pytest.mark.parametrize('solver', ['auto', 'device'])
def test_loss_path_reads_nothing_on_the_host_with_device_solver(
        solver, monkeypatch):
    """Assignment, losses of all layers and backward with
    ``solver='device'`` dispatch no operator that synchronises a GPU (the
    CPU stand-in for ``torch.cuda.set_sync_debug_mode``); the host solvers
    read the costs, which the recorder must see."""
    from _tiny import tiny_head_cfg
    from mmpose.registry import MODELS
    cfg = tiny_head_cfg(num_keypoints=17)
    cfg['assigner'] = dict(type='KeypointHungarianAssigner', solver=solver)
    head = MODELS.build(cfg)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 20, 18, generator=g, requires_grad=True)
    coords = torch.rand(2, 3, 20, 2, generator=g, requires_grad=True)
    gt = torch.rand(3, 17, 2, generator=g)
    weights = (torch.rand(3, 17, generator=g) > 0.3).float()

    def step():
        losses = head.loss_by_feat(logits, coords, gt, weights)
        sum(v for k, v in losses.items() if 'loss' in k).backward()

    reads = _host_reads(step, monkeypatch)
    if solver == 'device':
        assert reads == []
    else:
        assert 'cpu' in reads and 'numpy' in reads


def test_device_solver_decodes_as_the_host_solver():
    """Inference's matching gives the same joints with either solver."""
    from prtr.models.heads.prtr_head import hungarian_decode
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 30, 18, generator=g)
    coords = torch.rand(5, 30, 2, generator=g)
    host = hungarian_decode(logits, coords)
    device = hungarian_decode(logits, coords, 'device')
    for a, b in zip(host, device):
        assert torch.equal(a, b)


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
