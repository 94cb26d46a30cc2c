"""One socket's conversation, like Wireshark's "Follow TCP stream": what the program received and what it
sent, in order, in two colours, as text or hex.

Built on the trace's payload rows (`proc.io`: seq, t_ns, pid, tid, fd, direction, nbytes, data, peer).  A
conversation is one (pid, fd, peer): descriptor numbers are reused (every client of an echo server is
fd 4), the peer tells the connections apart.  `data` holds the first bytes of each payload (the trace's
capture limit); what was not captured is said, never guessed.

    proc.follow()              # the most recent socket conversation
    proc.follow(fd=4)          # the most recent one on fd 4
    proc.follow(peer="127.0.0.1:5555", hex=True)
"""

import html

# the two sides, in colours that read on light and dark backgrounds (as Wireshark: peer red, us blue)
IN_COLOUR, OUT_COLOUR = "#c0392b", "#1f6fb2"
MAX_BYTES = 16 * 1024  # shown per view; the rest is counted, not drawn
_NOT_SOCKET = ("stdin", "stdout", "stderr")


def _is_socket_peer(peer) -> bool:
    return bool(peer) and peer not in _NOT_SOCKET and not str(peer).startswith(("pipe", "file", "/"))


def conversations(rows):
    """The (pid, fd, peer) of every socket conversation, in order of first payload."""
    seen = {}
    for r in rows:
        key = (r[2], r[4], r[8])
        if key not in seen and _is_socket_peer(r[8]):
            seen[key] = True
    return list(seen)


def pick(rows, fd=None, peer=None, pid=None):
    """The rows of one conversation: the most recent matching (pid, fd, peer), or [] when none."""
    keys = [
        k
        for k in conversations(rows)
        if (fd is None or k[1] == fd) and (peer is None or k[2] == peer) and (pid is None or k[0] == pid)
    ]
    if not keys:
        return []
    key = keys[-1]
    return [r for r in rows if (r[2], r[4], r[8]) == key]


def _text(data: bytes) -> str:
    """Printable ASCII as is (newlines kept), everything else as \\xNN."""
    out = []
    for b in data:
        if 32 <= b < 127 or b in (10, 9):
            out.append(chr(b))
        elif b == 13:
            out.append("\\r")
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def _hex(data: bytes, offset: int) -> str:
    lines = []
    for i in range(0, len(data), 16):
        chunk = data[i : i + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset + i:08x}  {hexes:<47}  {ascii_}")
    return "\n".join(lines)


def _chunks(rows, hex_, max_bytes):
    """[(direction, text, note)] for the rows, at most `max_bytes` of data drawn."""
    out, shown, offsets = [], 0, {"in": 0, "out": 0}
    for r in rows:
        direction, nbytes, data = r[5], r[6], bytes(r[7] or b"")
        room = max(0, max_bytes - shown)
        part = data[:room]
        shown += len(part)
        body = _hex(part, offsets[direction]) if hex_ else _text(part)
        offsets[direction] += nbytes
        missing = nbytes - len(part)
        note = f"[{missing} more bytes not {'shown' if len(data) > len(part) else 'captured'}]" if missing else ""
        out.append((direction, body, note))
    return out


def summary(rows) -> str:
    if not rows:
        return "no socket payloads"
    pid, fd, peer = rows[0][2], rows[0][4], rows[0][8]
    n_in = sum(r[6] for r in rows if r[5] == "in")
    n_out = sum(r[6] for r in rows if r[5] == "out")
    who = f"pid {pid} " if pid != 1 else ""
    return (
        f"{who}fd {fd} ⇄ {peer}: {n_in} bytes in (from the peer), {n_out} bytes out (from the program), "
        f"{len(rows)} payloads"
    )


def html_view(rows, hex=False, max_bytes=MAX_BYTES, title="conversation") -> str:
    """The conversation as HTML with inline colours (kept by Lab's sanitizer, GitHub and nbconvert)."""
    esc = html.escape
    parts = [
        f'<div class="wx-stream"><h4>{esc(title)}</h4><div style="font-size:90%">{esc(summary(rows))} · '
        f'<span style="color:{IN_COLOUR};font-weight:bold">in</span> / '
        f'<span style="color:{OUT_COLOUR};font-weight:bold">out</span></div>'
        '<pre style="white-space:pre-wrap;margin:2px 0">'
    ]
    for direction, body, note in _chunks(rows, hex, max_bytes):
        colour = IN_COLOUR if direction == "in" else OUT_COLOUR
        text = body + ("\n" if hex and body else "") + (f" {note}" if note else "")
        parts.append(f'<span class="wx-{direction}" style="color:{colour}">{esc(text)}</span>')
    parts.append("</pre></div>")
    return "".join(parts)


def text_view(rows, hex=False, max_bytes=MAX_BYTES) -> str:
    """Plain text: each payload on its own lines, prefixed `<` (in) or `>` (out)."""
    lines = [summary(rows)]
    for direction, body, note in _chunks(rows, hex, max_bytes):
        mark = "<" if direction == "in" else ">"
        for line in (body + (" " + note if note else "")).split("\n"):
            lines.append(f"{mark} {line}")
    return "\n".join(lines)


class Conversation:
    """What `proc.follow()` returns: shows as coloured HTML in Jupyter, as text elsewhere.
    `.rows` are the payload rows; `.received` / `.sent` the captured bytes of each side."""

    def __init__(self, rows, hex=False):
        self.rows = rows
        self.hex = hex

    @property
    def received(self) -> bytes:
        return b"".join(bytes(r[7] or b"") for r in self.rows if r[5] == "in")

    @property
    def sent(self) -> bytes:
        return b"".join(bytes(r[7] or b"") for r in self.rows if r[5] == "out")

    def _repr_html_(self):
        return html_view(self.rows, self.hex)

    def __repr__(self):
        return text_view(self.rows, self.hex)


def follow(p, fd=None, peer=None, pid=None, hex=False) -> Conversation:
    """The most recent socket conversation of a Process or Result (optionally on `fd`, with `peer`)."""
    from .tables import event_log

    return Conversation(pick(event_log(p).io_rows(), fd, peer, pid), hex)


def section_html(trace, max_bytes=2048) -> str:
    """The live panel's section: the most recent socket conversation, its last `max_bytes` shown."""
    rows = pick(trace.io_rows()[-2000:])  # the recent payloads: bounded work per update
    if not rows:
        return ""
    total, keep = 0, []
    for r in reversed(rows):  # the end of the conversation is what changes
        keep.append(r)
        total += len(r[7] or b"")
        if total >= max_bytes:
            break
    keep.reverse()
    title = "conversation" + (f" (the last {len(keep)} of {len(rows)} payloads)" if len(keep) < len(rows) else "")
    return html_view(keep, max_bytes=max_bytes, title=title)
