"""Running the tools from tests: as a process (``run``), where the process
is what is tested, or in-process (``call``: ``main(argv)`` inside
``run_cli``, as their ``__main__`` does; a second faster)."""
import importlib.util
import os
import os.path as osp
import socket
import subprocess
import sys

from conftest import ROOT

TOOLS = osp.join(ROOT, 'tools')
# a few iterations only: one epoch on 32 of the persons
QUICK = [
    'train_cfg.max_epochs=1', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
    'train_dataloader.batch_size=8', 'train_dataloader.dataset.indices=32'
]


class Foreign:
    """A type no checkpoint may hold."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run(args, **kwargs):
    """``args`` as a process from the repository root, one thread."""
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    env.update(kwargs.pop('env', {}))
    return subprocess.run(
        args,
        cwd=kwargs.pop('cwd', ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=kwargs.pop('timeout', 900),
        **kwargs)


def assert_one_line_error(proc, *needles):
    """A failed process whose last stderr line holds ``needles``."""
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    last = lines[-1]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    for needle in needles:
        assert needle in last, proc.stderr[-3000:]


def tool_module(name):
    """``tools/NAME.py`` imported as a module."""
    spec = importlib.util.spec_from_file_location(
        f'_tool_{name.replace("/", "_")}', osp.join(TOOLS, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def call(tool, argv, capsys, monkeypatch):
    """``python tools/TOOL.py ARGV`` in-process: ``(status, stderr)``."""
    from mmengine.logging import MMLogger
    module = tool_module(tool)
    from prtr import cli as prtr_cli

    # the loggers of earlier calls write to capsys streams now closed
    MMLogger._instance_dict.clear()
    monkeypatch.chdir(ROOT)  # as ``run``: relative paths from the root
    monkeypatch.setattr(sys, 'argv', [f'{tool}.py'] + list(argv))
    capsys.readouterr()
    try:
        prtr_cli.run_cli(lambda: module.main(list(argv)))
        status = 0
    except SystemExit as e:  # sys.exit(message) prints it, exit status 1
        status = e.code if isinstance(e.code, int) else 1
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
    err = capsys.readouterr().err
    return status, err


def one_line(status, err, *needles):
    """Exit status 1, the last stderr line is the error, no traceback."""
    assert status == 1, err[-3000:]
    assert 'Traceback' not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert ': error: ' in last, err[-3000:]
    for needle in needles:
        assert needle in last, err[-3000:]
    return last
