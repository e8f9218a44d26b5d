# Copyright (c) prtr authors. All rights reserved.
"""What tools/train.py and tools/test.py share: checks of the user's inputs
that fail with one line naming the file at fault, and CPU distributed
set-up."""
import json
import os
import os.path as osp
import pickle
import sys
import traceback
import zipfile
from typing import Callable, Iterator, Optional

import torch


from .errors import UserInputError  # noqa: E402,F401


class _Unused(Exception):
    """A bad input file; its message is shown to the user as one line."""


# annotation files the running tool reads, to name the one at fault
_json_files = []


def check_config_file(path: str) -> None:
    if not osp.isfile(path):
        raise UserInputError(f'config file not found: {path}')


def _dataset_cfgs(dataset) -> Iterator[dict]:
    """Leaf dataset configs (through wrappers such as CombinedDataset)."""
    if dataset is None:
        return
    if 'datasets' in dataset:
        for d in dataset['datasets']:
            yield from _dataset_cfgs(d)
    elif 'dataset' in dataset:
        yield from _dataset_cfgs(dataset['dataset'])
    else:
        yield dataset


def check_data_files(cfg, splits=('train', 'val', 'test')) -> None:
    """Annotation and person-box files of the dataloaders that will run."""
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        for ds in _dataset_cfgs(loader.get('dataset')):
            root = ds.get('data_root', '') or ''
            for key in ('ann_file', 'bbox_file'):
                path = ds.get(key)
                if not path:
                    continue
                full = path if osp.isabs(path) or key == 'bbox_file' \
                    else osp.join(root, path)
                _json_files.append(full)
                if not osp.isfile(full):
                    raise UserInputError(
                        f'{split} {key} not found: {full} (dataset root '
                        f'{root or "."!r}; README, "Usage on COCO")')
    for split in splits:
        evaluator = cfg.get(f'{split}_evaluator')
        for ev in (evaluator if isinstance(evaluator, list) else
                   [evaluator] if evaluator else []):
            path = ev.get('ann_file')
            if path:
                _json_files.append(path)
            if path and not osp.isfile(path):
                raise UserInputError(f'{split} evaluator ann_file not found: '
                                     f'{path}')


def check_pretrained(cfg) -> None:
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


def check_checkpoint(path: Optional[str]) -> None:
    """Fail early, naming the file, on a missing, corrupt or unsafe checkpoint.

    Loading uses ``weights_only=True`` with the globals allowed by
    :func:`prtr.checkpoint.allow_mmengine_checkpoints` and ``mmap`` so
    tensors are not read into memory.
    """
    if not path or '://' in path:
        return
    if not osp.isfile(path):
        raise UserInputError(f'checkpoint not found: {path}')
    import prtr  # noqa: F401  (allows mmengine's checkpoint types)
    try:
        torch.load(
            path,
            map_location='cpu',
            weights_only=True,
            mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as e:
        if 'Weights only load failed' in str(e):
            culprit = [
                ln.strip() for ln in str(e).splitlines()
                if 'Unsupported global' in ln
            ]
            raise UserInputError(
                f'checkpoint {path} holds a pickled object that is not a '
                'tensor or an mmengine checkpoint type '
                f'({culprit[0] if culprit else "unsupported global"}); '
                'it was refused. Load it only if you trust its source: '
                'allow that type with torch.serialization.add_safe_globals'
                '([...]) or re-save the state dict alone') from e
        raise UserInputError(
            f'checkpoint {path} is corrupt or not a PyTorch checkpoint '
            f'({e})') from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ''
        raise UserInputError(
            f'checkpoint {path} is corrupt or not a PyTorch checkpoint '
            f'({type(e).__name__}: {first})') from e


def setup_cpu_distributed(cfg, launcher: str) -> None:
    """Let ``tools/dist_train.sh`` run on a machine without GPU.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device`` and its default
    DDP wrapper passes ``device_ids``; neither works without CUDA. Start the
    gloo process group here (mmengine then skips ``init_dist``) and wrap the
    model in DDP without device ids.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    import torch.distributed as dist
    cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def _bad_json(e: json.JSONDecodeError) -> str:
    """Name the annotation file that does not parse (on the error path)."""
    for path in dict.fromkeys(_json_files):
        try:
            with open(path) as f:
                json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            return f'annotation file {path} is not valid JSON ({err})'
        except OSError:
            continue
    return f'a JSON input is malformed ({e})'


def _one_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    if lines:
        # DataLoader worker errors carry the original traceback: keep its end
        return f'{type(e).__name__}: {lines[-1]}'
    # a bare assert (often a config value a module rejects): say where
    frame = traceback.extract_tb(e.__traceback__)[-1]
    return (f'{type(e).__name__} at {frame.filename}:{frame.lineno}: '
            f'{frame.line}')


def run_cli(main: Callable[[], None]) -> None:
    """Run a tool's ``main``; bad inputs end in one line on stderr, exit 1.

    Set ``PRTR_DEBUG=1`` for the full traceback.
    """
    prog = osp.basename(sys.argv[0])
    try:
        main()
    except UserInputError as e:
        if os.environ.get('PRTR_DEBUG'):
            raise
        sys.exit(f'{prog}: error: {e}')
    except json.JSONDecodeError as e:
        if os.environ.get('PRTR_DEBUG'):
            raise
        sys.exit(f'{prog}: error: {_bad_json(e)}')
    except (FileNotFoundError, AssertionError, KeyError, ValueError,
            RuntimeError, OSError) as e:
        if os.environ.get('PRTR_DEBUG'):
            raise
        sys.exit(f'{prog}: error: {_one_line(e)} '
                 '(PRTR_DEBUG=1 shows the traceback)')
