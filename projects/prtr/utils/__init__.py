# Copyright (c) prtr authors. All rights reserved.
"""The error of a bad user input, and configs at another input size."""
from .errors import UserInputError
from .input_size import at_input_size, set_input_size

__all__ = ['UserInputError', 'at_input_size', 'set_input_size']
