"""The one exception type the engine raises for problems a user can fix.

The CLI turns it into a one-line message and a non-zero exit; anything else is a bug.
"""


class FluidlossError(Exception):
    """A user-facing error: bad input, missing file, mismatched data or weights."""
