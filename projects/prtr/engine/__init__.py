# Copyright (c) prtr authors. All rights reserved.
"""Training machinery: crash-safe checkpoints and exact resume."""
from .atomic_local_backend import AtomicLocalBackend
from .hooks import AtomicCheckpointHook, NonFiniteCheckHook
from .resume import find_resumable_checkpoint

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'NonFiniteCheckHook',
    'find_resumable_checkpoint'
]
