# Copyright (c) prtr authors. All rights reserved.
"""What a benchmark ran on: the machine, the software, the prtr checkout."""
import os
import os.path as osp
import platform
import subprocess

import numpy as np
import torch


def proc_field_kib(path: str, field: str) -> int:
    """A ``FIELD: N kB`` line of a /proc file (``/proc/meminfo``,
    ``/proc/self/status``), in KiB."""
    with open(path) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise KeyError(field)


def machine_description(device: str) -> str:
    """CPU model, available cores and RAM; the GPU first on ``cuda``."""
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(
                line.split(':', 1)[1].strip() for line in f
                if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    mem = ''
    try:
        gib = proc_field_kib('/proc/meminfo', 'MemTotal') / 2**20
        mem = f', {gib:.0f} GiB RAM'
    except (OSError, KeyError):
        pass
    desc = f'{cpu}, {len(os.sched_getaffinity(0))} cores available{mem}'
    if device.startswith('cuda'):
        props = torch.cuda.get_device_properties(torch.device(device))
        desc = (f'{props.name} ({props.total_memory / 2**30:.0f} GiB), '
                f'host: {desc}')
    return desc


def device_kind(device: str) -> str:
    """``'CPU'`` or the GPU's name."""
    if device.startswith('cuda'):
        return torch.cuda.get_device_name(torch.device(device))
    return 'CPU'


def software_versions() -> str:
    """Versions of torch, the OpenMMLab stack, numpy and Python."""
    import mmcv
    import mmdet
    import mmengine
    import mmpose
    return (f'torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine '
            f'{mmengine.__version__}, mmdet {mmdet.__version__}, mmpose '
            f'{mmpose.__version__}, numpy {np.__version__}, Python '
            f'{platform.python_version()}')


def _git(where: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(['git', '-C', where, *args],
                          capture_output=True,
                          text=True)


def prtr_description(root: str = '.') -> str:
    """Where prtr was imported from (relative to ``root``) and its git
    commit, marked when the package has uncommitted changes."""
    import prtr
    where = osp.dirname(prtr.__file__)
    try:
        if _git(where, 'ls-files', '--error-unmatch',
                '__init__.py').returncode:
            return f'`{where}` (no git checkout, or one that ignores it)'
        commit = _git(where, 'rev-parse', '--short', 'HEAD').stdout.strip()
        dirty = _git(where, 'status', '--porcelain', '.').stdout.strip()
    except OSError:
        return f'`{where}` (not in a git checkout)'
    return (f'`{osp.relpath(where, root)}` at commit {commit}' +
            (' with uncommitted changes' if dirty else ''))
