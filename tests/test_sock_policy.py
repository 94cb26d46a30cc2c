"""The network policy: loopback and LOCAL by default; denied calls fail before any OS call.
Denied destinations are never contacted (the check comes first), so these tests send nothing
anywhere but loopback."""

import pytest

from watlib import Shim, addr_local, addr_v4, addr_v6
from wasix_nb.host.policy import Policy
from wasix_nb.process import Process

ACCES = 2


def test_connect_outside_loopback_is_denied_before_any_os_call(no_leak):
    with Shim() as k:
        assert k.sock_open(1, 1, 0, 128) == 0
        fd = k.mem.u32(128)
        k.mem.write(0, addr_v4("10.1.2.3", 80))
        assert k.sock_connect(fd, 0) == ACCES
        name, err, outs, mark = k.last()
        assert (name, err) == ("sock_connect", ACCES) and mark == "denied by policy: connect 10.1.2.3:80"
        assert "= 2 ACCES (denied by policy: connect 10.1.2.3:80)" in k.host.trace.text()
        # no OS connect happened: the socket is still unbound (a connect would have bound a port)
        assert k.host.fds.rows()[fd]["state"] == "opened"
        assert k.host.fds.file(fd).os.getsockname() == ("0.0.0.0", 0)
        # loopback is allowed: 127.0.0.2 is tried for real (and refused, nobody listens on port 1)
        k.mem.write(0, addr_v4("127.0.0.2", 1))
        assert k.sock_connect(fd, 0) == 14


def test_send_to_outside_loopback_is_denied(no_leak):
    with Shim() as k:
        assert k.sock_open(1, 2, 0, 128) == 0
        fd = k.mem.u32(128)
        k.mem.write(168, (512).to_bytes(4, "little") + (4).to_bytes(4, "little"))
        k.mem.write(0, addr_v4("192.0.2.1", 53))
        assert k.sock_send_to(fd, 168, 1, 0, 0, 144) == ACCES
        assert k.last()[3] == "denied by policy: send_to 192.0.2.1:53"
        assert k.host.fds.file(fd).os.getsockname() == ("0.0.0.0", 0)  # not even bound
        assert k.host.fds.rows()[fd]["bytes_out"] == 0


def test_ipv6_outside_loopback_is_denied(no_leak):
    with Shim() as k:
        assert k.sock_open(2, 1, 0, 128) == 0
        k.mem.write(0, addr_v6("2001:db8::1", 443))
        assert k.sock_connect(k.mem.u32(128), 0) == ACCES
        assert k.last()[3] == "denied by policy: connect [2001:db8::1]:443"


def test_local_sockets_are_allowed(no_leak):
    with Shim() as k:
        assert k.sock_open(3, 1, 0, 128) == 0
        k.mem.write(0, addr_local("/nobody.sock"))
        assert k.sock_connect(k.mem.u32(128), 0) == 44  # tried for real: NOENT


def test_resolve_names_need_an_open_policy(no_leak):
    with Shim() as k:
        k.mem.write(500, b"example.com")
        assert k.resolve(500, 11, 80, 0x800, 4, 900) == ACCES
        assert k.last()[3] == "denied by policy: resolve example.com"


def test_process_net_option_builds_the_policy():
    p = Process('(module (func (export "_start")))', net="10.0.0.0/8,192.168.1.5:80")
    try:
        pol = p.host.policy
        assert pol.allows(1, "10.9.8.7", 1234) and pol.allows(1, "192.168.1.5", 80)
        assert not pol.allows(1, "192.168.1.5", 81) and not pol.allows(1, "11.0.0.1", 80)
        assert pol.allows(1, "127.0.0.1", 5) and pol.allows(2, "::1", 5)
    finally:
        p.kill()
    p = Process('(module (func (export "_start")))')
    try:
        assert p.host.policy.loopback_only
    finally:
        p.kill()


@pytest.mark.parametrize(
    "spec,af,host,port,ok",
    [
        (None, 1, "127.0.0.1", 80, True),
        (None, 1, "127.5.5.5", 80, True),
        (None, 2, "::1", 80, True),
        (None, 2, "::ffff:127.0.0.1", 80, True),
        (None, 1, "10.0.0.1", 80, False),
        (None, 3, "/x", 0, True),
        ("any", 1, "8.8.8.8", 53, True),
        ("*:53", 1, "8.8.8.8", 53, True),
        ("*:53", 1, "8.8.8.8", 54, False),
        ("[2001:db8::1]:443", 2, "2001:db8::1", 443, True),
        ("2001:db8::/32", 2, "2001:db8::9", 1, True),
        ("2001:db8::/32", 1, "10.0.0.1", 1, False),
        ("1.2.3.4", 1, "1.2.3.4", 9, True),
    ],
)
def test_policy_rules(spec, af, host, port, ok):
    assert Policy(spec).allows(af, host, port) is ok


def test_policy_rejects_bad_rules():
    with pytest.raises(ValueError):
        Policy("not an/address")  # host names are rules (for resolve), but this is neither
    with pytest.raises(ValueError):
        Policy("-x.example")
    with pytest.raises(ValueError):
        Policy("1.2.3.4:99999")


def test_run_takes_net_and_denies_by_default(no_leak):
    import wasix_nb
    from watlib import CHECK, imports, module

    wat = module(
        imports("sock_open", "sock_connect", "proc_exit"),
        CHECK
        + """
      (func (export "_start")
        (call $check (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 128)))
        (call $proc_exit (call $sock_connect (i32.load (i32.const 128)) (i32.const 0))))""",
        data=[(0, addr_v4("203.0.113.9", 80))],
    )
    res = wasix_nb.run(wat)
    assert res.exit_code == ACCES
    assert "(denied by policy: connect 203.0.113.9:80)" in res.log.text()
