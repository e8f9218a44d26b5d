"""``prtr.cli.run_cli``: which errors end in one line, which keep their
traceback, and what the last line says; decided from the exception's type,
attributes and frames, never from its message."""
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from prtr.cli import _message_end, run_cli


def fails(e):

    def main():
        raise e

    return main


def stderr_of(main, capsys):
    """``(last line, all of stderr)`` of ``run_cli(main)``, which exits."""
    with pytest.raises(SystemExit) as exit_:
        run_cli(main)
    assert isinstance(exit_.value.code, str), exit_.value.code
    return exit_.value.code, capsys.readouterr().err


@pytest.mark.parametrize('message, end', [
    ('one line', 'ValueError: one line'),
    ('two\nlines', 'lines'),
    ('head:\n  indented detail', 'indented detail'),
    ('', 'ValueError'),
    ('Caught ValueError in DataLoader worker process 0.\nOriginal Traceback '
     '(most recent call last):\n  File "x.py", line 1, in f\n    raise e\n'
     "ValueError: `bad` occurs when loading `a.jpg`",
     'ValueError: `bad` occurs when loading `a.jpg`'),
])
def test_message_end(message, end):
    assert _message_end(ValueError(message)) == end


def test_image_loader_error_is_one_line(tmp_path, capsys):
    """mmpose's LoadImage, in this process: one line with its message,
    which names the image."""
    from mmpose.datasets.transforms import LoadImage
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    last, err = stderr_of(lambda: LoadImage()(dict(img_path=str(empty))),
                          capsys)
    assert 'Traceback' not in err
    assert ': error: cannot read an image: ' in last
    assert str(empty) in last


class Broken(Dataset):

    def __init__(self, path):
        self.path = path

    def __len__(self):
        return 2

    def __getitem__(self, i):
        raise ValueError(f'entry {i} of {self.path} has no bbox')


def test_worker_error_keeps_traceback_and_names_the_fault(tmp_path, capsys):
    """An error in a data loader worker (a bad sample or a bug in the
    pipeline, which the worker's traceback shows): the traceback stays and
    the last line is the worker's error."""
    ann = tmp_path / 'ann.json'
    loader = DataLoader(Broken(str(ann)), num_workers=1)
    last, err = stderr_of(lambda: next(iter(loader)), capsys)
    assert 'Traceback' in err and 'in __getitem__' in err
    assert ': error: ValueError: ' in last
    assert last.endswith(f'ValueError: entry 0 of {ann} has no bbox')


def test_library_errors_keep_traceback(tmp_path, capsys):
    """Not bad inputs it could name: a data loader set up wrongly (also
    raised in torch.utils.data), a file name that is no file, a library's
    file: the traceback, then the error."""
    main = fails(OSError(2, 'gone', str(tmp_path / 'missing.txt')))
    assert 'missing.txt' in stderr_of(main, capsys)[0]  # a user's file
    for main in (lambda: DataLoader([1], persistent_workers=True),
                 fails(SyntaxError('invalid syntax', ('<unknown>', 1, 1, ''))),
                 fails(PermissionError(13, 'denied', torch.__file__))):
        last, err = stderr_of(main, capsys)
        assert 'Traceback' in err and ': error: ' in last


def test_dataset_errors_name_the_file_they_were_reading(tmp_path, capsys):
    """mmpose's error while a dataset reads its annotation file: one line
    naming the file; an error of the dataset's config (a subset index out
    of range) is not blamed on the file: traceback."""
    from conftest import DATA_ROOT
    from mmpose.datasets import CocoDataset
    ann = tmp_path / 'ann.json'
    ann.write_text('{"images": {}, "annotations": []}')
    last, err = stderr_of(lambda: CocoDataset(ann_file=str(ann)), capsys)
    assert 'Traceback' not in err
    assert f'cannot read CocoDataset ann_file {ann}: ' in last
    good = f'{DATA_ROOT}/annotations/person_keypoints_train2017.json'
    last, err = stderr_of(lambda: CocoDataset(ann_file=good, indices=[10**6]),
                          capsys)
    assert 'Traceback' in err and 'ann_file' not in last
