"""One-line warnings for conditions where going on is right but the user must know (torn log line, unofficial
weights): printed to stderr as `warning: ...`, like the CLI's `error: ...` lines."""

import sys


def warn(message: str) -> None:
    """Print `warning: MESSAGE` on one line to stderr."""
    print(f"warning: {' '.join(message.split())}", file=sys.stderr, flush=True)
