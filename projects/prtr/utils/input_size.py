# Copyright (c) prtr authors. All rights reserved.
"""A config at another input size: every ``input_size`` of the codec, the
head's decoder and both pipelines, set in one place (mmengine's
inheritance replaces a pipeline list as a whole, so a resolution variant
would restate both pipelines)::

    _base_ = ['./prtr_res50_4xb32-200e_coco-384x288.py']
    from prtr.utils import at_input_size  # noqa: E402

    (codec, model, train_pipeline, val_pipeline, train_dataloader,
     val_dataloader, test_dataloader) = at_input_size(_base_, (384, 512))
"""
import copy
from typing import Any, Iterator, Sequence, Tuple

# what a top-down config holds an input size in (a variant returns them in
# this order)
SIZED_KEYS = ('codec', 'model', 'train_pipeline', 'val_pipeline',
              'train_dataloader', 'val_dataloader', 'test_dataloader')


def config_dicts(node: Any) -> Iterator[dict]:
    """Every dict of a nested config, each before its values (so that what
    the caller changes in a dict is what is walked next)."""
    if isinstance(node, dict):
        yield node
        children = node.values()
    elif isinstance(node, (list, tuple)):
        children = node
    else:
        return
    for child in list(children):
        yield from config_dicts(child)


def set_input_size(node: Any, size: Sequence[int]) -> None:
    """Set every ``input_size`` of a config to ``size`` (w, h) in place;
    heatmap sizes next to it keep their ratio to the input."""
    w, h = size
    for d in config_dicts(node):
        if 'input_size' in d:
            old_w, old_h = d['input_size']
            if 'heatmap_size' in d:
                hw, hh = d['heatmap_size']
                d['heatmap_size'] = (w * hw // old_w, h * hh // old_h)
            d['input_size'] = (w, h)


def at_input_size(base: dict, size: Sequence[int]) -> Tuple[Any, ...]:
    """The parts of the top-down config ``base`` that hold an input size,
    copied with every ``input_size`` set to ``size`` (w, h).

    Args:
        base (dict): the parsed base config (``_base_`` inside a config).
        size (Sequence[int]): the input size (w, h).

    Returns:
        tuple: ``base``'s values of :data:`SIZED_KEYS`, in that order.
    """
    missing = [key for key in SIZED_KEYS if key not in base]
    if missing:
        raise KeyError(f'at_input_size: the base config has no {missing}')
    parts = copy.deepcopy(tuple(base[key] for key in SIZED_KEYS))
    set_input_size(parts, tuple(size))
    return parts
