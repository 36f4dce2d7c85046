# TEST HARNESS for the MicroPython unix port only; never deployed to a board.
#
# MicroPython boards offer a raw REPL on their serial port (what mpremote drives); the unix port
# has none. This script stands in for that one piece: run by the real unix port, it serves the
# raw REPL protocol (ctrl-A raw mode, ctrl-D execute or soft reset, raw-paste mode with flow
# control, "OK" / output / 0x04 / error / 0x04 / ">") on a TCP port, so the host reaches it as
# socket://127.0.0.1:PORT with the same mpremote code that talks to a board. Everything executed
# through it is the real MicroPython running in this process; the current folder is its filesystem.
#
#   micropython unix_raw_repl.py PORT
import builtins
import gc
import io
import socket
import sys

BANNER = b"raw REPL; CTRL-B to exit\r\n"
PASTE_WINDOW = 128
_print = builtins.print
_boot_modules = set(sys.modules)


class Session:
    # Like a board's, the REPL namespace outlives a connection; only a soft reset clears it.
    globals = {"__name__": "__main__"}

    def __init__(self, conn):
        self.conn = conn
        self.inbuf = b""
        self.pos = 0

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        while data:
            n = self.conn.send(data)
            data = data[n:]

    def recv1(self):
        if self.pos >= len(self.inbuf):
            self.inbuf = self.conn.recv(1024)
            self.pos = 0
            if not self.inbuf:
                raise EOFError
        self.pos += 1
        return self.inbuf[self.pos - 1]

    def console_print(self, *args, sep=" ", end="\n", file=None):
        # print() of code run through the REPL goes to the connection, as on a board's UART.
        if file is not None:
            return _print(*args, sep=sep, end=end, file=file)
        self.send(sep.join([str(a) for a in args]) + end)

    def execute(self, source):
        err = io.StringIO()
        builtins.print = self.console_print
        try:
            exec(source, Session.globals)
        except BaseException as e:          # the REPL reports everything, SystemExit included
            sys.print_exception(e, err)
        finally:
            builtins.print = _print
        self.send(b"\x04")
        self.send(err.getvalue())
        self.send(b"\x04")

    def soft_reset(self):
        Session.globals = {"__name__": "__main__"}
        for name in list(sys.modules):
            if name not in _boot_modules:
                del sys.modules[name]
        gc.collect()
        self.send(b"MPY: soft reboot\r\n")

    def raw_paste(self):
        self.send(b"R\x01" + bytes([PASTE_WINDOW & 0xFF, PASTE_WINDOW >> 8]) + b"\x01")
        src = bytearray()
        remain = PASTE_WINDOW
        while True:
            c = self.recv1()
            if c == 4 or c == 3:
                break
            src.append(c)
            remain -= 1
            if remain == 0:
                self.send(b"\x01")
                remain = PASTE_WINDOW
        self.send(b"\x04")
        if c == 4:
            self.execute(bytes(src))

    def serve(self):
        raw = False
        line = bytearray()
        while True:
            c = self.recv1()
            if not raw:
                if c == 1:
                    raw = True
                    line = bytearray()
                    self.send(BANNER + b">")
                continue
            if c == 1:
                if bytes(line) == b"\x05A":
                    self.raw_paste()
                    line = bytearray()
                    self.send(b">")
                    continue
                line = bytearray()
                self.send(BANNER + b">")
            elif c == 2:
                raw = False
                self.send(b"\r\n>>> ")
            elif c == 3:
                line = bytearray()
            elif c == 4:
                self.send(b"OK")
                if not line:
                    self.send(b"\r\n")
                    self.soft_reset()
                    self.send(BANNER + b">")
                else:
                    self.execute(bytes(line))
                    line = bytearray()
                    self.send(b">")
            else:
                line.append(c)


def main():
    # Imports come from the current folder (the "filesystem"), as from a board's /flash.
    sys.path[0] = ""
    port = int(sys.argv[1])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    srv.listen(1)
    _print("raw REPL harness listening on 127.0.0.1:%d" % port)
    while True:
        conn, _ = srv.accept()
        try:
            Session(conn).serve()
        except (EOFError, OSError):
            pass
        conn.close()


main()
