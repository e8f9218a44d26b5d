# Copyright (c) prtr authors. All rights reserved.
"""Config keys checked before any work: a misspelled key stops a tool at
once, in one line that names the key and the nearest valid ones.

A dict with a ``type`` sets the arguments of a registered class: its keys
are checked against the constructor signature (``inspect.signature`` of the
class the registries return; a class taking ``**kwargs`` accepts any key
but a near-miss of one of its arguments). The runner's own untyped dicts
(``train_cfg``, ``val_cfg``, ``test_cfg``, ``optim_wrapper``, the
dataloaders) are checked against the classes mmengine builds from them.
``--cfg-options`` keys that are not in the loaded config at all must be
such arguments, or a top-level setting of mmengine's ``Runner``.

These checks are usable by any OpenMMLab tool::

    cfg = Config.fromfile(path)
    check_cfg_options(cfg, args.cfg_options)   # before merging them
    cfg.merge_from_dict(args.cfg_options)
    check_config_keys(cfg, path)
"""
import difflib
import inspect
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from .errors import UserInputError

# keys that builders consume before calling the constructor
BUILDER_KEYS = frozenset({
    'type', '_scope_', '_delete_', 'requires_grad', 'paramwise_cfg',
    'constructor', 'convert_to_iter_based', 'priority', 'layer', 'override',
    'bg_cls_weight'
})
# top-level keys Runner.from_cfg reads besides Runner's arguments
RUNNER_EXTRA_KEYS = frozenset({
    'launcher', 'resume', 'load_from', 'work_dir', 'custom_imports',
    'default_scope', 'auto_scale_lr', 'randomness', 'env_cfg', 'log_level',
    'model_wrapper_cfg', 'find_unused_parameters', 'runner_type', 'cfg',
    'compile', 'strategy'
})


class _Target:
    """What a dict's keys are the arguments of."""

    def __init__(self,
                 name: str,
                 params: Sequence[str],
                 strict: bool,
                 hints: Sequence[str] = ()) -> None:
        self.name = name
        self.params = set(params)
        self.strict = strict  # False: the callable takes **kwargs
        self.hints = set(hints) | self.params

    def problem(self, key: str) -> Optional[Tuple[str, List[str]]]:
        """``(reason, nearest)`` if ``key`` is not an argument."""
        if key in self.params or key in BUILDER_KEYS:
            return None
        if not self.strict and key in self.hints:
            return None  # an argument **kwargs passes on to a base class
        if self.strict:
            near = difflib.get_close_matches(key, sorted(self.hints), 3, 0.6)
            return f'{self.name} takes no argument {key!r}', near
        # **kwargs: flag a near-miss of a named argument only
        close = difflib.get_close_matches(key, sorted(self.hints), 3, 0.8)
        if close:
            return f'{self.name} takes no argument {key!r}', close
        return None


