"""Follow stream: one socket's conversation (what the program received and sent) in two colours, as text
or hex, from `proc.io`; in `proc.follow()`, the live panel and the saved tables."""

import re
import socket

from conftest import listening_port
from wasix_nb.process import Process
from wasix_nb.views import stream
from wasix_nb.views.display import show
from watlib import addr_v4, echo_server


def run_echo(messages):
    p = Process(echo_server(addr_v4(), conns=len(messages)))
    panel = show(p, live=True)
    p.start()
    port = listening_port(p)
    for msg in messages:
        with socket.create_connection(("127.0.0.1", port)) as c:
            c.sendall(msg)
            got = b""
            while len(got) < len(msg):
                got += c.recv(100)
    assert p.wait(10).ok
    panel.finish()
    return p, panel


def test_follow_shows_the_last_conversation_in_two_colours():
    p, panel = run_echo([b"hello\n", b"bin\x00\x01\xff"])
    conv = p.follow()
    assert conv.received == b"bin\x00\x01\xff" and conv.sent == b"bin\x00\x01\xff"  # the last client
    first = p.follow(peer=p.io.peer.iloc[0])
    assert first.received == b"hello\n"
    html = conv._repr_html_()
    spans = re.findall(r'<span class="wx-(in|out)" style="color:(#[0-9a-f]+)">([^<]*)</span>', html)
    assert [s[0] for s in spans] == ["in", "out"]
    assert spans[0][1] == stream.IN_COLOUR and spans[1][1] == stream.OUT_COLOUR != stream.IN_COLOUR
    assert spans[0][2] == "bin\\x00\\x01\\xff"  # text mode escapes what is not printable
    assert "fd 4 ⇄ 127.0.0.1:" in html and "6 bytes in" in html
    text = repr(conv)
    assert "< bin\\x00\\x01\\xff" in text and "> bin\\x00\\x01\\xff" in text
    hexed = p.follow(hex=True)._repr_html_()
    assert "00000000  62 69 6e 00 01 ff" in hexed and "bin..." in hexed
    assert "follow" in dir(p)


def test_panel_and_saved_tables_show_the_conversation():
    p, panel = run_echo([b"ping over the wire\n"])
    assert "ping over the wire" in panel.bottom.value and 'class="wx-in"' in panel.bottom.value
    saved = panel._repr_mimebundle_()["text/html"]
    assert "<h4>conversation</h4>" in saved and "ping over the wire" in saved


def test_uncaptured_bytes_are_said_not_guessed():
    rows = [(0, 0, 1, 1, 4, "in", 10, b"abc", "127.0.0.1:1"), (1, 1, 1, 1, 4, "out", 2, b"ok", "127.0.0.1:1")]
    html = stream.html_view(rows)
    assert "abc [7 more bytes not captured]" in html and ">ok<" in html
    assert stream.pick(rows + [(2, 2, 1, 1, 1, "out", 3, b"hi\n", "stdout")]) == rows  # stdout is no socket
    assert stream.section_html.__doc__ and stream.pick([]) == []
