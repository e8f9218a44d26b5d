# Copyright (c) prtr authors. All rights reserved.
"""PRTR's matching and set loss against the official code, side by side.

    python tools/analysis_tools/benchmark_prtr_ops.py [--repeats N]

Both sides run in one process, one after the other, on the same inputs;
medians over the repeats. The official side re-implements what upstream's
``two_stage/lib/models/matcher.py`` (``HungarianMatcher``) and
``two_stage/lib/core/loss.py`` (``SetCriterion``) do: per decoder layer a
batched cost (softmax, ``-prob[..., :K] + 5 * cdist(p=1)``), ``.cpu()``,
scipy's ``linear_sum_assignment`` per image, then per layer a
cross-entropy and an L1 loss gathered through index permutations.

1. The assigner for 32 images x 6 decoder layers (N=100, K=17), with the
   config's solver and with ``solver='device'`` (tensor operations, no host
   transfer). Goal: ours / official <= 0.5.
2. The PRTR head's training step (R-50 head: 2048-channel 12x9 features,
   forward, assignment, loss, backward), batch 32 (``--step-batch``): time
   and aten operators (torch.profiler), for the whole step and for the loss
   path alone (assignment + losses + their backward, from fixed head
   outputs); the step also as it was before the lean transformer forward
   (mmdet's modules' forward) and, with ``--compile``, under
   ``torch.compile``; and the host's work per step: the same step of the
   head at width 8 and batch 1, where arithmetic is negligible.
3. On a GPU: host synchronisations in the loss path
   (``torch.cuda.set_sync_debug_mode``).
"""
import argparse
import copy
import os.path as osp
import platform
import statistics
import sys
import time
import warnings

import torch
import torch.nn.functional as F

try:
    import prtr  # noqa: F401
except ImportError:
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..', 'projects'))
    import prtr  # noqa: F401

from mmengine.config import Config
from mmpose.registry import MODELS
from mmpose.utils import register_all_modules
from scipy.optimize import linear_sum_assignment

from prtr.models.layers.detr_transformer import DETR_TRANSFORMER

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIG = osp.join(ROOT, 'configs', 'prtr_res50_4xb32-200e_coco-384x288.py')


def official_matcher(logits, coords, targets, num_joints):
    """Upstream ``HungarianMatcher.forward`` for one decoder layer."""
    with torch.no_grad():
        prob = logits.softmax(-1)
        cost = 5 * torch.cdist(coords, targets, p=1) - prob[..., :num_joints]
        cost = cost.transpose(1, 2).cpu()  # [B, K, N]
        indices = [linear_sum_assignment(c) for c in cost]
        return [(torch.as_tensor(i, dtype=torch.int64),
                 torch.as_tensor(j, dtype=torch.int64)) for i, j in indices]


def official_set_loss(all_logits, all_coords, targets, weights, eos_coef=0.1):
    """Upstream ``SetCriterion.forward`` (labels + kpts, every layer)."""
    num_joints = targets.size(1)
    empty_weight = torch.ones(num_joints + 1, device=all_logits.device)
    empty_weight[-1] = eos_coef
    losses = {}
    for layer, (logits, coords) in enumerate(zip(all_logits, all_coords)):
        indices = official_matcher(logits, coords, targets, num_joints)
        batch = torch.cat(
            [torch.full_like(j, i) for i, (_, j) in enumerate(indices)])
        src = torch.cat([i for i, _ in indices])
        tgt = torch.cat([j for _, j in indices])
        classes = torch.full(
            logits.shape[:2],
            num_joints,
            dtype=torch.int64,
            device=logits.device)
        classes[batch, tgt] = src.to(logits.device)
        loss_ce = F.cross_entropy(
            logits.transpose(1, 2), classes, empty_weight)
        l1 = F.l1_loss(
            targets[batch, src], coords[batch, tgt],
            reduction='none') * weights[batch, src]
        suffix = '' if layer == len(all_logits) - 1 else f'_{layer}'
        losses['loss_ce' + suffix] = loss_ce
        losses['loss_kpts' + suffix] = 5 * l1.mean() * num_joints
    return losses


