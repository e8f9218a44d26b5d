# Copyright (c) prtr authors. All rights reserved.
"""The Markdown report of a benchmark: figures per model, ratios PRTR /
baseline, the issue's ratios and how it was measured."""
import os.path as osp
from typing import List, Optional, Tuple

from .config import GOAL, GOAL_PAIR, label_of
from .runner import BenchmarkSettings


def fmt(value: Optional[float], digits: int = 1) -> str:
    """A figure with ``digits`` decimals, '—' when missing."""
    return '—' if value is None else f'{value:.{digits}f}'


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    """``a / b``, None when either is missing or ``b`` is zero."""
    if a is None or b is None or not b:
        return None
    return a / b


def _min_ratio(p: dict, b: dict, key: str) -> str:
    pm, bm = p['min_' + key], b['min_' + key]
    return f'{pm:.1f} ms / {bm:.1f} ms = {pm / bm:.2f}'


def metric_columns(s: BenchmarkSettings) -> List[Tuple[str, str, int]]:
    """(key, column title, digits) of the figures of each model."""
    cols = [('params', 'params (M)', 1), ('trainable', 'trainable (M)', 1),
            ('gflops', 'GFLOPs', 1)]
    cols += [(f'infer_b{b}', f'inference b{b} (ms)', 1) for b in s.batch_sizes]
    tb, ib = s.train_batch, max(s.batch_sizes)
    cols += [(f'train_b{tb}', f'train step b{tb} (ms)', 1),
             (f'mem_infer_b{ib}', f'peak mem. inference b{ib} (MiB)', 0),
             (f'mem_train_b{tb}', f'peak mem. train b{tb} (MiB)', 0)]
    if s.ann_file:
        cols.append(('ap', 'COCO AP', 3))
    return cols


def _tables(s: BenchmarkSettings, results: dict) -> List[str]:
    cols = metric_columns(s)
    lines = [
        '| model | config | input (w x h) | ' +
        ' | '.join(c[1] for c in cols) + ' |',
        '|---|---|---|' + '---:|' * len(cols)
    ]
    for config, res in results.items():
        w, h = res['input_size']
        lines.append(f'| {label_of(config)} | `{osp.basename(config)}` | '
                     f'{w}x{h} | ' +
                     ' | '.join(fmt(res.get(k), d) for k, _, d in cols) + ' |')
    ratio_cols = [c for c in cols if c[0] != 'trainable']
    lines += [
        '', '## Ratios PRTR / baseline (below 1: PRTR smaller or '
        'faster)', '',
        '| PRTR | baseline | ' + ' | '.join(c[1].split(' (')[0]
                                            for c in ratio_cols) + ' |',
        '|---|---|' + '---:|' * len(ratio_cols)
    ]
    for prtr_cfg, base_cfg in s.pairs:
        p, b = results[prtr_cfg], results[base_cfg]
        lines.append(f'| {label_of(prtr_cfg)} | {label_of(base_cfg)} | ' +
                     ' | '.join(
                         fmt(ratio(p.get(k), b.get(k)), 2)
                         for k, _, _ in ratio_cols) + ' |')
    return lines


def _goal(s: BenchmarkSettings, results: dict) -> List[str]:
    if GOAL_PAIR not in [tuple(p) for p in s.pairs]:
        return []
    p, b = results[GOAL_PAIR[0]], results[GOAL_PAIR[1]]
    key = f'train_b{s.train_batch}'
    r = ratio(p[key], b[key])
    lines = [
        '', '## The two ratios of the issue', '',
        f'- Training step, PRTR R-50 384x288 / SimpleBaseline R-50 '
        f'384x288, batch {s.train_batch}: {p[key]:.1f} ms / {b[key]:.1f} '
        f'ms = **{r:.2f}** (goal <= {GOAL}: '
        f'{"met" if r <= GOAL else "**not met**"}; the official PRTR code '
        f'measured 0.78 on a 2-core CPU at batch 4); fastest repeats: '
        f'{_min_ratio(p, b, key)}'
    ]
    for bs in s.batch_sizes:
        key = f'infer_b{bs}'
        lines.append(f'- Inference latency, same models, batch {bs}: '
                     f'{p[key]:.1f} ms / {b[key]:.1f} ms = '
                     f'**{ratio(p[key], b[key]):.2f}**; fastest repeats: '
                     f'{_min_ratio(p, b, key)}')
    lines.append('- (medians; "fastest repeats" is the same ratio of the '
                 'minimum times, less sensitive to other load on the '
                 'machine)')
    return lines


