"""What every command-line tool of the lab shares: a failure is one line on stderr and exit status 2.

``run_main(body)`` calls a CLI's body and turns any exception (and Ctrl-C) into ``error: <first line>``; set
``NEGLECT_LAB_DEBUG=1`` to get the traceback instead.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

__all__ = ["one_line", "run_main", "add_device_argument"]

DEVICE_HELP = ("where every model of this command runs: auto (cuda when present, else cpu; the default), cpu, cuda, "
               "cuda:N or mps")


def add_device_argument(ap: Any) -> None:
    """``--device`` (default ``auto``) on an analysis CLI's parser; the command applies it with
    :func:`interp.core.models.set_default_device`, so every model it loads (checkpoints deep inside an analysis
    included) lands there, and a device this machine lacks is a one-line error."""
    ap.add_argument("--device", default="auto", help=DEVICE_HELP)



def one_line(e: BaseException) -> str:
    """The first line of an exception's message (its type name if empty), at most 300 characters."""
    msg = str(e).strip().splitlines()
    return (msg[0] if msg else type(e).__name__)[:300]


def run_main(body: Callable[[], int]) -> int:
    """``body()``'s exit status, or 2 after printing a one-line error."""
    try:
        return body()
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - every failure is one line, exit 2
        if os.environ.get("NEGLECT_LAB_DEBUG"):
            raise
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
