# Copyright (c) prtr authors. All rights reserved.
"""Evaluate a PRTR model (mmpose 1.x interface: tools/test.py CONFIG CKPT)."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from prtr.cli import (check_checkpoint, check_checkpoint_fits,
                      check_config_file, check_data_files, check_work_dir,
                      key_value, note_cfg_options, run_cli,
                      setup_cpu_distributed)
from prtr.utils import UserInputError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate a pose model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save evaluation logs')
    parser.add_argument('--out', help='dump the metrics (.json/.pkl)')
    parser.add_argument('--dump', help='dump the predictions (.pkl)')
    parser.add_argument('--show-dir', help='draw the predictions there')
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
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args) -> Config:
    """The config with the command line's settings."""
    note_cfg_options(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.load_from = args.checkpoint
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    check_work_dir(cfg.work_dir)
    outputs = ('.json', '.yml', '.yaml', '.pkl', '.pickle')
    if args.out and not args.out.endswith(outputs):
        raise UserInputError(f'--out must name a .json, .yaml or .pkl file, '
                             f'got {args.out}')
    if args.show_dir:
        vis = cfg.default_hooks.visualization
        vis.enable, vis.out_dir = True, args.show_dir
    if args.dump:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise UserInputError(
                f'--dump must name a .pkl file, got {args.dump}')
        evaluator = cfg.test_evaluator
        evaluator = evaluator if isinstance(evaluator, list) else [evaluator]
        cfg.test_evaluator = evaluator + [
            dict(type='DumpResults', out_file_path=args.dump)
        ]
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main(argv=None):
    """Check every input, then evaluate (``argv``: the command line's
    arguments, default ``sys.argv[1:]``)."""
    args = parse_args(argv)
    check_config_file(args.config)
    cfg = merge_args(Config.fromfile(args.config), args)
    check_data_files(cfg, ('test', ))
    check_checkpoint(args.checkpoint)
    check_checkpoint_fits(cfg, args.checkpoint, args.config)
    setup_cpu_distributed(cfg, args.launcher)
    metrics = Runner.from_cfg(cfg).test()
    if args.out:
        from mmengine.fileio import dump
        dump(metrics, args.out)


if __name__ == '__main__':
    run_cli(main)
