# Copyright (c) prtr authors. All rights reserved.
"""A whole benchmark: its settings, its jobs, each in a fresh process, and
the figures gathered per model."""
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional, Tuple, Union

from .config import DEFAULT_PAIRS, label_of, load_config
from .machine import (device_kind, machine_description, prtr_description,
                      software_versions)
from .measure import model_figures, setup_scope
from .worker import RESULT_TAG


@dataclass
class BenchmarkSettings:
    """What a benchmark measures and how (the command line's options)."""
    pairs: List[Tuple[str, str]] = field(
        default_factory=lambda: list(DEFAULT_PAIRS))
    root: str = '.'
    device: str = 'cpu'
    amp: Union[bool, str] = False  # off, or the autocast dtype
    batch_sizes: List[int] = field(default_factory=lambda: [1, 32])
    train_batch: int = 4
    repeats: int = 10
    min_repeats: int = 3
    time_limit: float = 60.
    warmup: int = 1
    interleave: bool = True
    flip_test: str = 'config'
    input_size: Optional[Tuple[int, int]] = None
    threads: Optional[int] = None
    cfg_options: Optional[dict] = None
    data_root: Optional[str] = None
    ann_file: Optional[str] = None
    img_prefix: str = 'val2017/'
    bbox_file: Optional[str] = None
    checkpoints: Dict[str, str] = field(default_factory=dict)

    @property
    def models(self) -> List[str]:
        """Every config of the pairs, once, in order."""
        return list(dict.fromkeys(c for pair in self.pairs for c in pair))

    def checkpoint_for(self, config: str) -> Optional[str]:
        """The checkpoint given for a config, by path, file name or stem."""
        stem = osp.splitext(osp.basename(config))[0]
        for key in (config, osp.basename(config), stem):
            if key in self.checkpoints:
                return self.checkpoints[key]
        return None


def _config_opts(s: BenchmarkSettings) -> dict:
    return dict(
        root=s.root,
        cfg_options=s.cfg_options,
        input_size=s.input_size,
        flip_test=s.flip_test)


def plan_jobs(s: BenchmarkSettings) -> List[dict]:
    """The jobs of a benchmark, each a JSON-able dict for
    :func:`prtr.benchmarking.measure.run_worker`.

    Interleaved: PRTR and its baseline timed in one job, steps alternating;
    memory of each model alone, two steps. Otherwise each model alone,
    timed with its memory. Then an AP job per model with a checkpoint.
    """
    common = dict(
        _config_opts(s),
        device=s.device,
        amp=s.amp,
        threads=s.threads,
        warmup=s.warmup,
        repeats=s.repeats,
        min_repeats=s.min_repeats,
        time_limit=s.time_limit)
    phases = [dict(common, phase='train', batch=s.train_batch)]
    phases += [dict(common, phase='infer', batch=b) for b in s.batch_sizes]
    if s.interleave:
        jobs = [
            dict(ph, configs=list(pair), memory=False) for ph in phases
            for pair in s.pairs
        ]
        jobs += [
            dict(
                ph,
                configs=[c],
                memory=True,
                warmup=0,
                repeats=2,
                min_repeats=2) for ph in phases for c in s.models
        ]
    else:
        jobs = [
            dict(ph, configs=[c], memory=True) for ph in phases
            for c in s.models
        ]
    for c in s.models if s.ann_file else []:
        checkpoint = s.checkpoint_for(c)
        if checkpoint:
            jobs.append(
                dict(
                    common,
                    phase='ap',
                    configs=[c],
                    checkpoint=checkpoint,
                    data_root=s.data_root,
                    ann_file=s.ann_file,
                    img_prefix=s.img_prefix,
                    bbox_file=s.bbox_file))
    return jobs


def run_job_in_subprocess(job: dict) -> dict:
    """Run a job by :mod:`prtr.benchmarking.worker` in a fresh process."""
    import prtr
    env = dict(os.environ)
    projects = osp.dirname(osp.dirname(osp.abspath(prtr.__file__)))
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (projects, env.get('PYTHONPATH')) if p)
    proc = subprocess.run(
        [sys.executable, '-m', 'prtr.benchmarking.worker',
         json.dumps(job)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    raise RuntimeError(
        f'benchmark worker failed ({job["phase"]}, {job["configs"]}, batch '
        f'{job.get("batch")}), exit code {proc.returncode}:\n' +
        '\n'.join(proc.stdout.splitlines()[-20:]))


def _job_name(job: dict, interleave: bool) -> str:
    if job['phase'] == 'ap':
        return 'AP'
    return f'{job["phase"]} b{job["batch"]}' + (' memory' if interleave
                                                and job['memory'] else '')


def _gather(results: dict, job: dict, out: dict, interleave: bool) -> None:
    """Put a job's result into the figures of its models."""
    if job['phase'] == 'ap':
        results[job['configs'][0]]['ap'] = out['ap']
        return
    key = f'{job["phase"]}_b{job["batch"]}'
    for k, c in enumerate(job['configs']):
        res = results[c]
        res['threads'] = out['threads']
        if job['memory']:
            res['mem_' + key] = out['memory']
            if interleave:
                continue  # timed in the pair's job
        res[key] = statistics.median(out['times'][k]) * 1e3
        res['min_' + key] = min(out['times'][k]) * 1e3
        res['repeats'][key] = len(out['times'][k])
        if job['phase'] == 'infer':
            res['flip_test'] = out['flip_test'][k]


def run_benchmark(s: BenchmarkSettings,
                  run_job: Callable[[dict], dict] = run_job_in_subprocess,
                  progress: bool = True,
                  command: str = '') -> dict:
    """Measure every model of the settings.

    Args:
        s (BenchmarkSettings): the settings.
        run_job: runs one job (default: in a fresh process; pass
            :func:`prtr.benchmarking.measure.run_worker` to run in this
            one, where memory figures include what was allocated before).
        progress (bool): a progress bar on stderr.
        command (str): the command line, for the report.

    Returns:
        dict: ``results`` (figures per config: ``params``, ``gflops``,
        ``infer_b1`` (ms), ``mem_train_b4`` (MiB), ...), ``meta`` (machine,
        software, date...) and ``raw`` (every job and its result).
    """
    from tqdm import tqdm
    setup_scope()
    t_start, load_start = time.time(), os.getloadavg()[0]
    jobs = plan_jobs(s)
    results = {c: dict(repeats={}) for c in s.models}
    bar = tqdm(
        total=len(s.models) + len(jobs),
        desc='benchmark',
        disable=not progress,
        file=sys.stderr)
    for c in s.models:
        bar.set_postfix_str(f'{label_of(c)}: params, FLOPs')
        results[c].update(model_figures(load_config(c, **_config_opts(s))))
        bar.update()
    raw = []
    for job in jobs:
        bar.set_postfix_str(' + '.join(map(label_of, job['configs'])) +
                            f': {_job_name(job, s.interleave)}')
        out = run_job(job)
        raw.append(dict(job=job, result=out))
        _gather(results, job, out, s.interleave)
        bar.update()
    bar.close()
    meta = dict(
        date=datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        machine=machine_description(s.device),
        software=software_versions(),
        device_kind=device_kind(s.device),
        threads=next(iter(results.values())).get('threads'),
        load_start=f'{load_start:.2f}',
        load_end=f'{os.getloadavg()[0]:.2f}',
        command=command,
        prtr=prtr_description(s.root),
        wall=time.time() - t_start,
        settings=asdict(s))
    return dict(results=results, meta=meta, raw=raw)
