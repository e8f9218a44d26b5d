# Copyright (c) prtr authors. All rights reserved.
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .nonfinite_check_hook import NonFiniteCheckHook, NonFiniteError

__all__ = ['AtomicCheckpointHook', 'NonFiniteCheckHook', 'NonFiniteError']