def _signature_target(obj: Any, name: str) -> Optional[_Target]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params = [
        p.name for p in sig.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    var_kw = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    hints = list(params)
    if var_kw and inspect.isclass(obj):
        for base in obj.__mro__[1:]:
            init = base.__dict__.get('__init__')
            if init is None or base is object:
                continue
            try:
                hints += list(inspect.signature(init).parameters)[1:]
            except (TypeError, ValueError):
                continue
    hints = [h for h in hints if h not in ('args', 'kwargs')]
    return _Target(name, params, not var_kw, hints)


_cache: Dict[Any, Optional[_Target]] = {}


def _registries() -> list:
    import mmpose.registry as reg
    from mmengine.registry import Registry
    return [
        getattr(reg, n) for n in sorted(dir(reg))
        if n.isupper() and not n.startswith('MMENGINE_')
        and isinstance(getattr(reg, n), Registry)
    ]


def _type_target(type_: Any) -> Optional[_Target]:
    """The constructor a ``type`` resolves to (None: unknown, unchecked)."""
    if not isinstance(type_, str):
        if callable(type_):
            return _signature_target(type_, getattr(type_, '__name__', '?'))
        return None
    if type_ in _cache:
        return _cache[type_]
    found = []
    for registry in _registries():
        try:
            obj = registry.get(type_)
        except Exception:  # noqa: BLE001  (an unimportable scope)
            obj = None
        if obj is not None and obj not in found:
            found.append(obj)
    targets = [_signature_target(obj, type_) for obj in found]
    targets = [t for t in targets if t is not None]
    target = None
    if len(targets) == 1:
        target = targets[0]
    elif targets:  # the name means several things: accept any of them
        target = _Target(type_,
                         set().union(*(t.params for t in targets)),
                         all(t.strict for t in targets),
                         set().union(*(t.hints for t in targets)))
    _cache[type_] = target
    return target


def _runner_target(path: str, node: dict) -> Optional[_Target]:
    """Targets of the runner's untyped dicts."""
    from mmengine.optim import OptimWrapper
    from mmengine.runner import (EpochBasedTrainLoop, IterBasedTrainLoop,
                                 Runner, TestLoop, ValLoop)
    from torch.utils.data import DataLoader
    if path == '':
        target = _signature_target(Runner, 'Runner')
        target.params |= RUNNER_EXTRA_KEYS
        target.hints |= RUNNER_EXTRA_KEYS
        return target
    loops = {'val_cfg': ValLoop, 'test_cfg': TestLoop}
    if path == 'train_cfg':
        by_epoch = node.get('by_epoch', 'max_iters' not in node)
        loops['train_cfg'] = EpochBasedTrainLoop if by_epoch \
            else IterBasedTrainLoop
    if path in loops:
        target = _signature_target(loops[path], loops[path].__name__)
        target.params |= {'by_epoch'}
        target.params -= {'runner', 'dataloader', 'evaluator'}
        return target
    if path == 'optim_wrapper':
        return _signature_target(OptimWrapper, 'OptimWrapper')
    if path.endswith('_dataloader'):
        target = _signature_target(DataLoader, 'DataLoader')
        target.params |= {'num_batch_per_epoch'}
        return target
    return None


def _target(path: str, node: dict) -> Optional[_Target]:
    if 'type' in node:
        return _type_target(node['type'])
    return _runner_target(path, node)


def _join(path: str, key: Any) -> str:
    return f'{path}.{key}' if path else str(key)


def _nearest_text(near: List[str]) -> str:
    return f' (nearest: {", ".join(near)})' if near else ''


def _walk(node: Any, path: str, where: str) -> None:
    if isinstance(node, dict):
        target = _target(path, node) if path else None
        for key, value in node.items():
            if target is not None:
                problem = target.problem(str(key))
                if problem:
                    reason, near = problem
                    near = [_join(path, n) for n in near]
                    raise UserInputError(f'{where}: {_join(path, key)}: '
                                         f'{reason}{_nearest_text(near)}')
            _walk(value, _join(path, key), where)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            _walk(value, _join(path, i), where)


def check_config_keys(cfg: Any, where: str = 'config') -> None:
    """Every key of a dict that builds a registered type (and of the
    runner's loops, optimizer wrapper and dataloaders) is an argument.

    Args:
        cfg (Config | dict): The loaded (and merged) config.
        where (str): How the message names the config (e.g. its path).

    Raises:
        UserInputError: A key is not an argument of what its dict builds;
            the message names it and the nearest valid keys.
    """
    for key, value in cfg.items():
        _walk(value, key, where)


def _option_problem(before: Any, after: Any, parts: List[str]) -> str:
    """Why ``--cfg-options`` key ``parts`` is invalid ('' if it is not)."""
    path = ''
    for part in parts:
        if isinstance(before, (list, tuple)):
            if not part.isdigit() or int(part) >= len(before):
                return (f'{path} is a list of {len(before)} items; '
                        f'{part!r} is not an index of it')
            before, after = before[int(part)], after[int(part)]
            path = _join(path, part)
            continue
        if not isinstance(before, dict):
            return f'{path} is a {type(before).__name__}, not a dict'
        if part in before:
            before, after = before[part], after[part]
            path = _join(path, part)
            continue
        # a key the config does not have: must be an accepted argument
        target = _target(path, after) if isinstance(after, dict) else None
        if target is not None:
            problem = target.problem(part)
            if problem and not path:
                near = difflib.get_close_matches(
                    part, sorted(set(map(str, before)) | target.hints), 3, 0.6)
                return (f'{part!r} is not a key of the config'
                        f'{_nearest_text(near)}')
            if problem:
                reason, near = problem
                near = [_join(path, n) for n in near]
                return (f'{_join(path, part)!r} is not in the config and '
                        f'{reason}{_nearest_text(near)}')
            return ''
        near = difflib.get_close_matches(part, [str(k) for k in before], 3,
                                         0.6)
        near = [_join(path, n) for n in near]
        if not path:
            return (f'{part!r} is not a key of the config'
                    f'{_nearest_text(near)}')
        close = difflib.get_close_matches(part, [str(k) for k in before], 1,
                                          0.8)
        if close:
            return (f'{_join(path, part)!r} is not in the config'
                    f'{_nearest_text(near)}')
        return ''  # a new setting of an untyped dict
    return ''


def check_cfg_options(cfg: Any, options: Optional[dict]) -> None:
    """``--cfg-options`` keys exist in ``cfg`` or are valid arguments.

    Args:
        cfg (Config): The config as loaded, before the options are merged.
        options (dict, optional): The parsed ``--cfg-options``.

    Raises:
        UserInputError: A key is neither in the config nor an argument of
            what its dict builds; the message names it and the nearest
            valid keys.
    """
    if not options:
        return
    from mmengine.config import Config
    before = cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg)
    merged = Config(before)  # a copy: merging leaves ``before`` as it is
    try:
        merged.merge_from_dict(options)
        merge_error = None
    except Exception as e:  # noqa: BLE001  (reported below, in one line)
        merged, merge_error = cfg, e
    after = merged.to_dict() if hasattr(merged, 'to_dict') else dict(merged)
    for key in options:
        problem = _option_problem(before, after, key.split('.'))
        if problem:
            raise UserInputError(f'--cfg-options {key}: {problem}')
    if merge_error is not None:
        raise UserInputError(f'--cfg-options: {merge_error}')


