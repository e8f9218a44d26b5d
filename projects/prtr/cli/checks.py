# Copyright (c) prtr authors. All rights reserved.
"""Checks of the files a tool is given (configs, data, work dir, device),
run before any work: each failure is a :class:`prtr.utils.UserInputError`
naming the file at fault; the checkpoints' are in :mod:`.checkpoints`."""
import json
import math
import os
import os.path as osp
from typing import Any, Iterator, Optional, Sequence

from prtr.utils import UserInputError

# annotation files larger than this are not parsed twice
MAX_PARSED_BYTES = 100 * 2**20


def check_config_file(path: str) -> None:
    """The config file exists and is of a kind mmengine reads."""
    if osp.isdir(path):
        raise UserInputError(f'config {path} is a folder, not a config file')
    if not osp.isfile(path):
        raise UserInputError(f'config file not found: {path}')
    if not path.endswith(('.py', '.json', '.yml', '.yaml')):
        raise UserInputError(f'config {path} is not a config file (.py, '
                             '.json, .yml or .yaml)')


def check_work_dir(path: str) -> None:
    """``path`` is, or can be made, a folder this user can write in."""
    existing = osp.abspath(path)
    while not osp.exists(existing):
        existing = osp.dirname(existing)
    if not osp.isdir(existing):
        raise UserInputError(f'work dir {path}: {existing} is a file, not a '
                             'folder')
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserInputError(f'work dir {path}: no permission to write in '
                             f'{existing}')


def check_device(device: Optional[str]) -> None:
    """``device`` (e.g. cpu, cuda:0) names a device torch has here."""
    if device is None:
        return
    import torch
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UserInputError(f'--device {device} is not a device (e.g. cpu, '
                             'cuda, cuda:0)') from None
    count = torch.cuda.device_count()  # other kinds: torch's own error
    if dev.type == 'cuda' and (dev.index or 0) >= count:
        have = f'{count} CUDA device(s)' if count else 'no CUDA device'
        raise UserInputError(f'--device {device}: this machine has {have} '
                             '(use --device cpu)')


def load_json(path: str, what: str) -> Optional[Any]:
    """``path`` parsed (None when too large to parse twice)."""
    if osp.getsize(path) > MAX_PARSED_BYTES:
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserInputError(f'{what} {path} is not valid JSON ({e})') from e


def _usable_person(ann: Any) -> bool:
    """A top-down training sample by mmpose's rules (not crowd, a box of
    positive size, a labelled keypoint)."""
    if not isinstance(ann, dict) or ann.get('iscrowd'):
        return False
    kpts, bbox = ann.get('keypoints'), ann.get('bbox')
    if not kpts or not bbox or len(bbox) < 4 or max(kpts) <= 0:
        return False
    return ann.get('num_keypoints', 1) > 0 and bbox[2] > 0 and bbox[3] > 0


