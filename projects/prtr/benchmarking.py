# Copyright (c) prtr authors. All rights reserved.
"""What the benchmark tools measure a model with: built with random
weights, its size and FLOPs by mmengine's counter, and step times by
``torch.utils.benchmark`` in rounds that alternate the compared steps."""
import copy
import statistics
from typing import Callable, Dict

import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.config import Config
from mmpose.apis import init_model
from torch.utils import benchmark

from .utils.input_size import config_dicts


def build(cfg: Config, device: str, init: Callable = init_model):
    """A model by ``init`` (mmpose's ``init_model``, as the demos build it)
    with random weights: every ``init_cfg`` dropped, nothing downloaded."""
    cfg = copy.deepcopy(cfg)
    for d in config_dicts(cfg._cfg_dict):
        d.pop('init_cfg', None)
    model = init(cfg, None, device=device)
    model.init_weights()
    return model


def complexity(model: torch.nn.Module, inputs: tuple) -> dict:
    """Parameters (all, trainable in ``train()``; millions) and GFLOPs of
    ``model._forward(*inputs)`` by mmengine's counter (under its hooks the
    lean DETR forward, which it has no rules for, runs mmdet's layers)."""
    model.train()  # frozen stages take effect in train()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    model.eval()
    model.forward = model._forward
    with torch.no_grad():
        info = get_model_complexity_info(
            model, inputs=inputs, show_table=False, show_arch=False)
    return dict(
        params=info['params'] / 1e6,
        trainable=trainable / 1e6,
        gflops=info['flops'] / 1e9)


def time_alternating(steps: Dict[str, Callable], rounds: int,
                     min_run_time: float) -> Dict[str, float]:
    """Each step's median time (ms) per call by ``Timer.blocked_autorange``
    (it synchronises CUDA) in ``rounds`` rounds whose order alternates
    (A B, B A, ...), so that every step sees the same load."""
    times = {n: [] for n in steps}
    for r in range(rounds):
        for n in list(steps)[::-1] if r % 2 else steps:
            timer = benchmark.Timer(
                'step()',
                globals=dict(step=steps[n]),
                num_threads=torch.get_num_threads())
            times[n] += timer.blocked_autorange(
                min_run_time=min_run_time).times
    return {n: statistics.median(t) * 1e3 for n, t in times.items()}
