# Copyright (c) prtr authors. All rights reserved.
"""Train a PRTR model (mmpose 1.x interface: tools/train.py CONFIG [...])."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from prtr.cli import (check_checkpoint, check_checkpoint_fits,
                      check_config_file, check_data_files, check_pretrained,
                      check_work_dir, key_value, note_cfg_options, run_cli,
                      setup_cpu_distributed)
from prtr.engine import find_resumable_checkpoint
from prtr.utils import UserInputError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a pose model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint, or (no value) from the latest one '
        'in the work directory')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='automatic mixed precision on a CUDA GPU (--amp-dtype)')
    parser.add_argument(
        '--amp-dtype',
        default='float16',
        choices=['float16', 'bfloat16'],
        help='with --amp: float16 with dynamic loss scaling (default), or '
        'bfloat16 (GPUs of compute capability >= 8.0; not with the '
        'deformable models: mmcv\'s MultiScaleDeformableAttention has no '
        'bfloat16 kernel)')
    parser.add_argument(
        '--no-validate', action='store_true', help='no validation')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the actual / the config\'s base batch size')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        type=key_value,
        action=DictAction,
        help='override config settings, key=value (mmengine syntax)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch (and mim) pass --local_rank, torchrun none
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def set_amp(cfg: Config, dtype: str = 'float16') -> None:
    """Mixed precision by mmengine's ``AmpOptimWrapper``: float16 with
    dynamic loss scaling, or bfloat16 (float32's range: no loss scaling)
    on a GPU that computes it natively."""
    import torch
    if not torch.cuda.is_available():
        raise UserInputError('--amp: mixed precision needs a CUDA GPU and '
                             'this machine has none')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    if dtype == 'bfloat16':
        if not torch.cuda.is_bf16_supported(including_emulation=False):
            raise UserInputError(
                '--amp-dtype bfloat16: this GPU has no native bfloat16 (it '
                'needs compute capability 8.0 or newer); use --amp-dtype '
                'float16')
        cfg.optim_wrapper.update(
            dtype='bfloat16', loss_scale=dict(enabled=False))
    else:
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')


def merge_args(cfg: Config, args) -> Config:
    """The config with the command line's settings."""
    if args.cfg_options is not None:
        note_cfg_options(args.cfg_options)
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    check_work_dir(cfg.work_dir)
    if args.amp:
        set_amp(cfg, args.amp_dtype)
    if args.resume == 'auto':  # skips a missing or corrupt last checkpoint
        cfg.resume, cfg.load_from = True, find_resumable_checkpoint(
            cfg.work_dir)
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    return cfg


def main(argv=None):
    """Check every input, then train (``argv``: the command line's
    arguments, default ``sys.argv[1:]``)."""
    args = parse_args(argv)
    check_config_file(args.config)
    cfg = merge_args(Config.fromfile(args.config), args)
    splits = ('train',
              'val') if cfg.get('val_cfg') is not None else ('train', )
    check_data_files(cfg, splits)
    check_checkpoint(cfg.get('load_from'))
    # resuming needs the same model; fine-tuning (load_from) some of it
    check_checkpoint_fits(
        cfg, cfg.get('load_from'), args.config, strict=bool(cfg.get('resume')))
    check_pretrained(cfg)
    setup_cpu_distributed(cfg, args.launcher)
    Runner.from_cfg(cfg).train()


if __name__ == '__main__':
    run_cli(main)
