;; Stand-in for echo_server.c when clang is not installed (notebook 6 uses it then).
;; The same behaviour in WebAssembly text: a TCP echo server on 127.0.0.1 (any free port)
;; that serves 3 clients, one after another, and exits.
(module
  (import "wasix_32v1" "sock_open"   (func $sock_open (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_bind"   (func $sock_bind (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_listen" (func $sock_listen (param i32 i32) (result i32)))
  (import "wasix_32v1" "sock_accept" (func $sock_accept (param i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_recv"   (func $sock_recv (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "sock_send"   (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasix_32v1" "fd_close"    (func $fd_close (param i32) (result i32)))
  (import "wasix_32v1" "proc_exit"   (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; memory map: 0 listening fd | 4 client fd | 8 nread | 12 roflags | 16 nwritten
  ;;            32 our address | 64 the client's address | 128 iovec | 1024.. buffer
  (data (i32.const 32) "\01\00\00\00\7f\00\00\01")

  (func $ok (param $errno i32)
    (if (local.get $errno) (then (call $proc_exit (local.get $errno)))))

  (func (export "_start") (local $clients i32)
    (i32.store (i32.const 128) (i32.const 1024))
    (call $ok (call $sock_open (i32.const 1) (i32.const 1) (i32.const 6) (i32.const 0)))
    (call $ok (call $sock_bind (i32.load (i32.const 0)) (i32.const 32)))
    (call $ok (call $sock_listen (i32.load (i32.const 0)) (i32.const 16)))
    (loop $serve
      (call $ok (call $sock_accept (i32.load (i32.const 0)) (i32.const 0) (i32.const 4) (i32.const 64)))
      (block $gone (loop $echo
        (i32.store (i32.const 132) (i32.const 1024))
        (br_if $gone (call $sock_recv (i32.load (i32.const 4)) (i32.const 128) (i32.const 1)
                                      (i32.const 0) (i32.const 8) (i32.const 12)))
        (br_if $gone (i32.eqz (i32.load (i32.const 8))))
        (i32.store (i32.const 132) (i32.load (i32.const 8)))
        (br_if $gone (call $sock_send (i32.load (i32.const 4)) (i32.const 128) (i32.const 1)
                                      (i32.const 0) (i32.const 16)))
        (br $echo)))
      (drop (call $fd_close (i32.load (i32.const 4))))
      (local.set $clients (i32.add (local.get $clients) (i32.const 1)))
      (br_if $serve (i32.lt_u (local.get $clients) (i32.const 3))))
    (drop (call $fd_close (i32.load (i32.const 0))))))
