"""The WASI/WASIX ABI as data: errno, enums and flags, and a bounds-checked memory view."""
from .errno import Errno, WasiError, from_os
from .memory import Fault, GuestMemory
from .types import *  # noqa: F401,F403  (the enums are the public vocabulary)
