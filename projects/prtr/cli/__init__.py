# Copyright (c) prtr authors. All rights reserved.
"""What the tools share: :func:`run_cli`, the checks of the user's files
(:mod:`.checks`, :mod:`.checkpoints`) and CPU distributed set-up."""
import argparse
import os
import os.path as osp
import sys
import traceback
from typing import Callable, List, Optional

import torch
from mmengine.config import Config

from prtr.utils import UserInputError
from .checkpoints import check_checkpoint, check_checkpoint_fits
from .checks import (check_bbox_file, check_config_file, check_data_files,
                     check_device, check_pretrained, check_work_dir)

__all__ = [
    'UserInputError', 'check_bbox_file', 'check_checkpoint',
    'check_checkpoint_fits', 'check_config_file', 'check_data_files',
    'check_device', 'check_pretrained', 'check_trained_model',
    'check_work_dir', 'key_value', 'note_cfg_options', 'run_cli',
    'setup_cpu_distributed'
]

# the transforms that read images (mmcv's, and mmpose's around it)
_IMAGE_LOADERS = ('mmcv/transforms/loading.py',
                  'mmpose/datasets/transforms/loading.py')
# the dataset methods that read files: the attribute naming the file
_READERS = {
    'full_init': 'ann_file',  # then the samples it read, serialised
    'load_data_list': 'ann_file',
    '_load_annotations': 'ann_file',
    '_load_detection_results': 'bbox_file'
}
# what the user set on the command line, named in the hint after a
# traceback (see note_cfg_options)
_cfg_options: List[str] = []


def key_value(item: str) -> str:
    """``type`` of ``--cfg-options`` (with mmengine's ``DictAction``):
    argparse's usage error, not a traceback, for an item without ``=``."""
    if '=' not in item:
        raise argparse.ArgumentTypeError(f'{item!r} is not key=value')
    return item


def check_trained_model(config: str,
                        checkpoint: str,
                        device: Optional[str] = None) -> Config:
    """The inputs of a tool that runs a trained model (demo, pictures):
    the config file, the device, the checkpoint and that it holds the
    config's model. Returns the config."""
    check_config_file(config)
    check_device(device)
    check_checkpoint(checkpoint)
    cfg = Config.fromfile(config)
    check_checkpoint_fits(cfg, checkpoint, config)
    return cfg


def note_cfg_options(options: Optional[dict]) -> None:
    """Remember ``--cfg-options`` for the hint after a library error."""
    _cfg_options[:] = [f'{k}={v!r}' for k, v in (options or {}).items()]


def setup_cpu_distributed(cfg, launcher: str) -> None:
    """Let ``tools/dist_train.sh`` run without GPU: mmengine's
    ``init_dist`` calls ``torch.cuda.set_device`` and its DDP wrapper passes
    ``device_ids``. Start the gloo process group here (mmengine then skips
    ``init_dist``) and wrap the model in DDP without device ids."""
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


def _in_image_loader(e: BaseException) -> bool:
    """Raised in this process by the transform that reads an image:
    mmcv's ``LoadImageFromFile``, whose error mmpose's ``LoadImage`` raises
    again with the image's path."""
    return any(
        f.f_code.co_filename.replace(os.sep, '/').endswith(_IMAGE_LOADERS)
        for f, _ in traceback.walk_tb(e.__traceback__))


def _dataset_file(e: BaseException) -> Optional[str]:
    """``'CocoDataset ann_file PATH'``: the file a dataset was reading when
    ``e`` was raised, from the innermost frame of a method of ``_READERS``
    (the frame's ``self`` has the file's path)."""
    from mmengine.dataset import BaseDataset
    found = None
    for frame, _ in traceback.walk_tb(e.__traceback__):
        owner, name = frame.f_locals.get('self'), frame.f_code.co_name
        if not isinstance(owner, BaseDataset):
            continue
        if name in ('filter_data', 'get_subset', '_get_unserialized_subset'):
            return None  # the config's filter or indices, not the file
        if getattr(owner, _READERS.get(name, ''), None):
            attr = _READERS[name]
            found = f'{type(owner).__name__} {attr} {getattr(owner, attr)}'
    return found


def _message_end(e: BaseException) -> str:
    """The last line of the exception as Python prints it (for an error a
    data loader worker raised: the worker's error)."""
    text = ''.join(traceback.format_exception_only(e)).strip()
    return text.splitlines()[-1].strip()


def run_cli(main: Callable[[], None]) -> None:
    """Run a tool's ``main``; a bad input ends in one line on stderr.

    A :class:`~prtr.utils.UserInputError`, an image the image-loading
    transform cannot read and an error while a dataset reads its annotation
    or detection file (named from the frame) print ``PROG: error: MESSAGE``
    and exit with 1; the message is the library's
    own (nothing is picked out of it). Any other error keeps its
    traceback, followed by its message's end and the ``--cfg-options``
    the user set. ``PRTR_DEBUG=1`` shows the traceback of every error.
    """
    prog = osp.basename(sys.argv[0])
    _cfg_options.clear()
    try:
        main()
    except UserInputError as e:
        if os.environ.get('PRTR_DEBUG'):
            raise
        sys.exit(f'{prog}: error: {e}')
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:  # noqa: BLE001  (narrowed below)
        if os.environ.get('PRTR_DEBUG'):
            raise
        message = None
        if _in_image_loader(e):
            message = f'cannot read an image: {_message_end(e)}'
        elif _dataset_file(e):
            message = f'cannot read {_dataset_file(e)}: {_message_end(e)}'
        if message is not None:
            sys.exit(f'{prog}: error: {message} (PRTR_DEBUG=1 shows the '
                     'traceback)')
        traceback.print_exc()
        options = ' '.join(_cfg_options)
        sys.exit(f'{prog}: error: {_message_end(e)}' +
                 (f' (--cfg-options you set: {options})' if options else ''))
