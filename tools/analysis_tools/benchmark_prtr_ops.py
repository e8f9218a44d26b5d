# Copyright (c) prtr authors. All rights reserved.
"""Measure PRTR's matching and decoding costs, side by side in one run.

    python tools/analysis_tools/benchmark_prtr_ops.py [--repeats 5]

1. The training assigner on a batch of 32 images x 6 decoder layers
   (N=100 queries, K=17 joints): the batched assigner (one cost tensor, one
   host transfer) against a naive loop (per image and layer, a cost and a
   host sync each). Goal: batched / naive <= 0.2.
2. The share of ``predict`` (R-50 384x288 PRTR, flip test, as configured)
   spent decoding (softmax, Hungarian matching, codec), goal <= 5 %.
"""
import argparse
import os.path as osp
import platform
import statistics
import sys
import time

import torch

try:
    import prtr  # noqa: F401
except ImportError:
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..', 'projects'))
    import prtr  # noqa: F401

from mmengine.config import Config
from mmpose.registry import MODELS, TASK_UTILS
from mmpose.utils import register_all_modules
from scipy.optimize import linear_sum_assignment

ROOT = osp.join(osp.dirname(__file__), '..', '..')


def median_time(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def naive_assign(costs, cls_scores, kpt_preds, gt):
    """Per layer, per image: build the cost, sync to host, solve."""
    from mmengine.structures import BaseDataElement
    out = []
    labels = torch.arange(gt.shape[1])
    for layer in range(cls_scores.shape[0]):
        for img in range(cls_scores.shape[1]):
            pred = BaseDataElement(
                scores=cls_scores[layer, img], keypoints=kpt_preds[layer, img])
            tgt = BaseDataElement(labels=labels, keypoints=gt[img])
            c = sum(cost(pred, tgt) for cost in costs)
            out.append(linear_sum_assignment(c.T.cpu().numpy()))
    return out


def bench_assigner(repeats, device):
    g = torch.Generator().manual_seed(0)
    cls_scores = torch.randn(6, 32, 100, 18, generator=g).to(device)
    kpt_preds = torch.rand(6, 32, 100, 2, generator=g).to(device)
    gt = torch.rand(32, 17, 2, generator=g).to(device)
    assigner = TASK_UTILS.build(dict(type='KeypointHungarianAssigner'))
    batched = median_time(lambda: assigner.assign(cls_scores, kpt_preds, gt),
                          repeats)
    naive = median_time(
        lambda: naive_assign(assigner.match_costs, cls_scores, kpt_preds, gt),
        repeats)
    return batched, naive


def bench_predict(repeats, device, batch_size):
    import prtr.models.heads.prtr_head as head_mod
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs', 'prtr_res50_4xb32-200e_coco-384x288.py'))
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model).to(device).eval()
    w, h = cfg.codec.input_size
    import numpy as np
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample
    samples = []
    for _ in range(batch_size):
        s = PoseDataSample(
            metainfo=dict(
                flip_indices=list(range(17)),
                input_size=(w, h),
                input_center=np.array([100., 100.]),
                input_scale=np.array([150., 200.])))
        s.gt_instances = InstanceData(
            bboxes=np.array([[25., 0., 175., 200.]]), bbox_scores=np.ones(1))
        samples.append(s)
    inputs = torch.randn(batch_size, 3, h, w, device=device)

    decode_time = [0.0]
    orig_hungarian, orig_decode = head_mod.hungarian_decode, \
        model.head.decode

    def timed(fn):

        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            decode_time[0] += time.perf_counter() - t0
            return out

        return wrapper

    head_mod.hungarian_decode = timed(orig_hungarian)
    model.head.decode = timed(orig_decode)
    totals, decodes = [], []
    with torch.no_grad():
        for i in range(repeats + 1):
            decode_time[0] = 0.0
            t0 = time.perf_counter()
            model.predict(inputs, samples)
            if device != 'cpu':
                torch.cuda.synchronize()
            if i:  # skip warm-up
                totals.append(time.perf_counter() - t0)
                decodes.append(decode_time[0])
    head_mod.hungarian_decode = orig_hungarian
    return statistics.median(totals), statistics.median(decodes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--predict-batch', type=int, default=8)
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = parser.parse_args()
    register_all_modules()
    torch.set_grad_enabled(False)
    print(f'machine: {platform.node()} {platform.processor()} '
          f'{torch.get_num_threads()} threads, torch {torch.__version__}, '
          f'device {args.device}')
    batched, naive = bench_assigner(args.repeats, args.device)
    print(f'assigner, 32 images x 6 layers, N=100, K=17: batched '
          f'{batched * 1e3:.1f} ms, naive per-image/layer loop '
          f'{naive * 1e3:.1f} ms, ratio {batched / naive:.3f} (goal <= 0.2)')
    total, decode = bench_predict(args.repeats, args.device,
                                  args.predict_batch)
    print(f'predict, R-50 384x288, flip test, batch {args.predict_batch}: '
          f'total {total * 1e3:.1f} ms, decoding {decode * 1e3:.2f} ms, '
          f'share {100 * decode / total:.2f} % (goal <= 5 %)')


if __name__ == '__main__':
    main()
