# Copyright (c) prtr authors. All rights reserved.
"""Checks of user inputs that any OpenMMLab tool can call, and configs at
another input size."""
from .config_check import (check_cfg_options, check_config_keys,
                           check_num_keypoints)
from .errors import UserInputError
from .input_size import at_input_size, set_input_size

__all__ = [
    'UserInputError', 'at_input_size', 'check_cfg_options',
    'check_config_keys', 'check_num_keypoints', 'set_input_size'
]
