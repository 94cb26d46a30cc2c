"""A forking TCP echo server written in WAT: accept, fork, the child serves the connection while the
parent closes its copy.  Each socket is held by exactly the processes that should hold it, and every
OS socket is closed once, by its last holder."""

import socket
import threading

import pytest

import wasix_nb
from conftest import listening_port, wait_for
from wasix_nb import wasmopt
from watlib import addr_v4, wat_bytes

pytestmark = pytest.mark.skipif(wasmopt.wasm_opt() is None, reason="wasm-opt not found (apt-get install binaryen)")

# memory: 0 listener, 4 connection, 8 fork's pid, 16 OptionPid, 32 JoinStatus, 64 address,
# 128 peer address, 256 iovec, 264 count, 1024.. buffer
FORKING_ECHO = f'''(module
  (import "wasix_32v1" "sock_open" (func $sock_open (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_bind" (func $sock_bind (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_listen" (func $sock_listen (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_accept" (func $sock_accept (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasix_32v1" "proc_fork" (func $fork (param i32 i32) (result i32)))
  (import "wasix_32v1" "proc_join" (func $join (param i32 i32 i32) (result i32)))
  (import "wasix_32v1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "{wat_bytes(addr_v4("127.0.0.1", 0))}")
  (func $serve (param $c i32)          ;; the child: echo until the client closes
    (local $n i32)
    (block $eof (loop $more
      (i32.store (i32.const 256) (i32.const 1024))
      (i32.store (i32.const 260) (i32.const 4096))
      (br_if $eof (call $fd_read (local.get $c) (i32.const 256) (i32.const 1) (i32.const 264)))
      (local.set $n (i32.load (i32.const 264)))
      (br_if $eof (i32.eqz (local.get $n)))
      (i32.store (i32.const 260) (local.get $n))
      (drop (call $fd_write (local.get $c) (i32.const 256) (i32.const 1) (i32.const 264)))
      (br $more)))
    (drop (call $fd_close (local.get $c)))
    (call $exit (i32.const 0)))
  (func (export "_start")
    (drop (call $sock_open (i32.const 1) (i32.const 1) (i32.const 0) (i32.const 0)))
    (drop (call $sock_bind (i32.load (i32.const 0)) (i32.const 64)))
    (drop (call $sock_listen (i32.load (i32.const 0)) (i32.const 16)))
    (loop $accept
      (drop (call $sock_accept (i32.load (i32.const 0)) (i32.const 0) (i32.const 4) (i32.const 128)))
      (drop (call $fork (i32.const 1) (i32.const 8)))
      (if (i32.eqz (i32.load (i32.const 8)))
        (then (drop (call $fd_close (i32.load (i32.const 0))))   ;; the child: not the listener's keeper
              (call $serve (i32.load (i32.const 4)))))
      (drop (call $fd_close (i32.load (i32.const 4))))          ;; the parent: the child has the client
      (block $reaped (loop $reap                                ;; join the children that ended
        (i32.store8 (i32.const 16) (i32.const 0))
        (drop (call $join (i32.const 16) (i32.const 1) (i32.const 32)))
        (br_if $reaped (i32.ne (i32.load8_u (i32.const 32)) (i32.const 1)))
        (br $reap)))
      (br $accept))))'''


def test_forking_echo_server_serves_clients_in_children(no_leak):
    srv = wasix_nb.Process(FORKING_ECHO, name="echo").start()
    held = None
    try:
        port = listening_port(srv, timeout=30)
        held = socket.create_connection(("127.0.0.1", port))
        held.sendall(b"first")
        assert held.recv(100) == b"first"

        # while `held` is open: the listener is pid 1's alone, the connection the child's alone (once
        # each has closed the copy it does not need)
        def holders():
            lsof = srv.lsof()
            return (tuple(lsof[lsof.state == "listening"].holders), tuple(lsof[lsof.state == "connected"].holders))

        wait_for(lambda: holders() == (("pid 1 fd 3",), ("pid 2 fd 4",)), timeout=30)
        # both copies were there at the fork, and each process closed the one it does not need
        closes = srv.trace[srv.trace.syscall == "fd_close"]
        assert {(1, 4), (2, 3)} <= set(zip(closes.pid, closes.fd))

        def client(i, out):
            with socket.create_connection(("127.0.0.1", port)) as c:
                c.sendall(b"hello %d" % i)
                out[i] = c.recv(100)

        out = {}
        threads = [threading.Thread(target=client, args=(i, out)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert out == {i: b"hello %d" % i for i in range(4)}
        held.close()
        wait_for(lambda: all(p.done.is_set() for p in srv.procs.every()[1:]), timeout=30)
        # joined at the next accept; the last ones wait as zombies till then
        (tree,) = wait_for(
            lambda: (lambda t: (t,) if t.state.iloc[0] == "blocked in sock_accept on fd 3" else None)(srv.processes),
            timeout=30,
        )
        assert list(tree.pid) == [1, 2, 3, 4, 5, 6]
        assert set(tree.state[tree.pid > 1]) <= {"exited 0", "zombie (exited 0)"}
    finally:
        if held is not None:
            held.close()
        r = srv.kill()
    assert r.outcome == "killed"