def dataset_cfgs(dataset: Any, combined: bool = False) -> Iterator[dict]:
    """Leaf dataset configs (through wrappers such as CombinedDataset).

    With ``combined`` a ``CombinedDataset`` with a ``metainfo`` is yielded
    itself, not its parts: its samples carry that metainfo (mmpose's
    ``KeypointConverter`` maps each part's joints onto it).
    """
    if not dataset:
        return
    if 'datasets' in dataset and combined and dataset.get('metainfo'):
        yield dataset
    elif 'datasets' in dataset:
        for d in dataset['datasets']:
            yield from dataset_cfgs(d, combined)
    elif 'dataset' in dataset:
        yield from dataset_cfgs(dataset['dataset'], combined)
    else:
        yield dataset


def _dataset_num_keypoints(ds: dict) -> Optional[int]:
    from mmpose.registry import DATASETS
    cls = DATASETS.get(ds.get('type', '')) if isinstance(
        ds.get('type'), str) else ds.get('type')
    if cls is None or not hasattr(cls, '_load_metainfo'):
        return None
    metainfo = ds.get('metainfo')
    try:
        info = cls._load_metainfo(
            dict(metainfo) if metainfo else dict(cls.METAINFO))
    except Exception:  # noqa: BLE001  (the dataset reports it itself)
        return None
    return info.get('num_keypoints')


def _ann_path(ds: dict) -> str:
    import os.path as osp
    path = ds.get('ann_file') or ''
    return osp.join(ds.get('data_root') or '', path) if path else '?'


def _keypoints_out_of(ds: dict) -> Optional[int]:
    """K of the samples a dataset config yields: its pipeline's last
    ``KeypointConverter``, else its metainfo's."""
    for step in reversed(list(ds.get('pipeline') or [])):
        if isinstance(step, dict) and step.get('type') in (
                'KeypointConverter', 'mmpose.KeypointConverter'):
            return step.get('num_keypoints')
    if 'datasets' in ds:  # CombinedDataset: samples take its metainfo
        from mmpose.datasets.datasets.utils import parse_pose_metainfo
        try:
            return parse_pose_metainfo(dict(
                ds['metainfo'])).get('num_keypoints')
        except Exception:  # noqa: BLE001  (the dataset reports it itself)
            return None
    return _dataset_num_keypoints(ds)


def check_num_keypoints(cfg: Any,
                        splits: Sequence[str] = ('train', 'val', 'test')
                        ) -> None:
    """Every ``num_keypoints`` of ``cfg.model`` equals the keypoint count
    of the samples that the datasets of ``splits`` give the model (after
    mmpose's ``KeypointConverter`` and ``CombinedDataset``).

    Raises:
        UserInputError: They differ; names the model key and the dataset.
    """
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == 'num_keypoints' and isinstance(value, int):
                    found.append((path + '.' + key, value))
                walk(value, f'{path}.{key}')
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f'{path}.{i}')

    walk(cfg.get('model') or {}, 'model')
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        for ds in dataset_cfgs(
                loader.get('dataset') if loader else None, combined=True):
            count = _keypoints_out_of(ds)
            for part in ds.get('datasets') or []:  # a CombinedDataset
                for leaf in dataset_cfgs(part):
                    part_count = _keypoints_out_of(leaf)
                    if None not in (count, part_count) and part_count != count:
                        raise UserInputError(
                            f'the {split} CombinedDataset has {count} '
                            'keypoints per person (its metainfo) but its '
                            f'part ({leaf.get("type")}, {_ann_path(leaf)}) '
                            f'gives {part_count}: map its joints with '
                            "dict(type='KeypointConverter', "
                            f'num_keypoints={count}, mapping=[...]) in its '
                            'pipeline')
            for key, value in found:
                if count is not None and value != count:
                    raise UserInputError(
                        f'{key}={value} but the {split} dataset '
                        f'({ds.get("type")}, {_ann_path(ds)}) has '
                        f'{count} keypoints per person: set {key} to the '
                        'dataset\'s keypoint count')
