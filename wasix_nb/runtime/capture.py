"""What a process keeps of its stdout or stderr: the first `limit` bytes, kept once (issue 9, B8).

Everything written still goes to the user's callable (the terminal, a widget) and is counted; only the
kept part is memory.  `Result.stdout` is the same bytes, frozen once at the end (no second copy).
"""


class Capture:
    __slots__ = ("limit", "buf", "total", "sink", "_frozen")

    def __init__(self, limit: int, sink=None):
        self.limit = limit
        self.buf = bytearray()
        self.total = 0
        self.sink = sink
        self._frozen = None

    def write(self, data):
        self.total += len(data)
        room = self.limit - len(self.buf)
        if room > 0:
            self.buf += data[:room] if len(data) > room else data
        if self.sink is not None:
            self.sink(data)

    @property
    def dropped(self) -> int:
        """Bytes written but not kept."""
        return self.total - len(self.buf) if self._frozen is None else self.total - len(self._frozen)

    def value(self) -> bytes:
        return self._frozen if self._frozen is not None else bytes(self.buf)

    def freeze(self) -> bytes:
        """The kept bytes as one immutable object; the growing buffer is released."""
        if self._frozen is None:
            self._frozen, self.buf = bytes(self.buf), bytearray()
        return self._frozen
