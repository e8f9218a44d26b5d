# Copyright (c) prtr authors. All rights reserved.
"""PRTR (Pose Recognition with Cascade Transformers) for MMPose 1.x:
importing it registers its components in mmpose's registries and allows
mmengine checkpoints' types for ``torch.load(weights_only=True)``."""
import mmdet.models  # noqa: F401  (registers mmdet.* losses and costs)

from .checkpoint import allow_mmengine_checkpoints
from .codecs import *  # noqa: F401,F403
from .datasets import *  # noqa: F401,F403
from .engine import *  # noqa: F401,F403
from .evaluation import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403

__version__ = '0.1.0'

allow_mmengine_checkpoints()
