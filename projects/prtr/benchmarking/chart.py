# Copyright (c) prtr authors. All rights reserved.
"""A PNG bar chart of a benchmark's ratios PRTR / baseline."""
from .config import GOAL, label_of
from .report import metric_columns, ratio
from .runner import BenchmarkSettings


def draw_chart(s: BenchmarkSettings, results: dict, meta: dict,
               path: str) -> None:
    """Bars of every ratio PRTR / baseline, one colour per pair, with the
    parity line and the training-step goal; saved to ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    keys = [c for c in metric_columns(s) if c[0] != 'trainable']
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(keys)), 4.2))
    width = 0.8 / len(s.pairs)
    for i, (prtr_cfg, base_cfg) in enumerate(s.pairs):
        p, b = results[prtr_cfg], results[base_cfg]
        vals = [ratio(p.get(k), b.get(k)) for k, _, _ in keys]
        offset = (i - (len(s.pairs) - 1) / 2) * width
        bars = ax.bar([j + offset for j in range(len(keys))],
                      [v or 0 for v in vals],
                      width,
                      label=f'{label_of(prtr_cfg)} / {label_of(base_cfg)}')
        for bar, v in zip(bars, vals):
            if v is not None:
                ax.annotate(
                    f'{v:.2f}',
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha='center',
                    va='bottom',
                    fontsize=7)
    ax.axhline(1.0, color='black', linewidth=0.8)
    ax.axhline(
        GOAL,
        color='red',
        linewidth=0.8,
        linestyle='--',
        label=f'training-step goal {GOAL}')
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([c[1].split(' (')[0] for c in keys],
                       rotation=20,
                       ha='right',
                       fontsize=8)
    ax.set_ylabel('PRTR / heatmap baseline')
    ax.set_title(f'PRTR vs heatmap heads, {meta["device_kind"]}', fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
