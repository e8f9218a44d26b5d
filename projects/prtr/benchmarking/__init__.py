# Copyright (c) prtr authors. All rights reserved.
"""Benchmark PRTR against mmpose's heatmap models (see README, "Benchmark
against heatmap heads"): configs (:mod:`.config`), synthetic batches
(:mod:`.batch`), measurements (:mod:`.measure`), the machine
(:mod:`.machine`), the whole run (:mod:`.runner`), its Markdown report
(:mod:`.report`) and chart (:mod:`.chart`, imports matplotlib when
drawing)."""
from .batch import make_batch
from .chart import draw_chart
from .config import (DEFAULT_PAIRS, build_model, label_of, load_config,
                     set_input_size)
from .measure import (PeakMemory, make_step, model_figures, run_worker,
                      time_steps)
from .report import render_report
from .runner import (BenchmarkSettings, plan_jobs, run_benchmark,
                     run_job_in_subprocess)

__all__ = [
    'BenchmarkSettings', 'DEFAULT_PAIRS', 'PeakMemory', 'build_model',
    'draw_chart', 'label_of', 'load_config', 'make_batch', 'make_step',
    'model_figures', 'plan_jobs', 'render_report', 'run_benchmark',
    'run_job_in_subprocess', 'run_worker', 'set_input_size', 'time_steps'
]
