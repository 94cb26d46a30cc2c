"""Every socket-layer call with an out-of-range pointer answers FAULT: no exception, nothing created,
and the event is in the trace."""

import pytest

from watlib import Shim, addr_v4

BAD = 0xFFFFFFF0
FAULT = 21
S = "S"  # replaced by a fresh TCP socket's descriptor

CASES = [
    ("sock_pair", (3, 1, 0, BAD, 132)),
    ("sock_pair", (3, 1, 0, 128, BAD)),
    ("sock_bind", (S, BAD)),
    ("sock_connect", (S, BAD)),
    ("sock_accept", (S, 0, BAD)),
    ("sock_accept_v2", (S, 0, BAD, 256)),
    ("sock_accept_v2", (S, 0, 132, BAD)),
    ("sock_recv", (S, BAD, 1, 0, 136, 140)),
    ("sock_recv", (S, 176, 1, 0, 136, 140)),
    ("sock_recv", (S, 160, 1, 0, BAD, 140)),
    ("sock_recv", (S, 160, 1, 0, 136, BAD)),
    ("sock_send", (S, BAD, 1, 0, 144)),
    ("sock_send", (S, 176, 1, 0, 144)),
    ("sock_send", (S, 168, 1, 0, BAD)),
    ("sock_recv_from", (S, 160, 1, 0, 136, 140, BAD)),
    ("sock_recv_from", (S, BAD, 1, 0, 136, 140, 256)),
    ("sock_send_to", (S, 168, 1, 0, BAD, 144)),
    ("sock_send_to", (S, 168, 1, 0, 0, BAD)),
    ("sock_send_to", (S, 176, 1, 0, 0, 144)),
    ("sock_status", (S, BAD)),
    ("sock_addr_local", (S, BAD)),
    ("sock_addr_peer", (S, BAD)),
    ("sock_get_opt_flag", (S, 2, BAD)),
    ("sock_set_opt_time", (S, 19, BAD)),
    ("sock_get_opt_time", (S, 19, BAD)),
    ("sock_get_opt_size", (S, 15, BAD)),
    ("sock_join_multicast_v4", (S, BAD, 404)),
    ("sock_join_multicast_v4", (S, 400, BAD)),
    ("sock_leave_multicast_v4", (S, BAD, 404)),
    ("sock_join_multicast_v6", (S, BAD, 0)),
    ("sock_leave_multicast_v6", (S, BAD, 0)),
    ("resolve", (BAD, 9, 0, 300, 4, 900)),
    ("resolve", (500, 9, 0, BAD, 4, 900)),
    ("resolve", (500, 9, 0, 300, 4, BAD)),
    ("poll_oneoff", (BAD, 0x800, 1, 900)),
    ("poll_oneoff", (0x600, BAD, 1, 900)),
    ("poll_oneoff", (0x600, 0x800, 1, BAD)),
    ("fd_pipe", (BAD, 132)),
    ("fd_pipe", (128, BAD)),
    ("fd_read", (S, 176, 1, 136)),
    ("fd_write", (S, 176, 1, 144)),
    ("fd_read", (S, 160, 1, BAD)),
]


@pytest.mark.parametrize("call,args", CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(CASES)])
def test_bad_pointer_is_fault(no_leak, call, args):
    with Shim() as k:
        m = k.mem
        assert k.sock_open(1, 1, 0, 128) == 0
        fd = m.u32(128)
        m.write(0, addr_v4("127.0.0.1", 1))
        m.write(160, (4096).to_bytes(4, "little") + (64).to_bytes(4, "little"))  # good iovec
        m.write(168, (512).to_bytes(4, "little") + (4).to_bytes(4, "little"))  # good ciovec
        m.write(176, BAD.to_bytes(4, "little") + (64).to_bytes(4, "little"))  # iovec outside memory
        m.write(500, b"localhost")
        m.write(0x600, bytes(48))  # a due clock
        rows_before = len(k.host.fds)
        args = [fd if a == S else a for a in args]
        assert getattr(k, call)(*args) == FAULT
        assert k.last()[:2] == (call, FAULT)
        assert k.host.host_errors == []
        assert len(k.host.fds) == rows_before
        assert k.host.fds.rows()[fd]["state"] == "opened"
