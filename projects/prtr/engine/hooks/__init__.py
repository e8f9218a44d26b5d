# Copyright (c) prtr authors. All rights reserved.
from .atomic_checkpoint_hook import (AtomicCheckpointHook, get_rng_state,
                                     set_rng_state)
from .nonfinite_check_hook import NonFiniteCheckHook, NonFiniteError

__all__ = [
    'AtomicCheckpointHook', 'NonFiniteCheckHook', 'NonFiniteError',
    'get_rng_state', 'set_rng_state'
]
