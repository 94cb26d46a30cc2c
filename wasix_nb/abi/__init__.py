"""The WASI/WASIX ABI as data: errno, enums and flags, and a bounds-checked memory view."""

from .errno import Errno, WasiError, from_os  # noqa: F401  (re-exported)
from .memory import Fault, GuestMemory  # noqa: F401
from .types import *  # noqa: F401,F403  (the enums are the public vocabulary)
