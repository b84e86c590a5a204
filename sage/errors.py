"""The error a user's input raises: a wrong spec, data file, teacher or output folder.

Every such error is raised before any expensive work, says what was wrong, where, and what
would be valid; the command line shows it as one message, without a traceback.
"""


class InputError(ValueError):
    """Something the user gave is wrong; the message says what, where, and what would be valid."""
