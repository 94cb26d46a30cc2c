"""The older import path: `from wasix_nb.process import Process` (the runtime lives in wasix_nb.runtime)."""

from .runtime.process import Process
from .runtime.run import EXIT_STATUS, Result
from .runtime.traps import describe_trap

__all__ = ["Process", "Result", "EXIT_STATUS", "describe_trap"]
