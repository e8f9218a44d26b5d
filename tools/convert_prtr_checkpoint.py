# Copyright (c) prtr authors. All rights reserved.
"""Convert official PRTR weights to checkpoints of this package.

IN: an official two-stage model (``pose_transformer_*.pth``,
``deform_pose_transformer_*.pth``; a ``PoseTransformer`` state dict, plain
or under ``state_dict``/``model``) or the HRNetV2-W32 ImageNet classifier
the official HRNet configs start from (-> backbone + neck). OUT loads into
the matching config with no missing or unexpected keys.
"""
import argparse
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional

import torch
from mmengine.runner import save_checkpoint

from prtr.cli import check_checkpoint, run_cli
from prtr.utils import UserInputError

# official name pattern -> ours, tried in order on every key
_RULES = [
    # backbone: torchvision ResNet / HRNet-cls under Joiner[0].body
    (r'^backbone\.0\.body\.(incre_modules|downsamp_modules|final_layer)\.',
     r'neck.\1.'),
    (r'^backbone\.0\.body\.', 'backbone.'),
    # DETR transformer (nn.MultiheadAttention / Linear / LayerNorm) ->
    # mmdet's DETR layers (mmcv MultiheadAttention wraps the same module)
    (r'^transformer\.(encoder|decoder)\.layers\.(\d+)\.self_attn\.',
     r'head.transformer.\1.layers.\2.self_attn.attn.'),
    (r'^transformer\.decoder\.layers\.(\d+)\.multihead_attn\.',
     r'head.transformer.decoder.layers.\1.cross_attn.attn.'),
    (r'^transformer\.(encoder|decoder)\.layers\.(\d+)\.linear1\.',
     r'head.transformer.\1.layers.\2.ffn.layers.0.0.'),
    (r'^transformer\.(encoder|decoder)\.layers\.(\d+)\.linear2\.',
     r'head.transformer.\1.layers.\2.ffn.layers.1.'),
    (r'^transformer\.(encoder|decoder)\.layers\.(\d+)\.norm(\d)\.',
     lambda m: f'head.transformer.{m[1]}.layers.{m[2]}.norms.'
     f'{int(m[3]) - 1}.'),
    (r'^transformer\.decoder\.norm\.', 'head.transformer.decoder.post_norm.'),
    (r'^(input_proj|query_embed|class_embed|kpt_embed)\.', r'head.\1.'),
]
# DeformablePoseTransformer: Deformable-DETR layers (mmcv's
# MultiScaleDeformableAttention has upstream's MSDeformAttn names) and one
# class/coordinate head shared by the 6 decoder layers
_DEFORM_RULES = _RULES[:2] + [
    (r'^transformer\.level_embed$', 'head.level_embed'),
    (r'^transformer\.reference_points\.', 'head.reference_points.'),
    (r'^transformer\.encoder\.layers\.(\d+)\.self_attn\.',
     r'head.transformer.encoder.layers.\1.self_attn.'),
    (r'^transformer\.decoder\.layers\.(\d+)\.cross_attn\.',
     r'head.transformer.decoder.layers.\1.cross_attn.'),
    (r'^transformer\.decoder\.layers\.(\d+)\.self_attn\.',
     r'head.transformer.decoder.layers.\1.self_attn.attn.'),
    (r'^transformer\.(encoder|decoder)\.layers\.(\d+)\.linear1\.',
     r'head.transformer.\1.layers.\2.ffn.layers.0.0.'),
    (r'^transformer\.(encoder|decoder)\.layers\.(\d+)\.linear2\.',
     r'head.transformer.\1.layers.\2.ffn.layers.1.'),
    (r'^transformer\.encoder\.layers\.(\d+)\.norm(\d)\.',
     lambda m: f'head.transformer.encoder.layers.{m[1]}.norms.'
     f'{int(m[2]) - 1}.'),
    # upstream's decoder: norm2 after self-attn, norm1 after cross-attn
    (r'^transformer\.decoder\.layers\.(\d+)\.norm(\d)\.',
     lambda m: f'head.transformer.decoder.layers.{m[1]}.norms.'
     f'{ {"2": 0, "1": 1, "3": 2}[m[2]] }.'),
    (r'^input_proj\.', 'head.input_proj.'),
    (r'^(class_embed|kpt_embed)\.0\.', r'head.\1.'),
    (r'^(class_embed|kpt_embed)\.[1-9]\d*\.', None),  # the shared copies
    (r'^query_embed\.', 'head.query_embed.'),
]
# the HRNet ImageNet classifier: no prefix, and an fc we do not use
_IMAGENET_RULES = [
    (r'^(incre_modules|downsamp_modules|final_layer)\.', r'neck.\1.'),
    (r'^classifier\.', None),
    (r'^', 'backbone.'),
]
# keys the HRNet ImageNet classifier has (its stem, stage 2, classifier)
_IMAGENET_KEYS = {
    'conv1.weight', 'stage2.0.fuse_layers.0.1.0.weight', 'classifier.weight'
}


