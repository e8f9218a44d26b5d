"""Issue 20: the Python around the model (the package's tool, engine and
deployment modules, and tools/) is no larger than the model itself
(models/, codecs/, datasets/, evaluation/), counted in lines."""
import glob
import os.path as osp

from conftest import ROOT

PACKAGE = osp.join(ROOT, 'projects', 'prtr')
MODEL = ('models', 'codecs', 'datasets', 'evaluation')


def lines(paths):
    return sum(len(open(p).read().splitlines()) for p in paths)


def test_shell_is_no_larger_than_the_model():
    package = glob.glob(osp.join(PACKAGE, '**', '*.py'), recursive=True)
    model = [
        p for p in package
        if osp.relpath(p, PACKAGE).split(osp.sep)[0] in MODEL
    ]
    shell = sorted(set(package) - set(model))
    shell += glob.glob(osp.join(ROOT, 'tools', '**', '*.py'), recursive=True)
    assert len(model) > 20 and len(shell) > 20
    assert lines(shell) <= lines(model), (lines(shell), lines(model))
