# Copyright (c) prtr authors. All rights reserved.
"""The exception for inputs the user can fix."""


class UserInputError(Exception):
    """A bad user input (file, config key, option value).

    The tools print its message as one line, without a traceback: it must
    name the file, key or option at fault.
    """