def _rename(key: str, rules) -> str:
    for pattern, repl in rules:
        if re.match(pattern, key):
            return None if repl is None else re.sub(pattern, repl, key, 1)
    raise KeyError(f'unexpected key in the official checkpoint: {key}')


def convert(state_dict: Dict[str, torch.Tensor]) -> 'OrderedDict':
    """Rename an official state dict to this package's module names."""
    if 'state_dict' in state_dict:
        state_dict = state_dict['state_dict']
    elif 'model' in state_dict:
        state_dict = state_dict['model']
    state_dict = {
        k[len('module.'):] if k.startswith('module.') else k: v
        for k, v in state_dict.items()
    }
    official = any(
        k.startswith(('backbone.0.body.', 'transformer.')) for k in state_dict)
    if not official:
        if not _IMAGENET_KEYS <= set(state_dict):
            raise KeyError(
                'neither an official PRTR model (keys backbone.0.body.*, '
                'transformer.*) nor the HRNetV2-W32 ImageNet classifier '
                f'({", ".join(sorted(_IMAGENET_KEYS))}, ...); its keys: '
                f'{", ".join(sorted(map(str, state_dict))[:5])}'
                f'{", ..." if len(state_dict) > 5 else ""}')
        rules = _IMAGENET_RULES
    elif 'transformer.level_embed' in state_dict:
        rules = _DEFORM_RULES
    else:
        rules = _RULES
    out = OrderedDict()
    for key, value in state_dict.items():
        new_key = _rename(key, rules)
        if new_key is not None:
            out[new_key] = value
    # Upstream's ResNets use FrozenBatchNorm2d, which has no
    # num_batches_tracked buffer; mmpose's BatchNorm does.
    for key in list(out):
        if key.endswith('.running_mean'):
            counter = key[:-len('running_mean')] + 'num_batches_tracked'
            out.setdefault(counter, torch.tensor(0, dtype=torch.long))
    return out


def main(argv: Optional[List[str]] = None) -> None:
    """Convert ``src`` to ``dst`` (``argv``: the command line's arguments,
    default ``sys.argv[1:]``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='official checkpoint')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace DST if it exists (default: refuse)')
    args = parser.parse_args(argv)
    # official weights are plain tensors: weights_only is enough
    check_checkpoint(args.src, 'official checkpoint')
    if osp.isdir(args.dst):
        raise UserInputError(f'output {args.dst} is a folder: name the '
                             'checkpoint file to write')
    if osp.exists(args.dst) and osp.samefile(args.src, args.dst):
        raise UserInputError(f'output {args.dst} is the input checkpoint: '
                             'name another file')
    if osp.exists(args.dst) and not args.overwrite:
        raise UserInputError(f'output {args.dst} exists: name another file, '
                             'or pass --overwrite to replace it')
    folder = osp.dirname(osp.abspath(args.dst))
    if not osp.isdir(folder):
        raise UserInputError(f'output folder not found: '
                             f'{osp.dirname(args.dst)}')
    src = torch.load(args.src, map_location='cpu', weights_only=True)
    inner = src.get('state_dict', src.get('model', src))
    if isinstance(inner, dict) and any(
            str(k).startswith(('head.', 'module.head.')) for k in inner):
        raise UserInputError(f'{args.src} is already a checkpoint of this '
                             'package (keys head.*): use it as it is')
    if not isinstance(inner, dict) or not inner or not all(
            isinstance(v, torch.Tensor) for v in inner.values()):
        raise UserInputError(
            f'{args.src} holds no state dict (a dict of tensors, or one '
            'under "state_dict"/"model")')
    try:
        state_dict = convert(src)
    except KeyError as e:
        raise UserInputError(f'{args.src}: {e.args[0]}') from None
    # a complete file or none (prtr.engine.AtomicLocalBackend)
    save_checkpoint(
        dict(
            state_dict=state_dict,
            meta=dict(converted_from=osp.basename(args.src))),
        args.dst,
        backend_args=dict(backend='atomic_local'))
    print(f'{args.src} -> {args.dst}: {len(state_dict)} tensors')


if __name__ == '__main__':
    run_cli(main)
