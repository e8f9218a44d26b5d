# Copyright (c) prtr authors. All rights reserved.
"""PRTR's matching and set loss against the official code, side by side.

The official side re-implements upstream's ``HungarianMatcher`` and
``SetCriterion``; both get the R-50 head's inputs, on 1 thread. What each
row measures: docs/benchmarks.md.
"""
import argparse
import copy
import os.path as osp
import warnings
from typing import Callable, Dict, List

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmpose.registry import MODELS
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn
from torch.profiler import ProfilerActivity, profile

from prtr.benchmarking import time_alternating

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


def official_loss(logits, coords, targets, weights) -> Tensor:
    return sum(official_set_loss(logits, coords, targets, weights).values())


def ours_loss(head: nn.Module, logits, coords, targets, weights) -> Tensor:
    """Our set loss of every decoder layer, summed as ``parse_losses``."""
    losses = head.loss_by_feat(logits, coords, targets, weights[..., 0])
    return sum(v for k, v in losses.items() if 'loss' in k)


def measure(row: str, fns: Dict[str, Callable], rounds: int) -> None:
    """Print each function's median time and aten operators per call, and
    ours (the first) / it (:func:`prtr.benchmarking.time_alternating`)."""
    times = time_alternating(fns, rounds, min_run_time=0.1)
    print(row)
    for name, fn in fns.items():
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fn()
        ops = sum(e.name.startswith('aten::') for e in prof.events())
        ms = times[name]
        if name == 'ours':
            ours = ms, ops
        print(f'   {name}: {ms:.2f} ms, {ops} aten ops; ours / {name}: time '
              f'{ours[0] / ms:.3f}, ops {ours[1] / ops:.3f}')


def make_inputs(device: str, batch_size: int = 32) -> List[Tensor]:
    """Seeded head outputs of 6 layers, targets and target weights."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, batch_size, 100, 18, generator=g)
    coords = torch.rand(6, batch_size, 100, 2, generator=g)
    targets = torch.rand(batch_size, 17, 2, generator=g)
    weights = (torch.rand(batch_size, 17, 1, generator=g) > 0.2).float()
    return [t.to(device) for t in (logits, coords, targets, weights)]


def train_steps(head: nn.Module,
                feats: Tensor,
                compiled: bool = False) -> Dict[str, Callable]:
    """The head's training step: ``ours``, ``before`` (mmdet's forward),
    ``official`` (and the official loss), ``compiled`` (ours, inductor)."""
    _, _, targets, weights = make_inputs(feats.device, feats.size(0))

    def step(loss: Callable, lean: bool, model: nn.Module = head):

        def run():
            head.lean_forward = lean
            loss(head, *model((feats, )), targets, weights).backward()

        return run

    steps = dict(
        ours=step(ours_loss, True),
        before=step(ours_loss, False),
        official=step(lambda _, *args: official_loss(*args), False))
    if compiled:
        steps['compiled'] = step(ours_loss, True, torch.compile(head))
    return steps


def narrow_head(head_cfg: Config, width: int = 8) -> nn.Module:
    """The R-50 head at ``width``: its operators with next to no
    arithmetic, so that a step's time is the host's work."""
    cfg = copy.deepcopy(head_cfg)
    for part in cfg.transformer.values():
        for module_cfg in part.layer_cfg.values():  # attentions and FFN
            module_cfg.embed_dims = width
        part.layer_cfg.ffn_cfg.feedforward_channels = 2 * width
    cfg.update(in_channels=width, embed_dims=width)
    cfg.positional_encoding.num_feats = width // 2
    return MODELS.build(cfg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=10, help='rounds')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--skip-step', action='store_true', help='no row 3')
    parser.add_argument('--step-batch', type=int, default=32, help='row 3')
    parser.add_argument(
        '--compile', action='store_true', help='row 3 also compiled')
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the timers run
    device, rounds = args.device, args.repeats
    print(f'device {device}, 1 thread, torch {torch.__version__}')
    head_cfg = Config.fromfile(CONFIG).model.head
    head = MODELS.build(head_cfg).to(device).train()
    # a training step first, as in training: glibc then serves the
    # assigner's MB buffers from the heap, not fresh zeroed pages per call
    train_steps(head, torch.randn(32, 2048, 12, 9, device=device))['ours']()
    head.zero_grad(set_to_none=True)

    logits, coords, targets, weights = make_inputs(device)
    on_device = copy.copy(head.assigner)
    on_device.solver = 'device'
    measure(
        f'1. assigner, 32 images x 6 layers, {head.assigner.solver!r} solver',
        dict(
            ours=lambda: head.assigner.assign(logits, coords, targets),
            device_solver=lambda: on_device.assign(logits, coords, targets),
            official=lambda: [
                official_matcher(lg, c, targets, 17)
                for lg, c in zip(logits, coords)
            ]), rounds)
    inputs = (logits.requires_grad_(), coords.requires_grad_(), targets,
              weights)
    measure(
        '2. loss path (assign + loss + backward)',
        dict(
            ours=lambda: ours_loss(head, *inputs).backward(),
            official=lambda: official_loss(*inputs).backward()), rounds)
    if not args.skip_step:
        feats = torch.randn(args.step_batch, 2048, 12, 9, device=device)
        measure(f'3. head training step, batch {args.step_batch}',
                train_steps(head, feats, args.compile), max(3, rounds // 3))
    narrow = narrow_head(head_cfg).to(device).train()
    measure('4. host work per step (the head at width 8, batch 1)',
            train_steps(narrow, torch.randn(1, 8, 12, 9, device=device)),
            rounds)
    if device == 'cuda':  # CUDA's sync debug mode warns of each host sync
        torch.cuda.set_sync_debug_mode('warn')
        for solver in (head.assigner.solver, 'device'):
            head.assigner.solver = solver
            with warnings.catch_warnings(record=True) as syncs:
                warnings.simplefilter('always')
                ours_loss(head, *inputs).backward()
            print(f'5. host synchronisations of the loss path, {solver!r} '
                  f'solver: {len(syncs)} (goal: 0)')


if __name__ == '__main__':
    main()