def median_times(fns, repeats, device):
    """Median seconds per call of each function, the calls interleaved
    (one of each per round) so that a change in machine load hits all
    (``torch.utils.benchmark.Timer`` times one statement at a time, with
    untimed calls before each measurement: see
    :func:`prtr.benchmarking.time_steps`)."""
    for fn in fns.values():
        fn()  # warm-up
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            if device != 'cpu':
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def count_aten_ops(fn):
    """aten operators dispatched by one call (forward and backward)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(1 for e in prof.events() if e.name.startswith('aten::'))


def make_inputs(device,
                batch_size=32,
                num_layers=6,
                num_queries=100,
                num_joints=17):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(
        num_layers, batch_size, num_queries, num_joints + 1, generator=g)
    coords = torch.rand(num_layers, batch_size, num_queries, 2, generator=g)
    targets = torch.rand(batch_size, num_joints, 2, generator=g)
    weights = (torch.rand(batch_size, num_joints, 1, generator=g)
               > 0.2).float()
    return [t.to(device) for t in (logits, coords, targets, weights)]


def bench_assigner(head, repeats, device):
    """Seconds per call: our assigner as configured, the same with
    ``solver='device'`` (no host transfer), and the official matcher."""
    logits, coords, targets, _ = make_inputs(device)
    on_device = copy.copy(head.assigner)
    on_device.solver = 'device'
    return median_times(
        dict(
            ours=lambda: head.assigner.assign(logits, coords, targets),
            device=lambda: on_device.assign(logits, coords, targets),
            official=lambda: [
                official_matcher(lg, c, targets, targets.size(1))
                for lg, c in zip(logits, coords)
            ]), repeats, device)


def ours_loss(head, logits, coords, targets, weights):
    """Our set loss of every decoder layer, summed as ``parse_losses``."""
    losses = head.loss_by_feat(logits, coords, targets, weights[..., 0])
    return sum(v for k, v in losses.items() if 'loss' in k)


def official_loss(logits, coords, targets, weights):
    return sum(official_set_loss(logits, coords, targets, weights).values())


def compare(fns, repeats, device):
    """``{name: (median seconds, aten operators)}`` of each function."""
    times = median_times(fns, repeats, device)
    return {
        name: (times[name], count_aten_ops(fn))
        for name, fn in fns.items()
    }


def bench_loss_path(head, repeats, device):
    """Assignment + losses + their backward, from fixed head outputs."""
    logits, coords, targets, weights = make_inputs(device)
    logits.requires_grad_(True)
    coords.requires_grad_(True)
    inputs = (logits, coords, targets, weights)
    return compare(
        dict(
            ours=lambda: ours_loss(head, *inputs).backward(),
            official=lambda: official_loss(*inputs).backward()), repeats,
        device)


def train_steps(head, feats, targets, weights, compiled=False):
    """Training steps of the head (forward, loss, backward): ``ours``
    (lean transformer forward, our loss), ``before`` (mmdet's transformer
    modules' forward, our loss: the step before the lean forward),
    ``official`` (the same layers as the official DETR transformer,
    ``nn.MultiheadAttention``, and the official loss) and with ``compiled``
    ours under ``torch.compile`` (inductor)."""

    supported = head.lean_forward  # False: the config is not DETR's

    def step(loss, lean, model=head):

        def run():
            head.lean_forward = lean and supported
            loss(head, *model(feats), targets, weights).backward()

        return run

    steps = dict(
        ours=step(ours_loss, True),
        before=step(ours_loss, False),
        official=step(lambda _, *args: official_loss(*args), False))
    if compiled:
        steps['compiled'] = step(ours_loss, True, torch.compile(head))
    return steps


def head_steps(head, device, batch_size=32, compiled=False):
    """:func:`train_steps` on fixed R-50 features."""
    feats = (torch.randn(batch_size, 2048, 12, 9, device=device), )
    _, _, targets, weights = make_inputs(device, batch_size=batch_size)
    return train_steps(head, feats, targets, weights, compiled)


def narrow_head(head_cfg, device, width=8):
    """The R-50 head (6 + 6 layers, 100 queries, 8 heads) at width 8 on an
    8-channel map: its step runs the same operators with next to no
    arithmetic, so its time is the host's work per step (dispatch, Python,
    autograd), what bounds a GPU step at the configs' batch sizes."""
    cfg = copy.deepcopy(head_cfg)
    transformer = copy.deepcopy(DETR_TRANSFORMER)
    for part in transformer.values():
        layer = part['layer_cfg']
        for name in ('self_attn_cfg', 'cross_attn_cfg'):
            if name in layer:
                layer[name]['embed_dims'] = width
        layer['ffn_cfg'].update(
            embed_dims=width, feedforward_channels=2 * width)
    cfg.update(
        in_channels=width,
        embed_dims=width,
        transformer=transformer,
        positional_encoding=dict(num_feats=width // 2, normalize=True))
    return MODELS.build(cfg).to(device).train()


def host_steps(head_cfg, device, width=8):
    """:func:`train_steps` of :func:`narrow_head`, batch 1."""
    feats = (torch.randn(1, width, 12, 9, device=device), )
    _, _, targets, weights = make_inputs(device, batch_size=1)
    return train_steps(
        narrow_head(head_cfg, device, width), feats, targets, weights)


def count_syncs(head, device):
    """Host synchronisations of the loss path (CUDA only)."""
    logits, coords, targets, weights = make_inputs(device)
    logits.requires_grad_(True)
    torch.cuda.set_sync_debug_mode('warn')
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            ours_loss(head, logits, coords, targets, weights).backward()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    return sum('synchroniz' in str(w.message) for w in caught)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--skip-step',
        action='store_true',
        help='skip the whole-step measurement (seconds per step on a CPU)')
    parser.add_argument(
        '--step-batch',
        type=int,
        default=32,
        help='batch size of the head training step (32: the configs\' per-GPU '
        'batch; a small one shows the dispatch-bound regime)')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='also time the step under torch.compile (inductor; minutes of '
        'compilation on a CPU)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    register_all_modules()
    head_cfg = Config.fromfile(CONFIG).model.head
    head = MODELS.build(head_cfg).to(args.device).train()
    print(f'machine: {platform.node()} {platform.processor()}, '
          f'{args.threads} thread(s), torch {torch.__version__}, '
          f'device {args.device}')

    # One training step of the head first, as any training loop has run
    # before its n-th matching: glibc raises its mmap threshold once large
    # blocks are freed, after which MB-sized buffers come from the heap
    # instead of fresh zeroed pages (without it the batched assigner's
    # 1-2 MB buffers page-fault on every call: ~1.5 ms of its ~3.5 ms here)
    head_steps(head, args.device)['ours']()
    head.zero_grad(set_to_none=True)
    times = bench_assigner(head, args.repeats, args.device)
    ours, device, official = times['ours'], times['device'], times['official']
    print(f'1. assigner, 32 images x 6 layers (N=100, K=17): ours '
          f'({head.assigner.solver!r} solver) {ours * 1e3:.2f} ms, official '
          f'{official * 1e3:.2f} ms, ratio {ours / official:.3f} (goal <= '
          f"0.5); ours with solver='device' {device * 1e3:.2f} ms, ratio "
          f'{device / official:.3f}')

    rows = [('loss path (assign + loss + backward)',
             bench_loss_path(head, args.repeats, args.device))]
    if not args.skip_step:
        rows.append((f'head training step, batch {args.step_batch}',
                     compare(
                         head_steps(head, args.device,
                                    args.step_batch, args.compile),
                         max(3, args.repeats // 3), args.device)))
    rows.append(('host work per step (the head at width 8, batch 1)',
                 compare(
                     host_steps(head_cfg, args.device), 10 * args.repeats,
                     args.device)))
    for i, (name, res) in enumerate(rows, 2):
        (t_o, n_o), (t_u, n_u) = res['ours'], res['official']
        print(f'{i}. {name}: ours {t_o * 1e3:.1f} ms / {n_o} aten ops, '
              f'official {t_u * 1e3:.1f} ms / {n_u} ops; ratios time '
              f'{t_o / t_u:.3f}, ops {n_o / n_u:.3f}')
        for other in ('before', 'compiled'):
            if other in res:
                t, n = res[other]
                print(f'   {other}: {t * 1e3:.1f} ms / {n} aten ops; ours / '
                      f'{other}: time {t_o / t:.3f}, ops {n_o / n:.3f}')
    if args.device != 'cpu':
        configured = count_syncs(head, args.device)
        solver = head.assigner.solver
        head.assigner.solver = 'device'
        try:
            on_device = count_syncs(head, args.device)
        finally:
            head.assigner.solver = solver
        print(f'{len(rows) + 2}. host synchronisations in the loss path: '
              f'{configured} ({solver!r} solver), {on_device} '
              "(solver='device'; goal 0)")


if __name__ == '__main__':
    main()