def _method(s: BenchmarkSettings, results: dict) -> List[str]:
    flips = ', '.join(f'{label_of(c)} {"on" if r["flip_test"] else "off"}'
                      for c, r in results.items())
    repeats = '; '.join(f'{label_of(c)} ' +
                        ', '.join(f'{k.replace("_", " ")} {n}'
                                  for k, n in r['repeats'].items())
                        for c, r in results.items())
    lines = [
        '', '## How it was measured', '',
        '- Parameters: all, and those with `requires_grad` in `train()` '
        '(frozen stages and BatchNorm excluded). FLOPs: mmengine '
        '`get_model_complexity_info`, one forward pass (the model\'s '
        '`_forward`, no flip, no decoding) on one input of the model\'s '
        'size; one multiply-add counts as one FLOP (the PRTR paper\'s '
        'convention).',
        '- Inference: median wall time of `model.test_step` on a batch of '
        'synthetic crops (no data loading): preprocessing (to the device, '
        'normalisation), forward pass(es) and decoding to image coordinates '
        '(PRTR: softmax + Hungarian matching; heatmaps: argmax + '
        f'refinement). Flip test: {flips} (' +
        ('as configured' if s.flip_test == 'config' else
         f'forced {s.flip_test} by --flip-test') + ').',
        '- Training step: median wall time of `model.train_step` with the '
        'config\'s `optim_wrapper` (PRTR: AdamW, gradient clipping 0.1, '
        'backbone lr x0.1; mmpose heatmap: Adam), batch '
        f'{s.train_batch}, targets from the config\'s codec.',
        f'- Repeats: up to {s.repeats} timed after {s.warmup} warm-up, '
        f'stopping after {s.time_limit:.0f} s of timed runs once '
        f'{s.min_repeats} are done; repeats used: {repeats}.',
        '- Peak memory: each model alone in a fresh process' +
        (' (two steps)' if s.interleave else '') + '; ' +
        ('`torch.cuda.max_memory_allocated` from before the model is '
         'built (weights, gradients, optimizer state, activations; no '
         'CUDA context or allocator cache).' if s.device.startswith('cuda')
         else 'peak resident set (VmHWM) minus the resident set before the '
         'model is built (weights, gradients, optimizer state, '
         'activations, allocator overhead).'),
        ('- Timing: PRTR and its baseline in one process, their steps '
         'alternating (A B, B A, ...) so that both see the same load on '
         'the machine' if s.interleave else '- Timing: each model in its '
         'own process, PRTR and its baseline one after the other') +
        '; random weights (timing does not depend on them).'
    ]
    if s.ann_file:
        lines.append(
            f'- COCO AP: the config\'s test loop on `{s.ann_file}` under '
            f'`{s.data_root}`, person boxes: {s.bbox_file or "ground truth"};'
            ' "—" where no checkpoint was given.')
    return lines


def amp_name(amp) -> str:
    """``--amp``'s setting: off, or the autocast dtype."""
    return 'off' if not amp else amp if isinstance(amp, str) else 'float16'


def render_report(s: BenchmarkSettings, results: dict, meta: dict) -> str:
    """The Markdown report of :func:`prtr.benchmarking.run_benchmark`'s
    ``results`` and ``meta``."""
    lines = [
        f'# PRTR vs heatmap heads: {meta["device_kind"]} benchmark', '',
        f'- Date: {meta["date"]}', f'- Machine: {meta["machine"]}',
        f'- Software: {meta["software"]}; prtr: {meta["prtr"]}',
        f'- Device: `{s.device}`, AMP: {amp_name(s.amp)}, '
        f'torch threads: {meta["threads"]}',
        f'- Load average (1 min) at start / end: {meta["load_start"]} / '
        f'{meta["load_end"]}', f'- Command: `{meta["command"]}`',
        f'- Wall time of the whole run: {meta["wall"]:.0f} s', ''
    ]
    lines += _tables(s, results) + _goal(s, results) + _method(s, results)
    return '\n'.join(lines) + '\n'
