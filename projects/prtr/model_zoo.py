# Copyright (c) prtr authors. All rights reserved.
"""The model zoo by name: an entry of ``configs/metafile.yml`` (its
``Name`` or ``Alias``) -> its config file and weights, read with mmengine's
metafile reader. mmpose's inferencers look aliases up in the metafile of
the registry scope's package, and ``prtr`` registers in mmpose's scope::

    config, weights = resolve_model('prtr-hrnet-w32-coco-384')
    inferencer = MMPoseInferencer(pose2d=config, pose2d_weights=weights)
"""
import difflib
import os.path as osp
from typing import Dict, List, Tuple

from mmengine.infer import BaseInferencer

from .utils import UserInputError


def index_dir() -> str:
    """Where ``model-index.yml`` and ``configs/`` are: the package's
    ``.mim`` (a regular or an editable install), else the checkout."""
    package = osp.dirname(osp.abspath(__file__))
    for root in (osp.join(package, '.mim'), osp.dirname(osp.dirname(package))):
        if osp.isfile(osp.join(root, 'model-index.yml')):
            return root
    raise FileNotFoundError(f'no model-index.yml in {package}/.mim or the '
                            'checkout: reinstall prtr')


def zoo_models() -> List[Dict]:
    """The metafile's model entries (mmengine's metafile reader)."""
    return list(BaseInferencer._get_models_from_metafile(index_dir()))


def resolve_model(name: str) -> Tuple[str, str]:
    """Config file and weights of the zoo model ``name`` (case-insensitive
    ``Name`` or ``Alias``).

    Returns:
        tuple: the absolute config path and the ``Weights`` entry (a path
        relative to the working directory where the converted official
        model goes, see the metafile's header), or None if the entry has no
        released weights.

    Raises:
        UserInputError: ``name`` is in no entry; the closest names are
        suggested.
    """
    root = index_dir()
    names = []
    for model in zoo_models():
        aliases = model.get('Alias', [])
        aliases = [aliases] if isinstance(aliases, str) else aliases
        keys = [model['Name']] + list(aliases)
        if name.lower() in (k.lower() for k in keys):
            return osp.join(root, model['Config']), model.get('Weights')
        names += keys
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    raise UserInputError(
        f'no PRTR model named {name!r} in the model zoo' +
        (f' (did you mean {", ".join(close)}?)' if close else '') +
        ': `mim search prtr` or configs/metafile.yml lists them')
