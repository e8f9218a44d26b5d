# Copyright (c) prtr authors. All rights reserved.
"""Checks of user inputs that any OpenMMLab tool can call."""
from .config_check import (check_cfg_options, check_config_keys,
                           check_num_keypoints)
from .errors import UserInputError

__all__ = [
    'UserInputError', 'check_cfg_options', 'check_config_keys',
    'check_num_keypoints'
]