def _number(v: Any) -> bool:
    """An int or float (JSON's numbers), not a bool."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_annotations(path: str, split: str) -> None:
    """Valid JSON; for training, a COCO-style file (MPII's is a list) with a
    usable person. Its structure and entries are left to mmpose's dataset:
    an error while it reads them is reported with the file's name by
    :func:`prtr.cli.run_cli`."""
    data = load_json(path, f'{split} ann_file')
    if split != 'train' or not isinstance(data, dict):
        return
    if 'annotations' not in data:
        raise UserInputError(f'train ann_file {path} is not a COCO '
                             'annotation file (no annotations)')
    if not any(map(_usable_person, data['annotations'] or [])):
        raise UserInputError(
            f'train ann_file {path} has no usable person (a non-crowd '
            'annotation with a box and at least one labelled keypoint): '
            'nothing to train on')


def check_bbox_file(path: str) -> None:
    """What mmpose takes as it is, to crop nothing or garbage: no (person)
    detection, a person detection without a score, a box of negative or no
    size or a non-finite number, a score that is not a finite number.
    Other faults are left to mmpose's dataset (see
    :func:`check_annotations`)."""
    dets = load_json(path, 'bbox_file')
    if dets == []:
        raise UserInputError(f'bbox_file {path} holds no detection (an '
                             'empty list): no person box to evaluate')
    for i, det in enumerate(dets if isinstance(dets, list) else []):
        if not isinstance(det, dict) or det.get('category_id') != 1:
            continue  # mmpose skips what is not a person
        box, score = det.get('bbox'), det.get('score', 'missing')
        # mmpose crops a box of zero width or height at the aspect ratio
        # of the input; one of no size, negative size or NaN is no box
        box = box[:4] if isinstance(box, list) else box  # as mmpose reads
        if not (isinstance(box, list) and len(box) == 4
                and all(map(_number, box)) and all(map(math.isfinite, box))
                and min(box[2:]) >= 0 and max(box[2:]) > 0):
            raise UserInputError(
                f'bbox_file {path}: detection {i} has bbox {box!r}: four '
                'finite numbers, width and height not negative and not '
                'both 0')
        if not (_number(score) and math.isfinite(score)):
            raise UserInputError(f'bbox_file {path}: detection {i} has score '
                                 f'{score!r}, not a finite number')
    if isinstance(dets, list) and not any(
            isinstance(d, dict) and d.get('category_id') == 1 for d in dets):
        raise UserInputError(f'bbox_file {path} has no person detection '
                             '(category_id 1)')


def _leaf_datasets(dataset: Any) -> Iterator[dict]:
    """The datasets inside wrappers (``CombinedDataset``'s ``datasets``,
    ``RepeatDataset``'s ``dataset``)."""
    if not dataset:
        return
    if 'datasets' in dataset or 'dataset' in dataset:
        for inner in dataset.get('datasets') or [dataset.get('dataset')]:
            yield from _leaf_datasets(inner)
    else:
        yield dataset


def check_data_files(cfg: Any,
                     splits: Sequence[str] = ('train', 'val', 'test')) -> None:
    """Annotation and person-box files of the dataloaders that will run."""
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        for ds in _leaf_datasets(loader.get('dataset')):
            root = ds.get('data_root', '') or ''
            files = {}
            for key in ('ann_file', 'bbox_file'):
                path = ds.get(key)
                if not path:
                    continue
                full = path if osp.isabs(path) or key == 'bbox_file' \
                    else osp.join(root, path)
                if not osp.isfile(full):
                    raise UserInputError(
                        f'{split} {key} not found: {full} (dataset root '
                        f'{root or "."!r}; README, "Usage on COCO")')
                files[key] = full
            if 'ann_file' in files:
                check_annotations(files['ann_file'], split)
            if 'bbox_file' in files:
                check_bbox_file(files['bbox_file'])
    for split in splits:
        evaluator = cfg.get(f'{split}_evaluator')
        for ev in (evaluator if isinstance(evaluator, list) else
                   [evaluator] if evaluator else []):
            path = ev.get('ann_file')
            if path and not osp.isfile(path):
                raise UserInputError(f'{split} evaluator ann_file not found: '
                                     f'{path}')
            if path:
                load_json(path, f'{split} evaluator ann_file')


def check_pretrained(cfg: Any) -> None:
    """Local ``Pretrained`` init checkpoints named in ``cfg.model``."""

    def walk(node, where):
        if isinstance(node, dict):
            init = node.get('init_cfg')
            for item in init if isinstance(init, list) else [init]:
                if isinstance(item, dict) and item.get('type') == 'Pretrained':
                    path = item.get('checkpoint', '')
                    if path and '://' not in path and not osp.isfile(path):
                        raise UserInputError(
                            f'pretrained weights for {where} not found: '
                            f'{path} (README, "Pretrained and official '
                            f'weights"; or --cfg-options {where}.init_cfg='
                            'None to start from scratch)')
            for key, value in node.items():
                walk(value, f'{where}.{key}')

    walk(cfg.get('model', {}), 'model')
