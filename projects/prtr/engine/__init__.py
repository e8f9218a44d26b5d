# Copyright (c) prtr authors. All rights reserved.
"""Training machinery: crash-safe checkpoints and exact resume."""
from .atomic_local_backend import AtomicLocalBackend
from .hooks import AtomicCheckpointHook, get_rng_state, set_rng_state
from .resume import find_resumable_checkpoint

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'find_resumable_checkpoint',
    'get_rng_state', 'set_rng_state'
]
