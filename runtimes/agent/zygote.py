"""The Python fork server of a function container (started by /opt/faas/agent python).

The agent starts it once, at container start. It loads the interpreter and common stdlib
modules, then forks one child per invocation; the child runs /fn/code/main.py as
__main__ like `python3 /fn/code/main.py` would. The zygote itself never runs function
code, so every child starts from the same clean state, and a fork costs a few
milliseconds where a new interpreter costs tens.

Channel with the agent (unix stream socket on fd 3):
  agent -> zygote: 4-byte big-endian length + the env as a JSON object; the first bytes
    carry SCM_RIGHTS with 3 descriptors: stdin (/dev/null), stdout and stderr (pipes).
    Two lengths are orders instead, with nothing after them:
    PREPARE  fork the spare now (the agent sends it once the code is written and every
             cleanup is done, i.e. while no function process exists)
    DISCARD  kill the spare (an invocation is about to run in a fresh interpreter beside
             it); answered 'D'
  zygote -> agent: 5-byte messages, a type byte and a big-endian uint32:
    'H' pid     loaded, ready (once)
    'P' pid     the invocation's child was forked (or the spare took it)
    'W' status  the child's wait status (os.waitpid)
    'E' errno   fork failed
    'D' 0       the spare is gone

The spare: forking and setting up a child (copying the pages it touches, session, cwd,
__main__) costs CPU that does not depend on the invocation. The spare does all of that
between invocations, forked from the same clean zygote (which compiled main.py for it once,
see MainCode, and forks without the stdlib's after-fork hooks, see fork()), and then waits
on a socket of its own for its invocation's env and descriptors; only what depends on them
is left for the invocation. It runs no function
code before that, and exists only while no function process does.
The zygote exits when the agent closes the channel. Its stdout and stderr are the agent's
stderr (diagnostics only); the function's output never passes through it.
"""

import os
import socket
import stat
import struct
import sys

# Common stdlib modules, loaded once here and shared copy-on-write by every child.
# (A function importing them pays nothing; one that does not is not affected.)
import abc, argparse, array, base64, binascii, bisect, calendar, codecs, collections  # noqa: E401,F401
import contextlib, copy, csv, ctypes, dataclasses, datetime, decimal, enum, errno  # noqa: E401,F401
import fnmatch, fractions, functools, gc, glob, gzip, hashlib, heapq, hmac, html  # noqa: E401,F401
import http.client, importlib, importlib.machinery, inspect, io, ipaddress, itertools  # noqa: E401,F401
import json, locale, logging, math, numbers, operator, pathlib, pickle, platform  # noqa: E401,F401
import pprint, queue, random, re, secrets, shlex, shutil, signal, statistics, string  # noqa: E401,F401
import subprocess, tempfile, textwrap, threading, time, traceback, types, typing  # noqa: E401,F401
import unicodedata, urllib.error, urllib.parse, urllib.request, uuid, warnings, zlib  # noqa: E401,F401
import xml.etree.ElementTree  # noqa: E401,F401
import atexit
import builtins

PR_SET_DUMPABLE = 4
PREPARE = 0xFFFFFFFF
DISCARD = 0xFFFFFFFE
ZYGOTE_FILE = os.path.abspath(__file__)
MAIN = "/fn/code/main.py"
CODE_DIR = "/fn/code"
WORK_DIR = "/fn"

_libc = ctypes.CDLL(None, use_errno=True)
# fork(2) through libc with the GIL held, not os.fork(): os.fork() runs the interpreter's
# after-fork work in the child, including every module's os.register_at_fork hook (random
# reseeds from urandom, threading and logging rebuild their locks). In a child forked from
# this zygote those hooks touch about 215 pages, each a copy-on-write fault: 0.6 ms of the
# child's 1.1 ms from fork to exit here (bench: a 24 MiB zygote, 400 forks). They are
# needed only where another thread may hold a lock or the state of a thread that the child
# does not have: the zygote has one thread (checked at start, else os.fork() is used), and
# the child reseeds random itself (prepare()).
_pylibc = ctypes.PyDLL(None, use_errno=True)
_fork_without_hooks = False


def fork():
    """os.fork(), without the after-fork hooks when the zygote is single-threaded."""
    if not _fork_without_hooks:
        return os.fork()
    pid = _pylibc.fork()
    if pid < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return pid


def log(msg):
    try:
        sys.stderr.write("zygote: %s\n" % msg)
        sys.stderr.flush()
    except Exception:
        pass


def send(sock, typ, val):
    sock.sendall(typ + struct.pack(">I", val & 0xFFFFFFFF))


def recv_exact(sock, n):
    """n bytes, never more: the next message may already be behind them."""
    buf = bytearray()
    while len(buf) < n:
        more = sock.recv(n - len(buf))
        if not more:
            raise RuntimeError("channel closed inside a message")
        buf += more
    return bytes(buf)


def recv_request(sock):
    """Returns (env bytes (JSON), [stdin, stdout, stderr] fds), (PREPARE or DISCARD, []), or
    None at EOF. The descriptors travel with the length's first bytes."""
    data, fds, flags, _ = socket.recv_fds(sock, 4, 3)
    if not data:
        for fd in fds:
            os.close(fd)
        return None
    if flags & socket.MSG_CTRUNC:
        raise RuntimeError("descriptors truncated (flags %#x)" % flags)
    if len(data) < 4:
        data += recv_exact(sock, 4 - len(data))
    (n,) = struct.unpack(">I", data)
    if n in (PREPARE, DISCARD):
        if fds:
            raise RuntimeError("descriptors with an order")
        return n, fds
    if len(fds) != 3:
        raise RuntimeError("expected 3 descriptors, got %d" % len(fds))
    return recv_exact(sock, n), fds


class Spare:
    """The next invocation's process, forked and set up ahead (see the module's doc)."""

    def __init__(self):
        self.pid = 0
        self.sock = None

    def fork(self, channel, main_code):
        if self.pid:
            return  # still there, unused
        main_code.refresh()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        sys.stderr.flush()
        try:
            pid = fork()
        except OSError as e:  # the invocation will fork then, and report it
            log("forking the spare: %r" % (e,))
            ours.close()
            theirs.close()
            return
        if pid == 0:
            ours.close()
            os.close(channel.detach())  # a zygote's death must reach the agent as EOF
            spare_child(theirs, main_code.code)  # never returns
        theirs.close()
        self.pid, self.sock = pid, ours

    def take(self, env_json, fds):
        """Hands the invocation to the spare; its pid, or 0 when there is none (it died)."""
        pid, sock = self.pid, self.sock
        self.pid, self.sock = 0, None
        if not pid:
            return 0
        try:
            socket.send_fds(sock, [env_json], fds)
            return pid
        except OSError:
            self._reap(pid)
            return 0
        finally:
            sock.close()

    def discard(self):
        pid, sock = self.pid, self.sock
        self.pid, self.sock = 0, None
        if pid:
            sock.close()
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            self._reap(pid)

    @staticmethod
    def _reap(pid):
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def main():
    sock = socket.socket(fileno=3)
    # gc.freeze: the loaded objects move to a permanent generation, so a child's
    # collections do not touch (and copy) the zygote's pages.
    gc.collect()
    gc.freeze()
    global _fork_without_hooks
    try:
        _fork_without_hooks = len(os.listdir("/proc/self/task")) == 1
    except OSError:  # no /proc: the threads cannot be counted
        _fork_without_hooks = False
    if not _fork_without_hooks:
        log("not known to be single-threaded: forking with os.fork()")
    # Non-dumpable: the function (same uid) cannot read or write the zygote's memory
    # through /proc/<pid>/mem.
    if _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        log("PR_SET_DUMPABLE 0 failed: errno %d" % ctypes.get_errno())
    sys.stderr.flush()
    send(sock, b"H", os.getpid())
    spare = Spare()
    main_code = MainCode()
    while True:
        req = recv_request(sock)
        if req is None:
            spare.discard()
            return 0
        body, fds = req
        if body == PREPARE:
            spare.fork(sock, main_code)
            continue
        if body == DISCARD:
            spare.discard()
            send(sock, b"D", 0)
            continue
        pid = spare.take(body, fds)
        if not pid:
            sys.stderr.flush()
            try:
                pid = fork()
            except OSError as e:
                for fd in fds:
                    os.close(fd)
                send(sock, b"E", e.errno or 0)
                continue
            if pid == 0:
                sock.detach()  # fd 3 is closed in the child; the object must not close a reused fd 3
                prepared = prepare()
                invoke(prepared, json.loads(body), fds)  # never returns
        for fd in fds:
            os.close(fd)
        send(sock, b"P", pid)
        _, status = os.waitpid(pid, 0)
        send(sock, b"W", status)


# The process runtime's sandboxes (not containers) ship this file beside the zygote: there a
# function's /proc/<pid>/environ and cmdline show its own invocation's environment and
# "python3 main.py", as in a sandbox of its own (tools find a function by its environment).
SHOW_ENVIRON = os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "show-environ"))
_shown = None


class _MmMap(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "start_code", "end_code", "start_data", "end_data", "start_brk", "brk", "start_stack",
        "arg_start", "arg_end", "env_start", "env_end")] + [
        ("auxv", ctypes.c_void_p), ("auxv_size", ctypes.c_uint32), ("exe_fd", ctypes.c_uint32)]


def _show_environ(env):
    """Points the kernel's view of this process's environment and command line at copies
    of the invocation's (prctl PR_SET_MM_MAP, no privilege needed); best effort."""
    global _shown
    try:
        block = b"".join(k.encode() + b"=" + v.encode() + b"\0" for k, v in env.items())
        args = sys.executable.encode() + b"\0" + MAIN.encode() + b"\0"
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        field = lambda n: int(fields[n - 3])  # noqa: E731
        shown = (ctypes.create_string_buffer(args, len(args)), ctypes.create_string_buffer(block, len(block) or 1))
        _libc.sbrk.restype = ctypes.c_void_p
        arg, envp = (ctypes.addressof(b) for b in shown)
        mm = _MmMap(field(26), field(27), field(45), field(46), field(47), _libc.sbrk(0), field(28),
                    arg, arg + len(args), envp, envp + len(block), None, 0, 0xffffffff)
        PR_SET_MM, PR_SET_MM_MAP = 35, 14
        if _libc.prctl(PR_SET_MM, PR_SET_MM_MAP, ctypes.byref(mm), ctypes.sizeof(mm), 0) == 0:
            _shown = shown
    except Exception:
        pass


def spare_child(sock, code):
    """The spare: set up ahead, then waits for its invocation. Never returns."""
    try:
        prepared = prepare(code)
        data, fds, _, _ = socket.recv_fds(sock, 65536, 3)
        if not data or len(fds) != 3:  # the zygote discarded it, or died
            os._exit(0)
        body = bytearray(data)
        while True:  # the zygote closes its end after the env
            more = sock.recv(65536)
            if not more:
                break
            body += more
        sock.close()
        env = json.loads(body)
    except BaseException as e:
        try:
            os.write(2, ("zygote: setting up the function process failed: %r\n" % (e,)).encode())
        finally:
            os._exit(126)
    invoke(prepared, env, fds)


def prepare(code=None):
    """What does not depend on the invocation: like a fresh `python3 /fn/code/main.py` up to
    its environment and descriptors. code: main.py compiled by the zygote, or None to
    compile it here. Returns (the __main__ module, main.py's code object or None to compile
    it when it runs)."""
    try:
        os.setsid()
        # A fresh process is dumpable; only then can it write its own oom_score_adj. Made
        # non-dumpable again until it runs the function: a spare holds nothing of any
        # invocation yet, but there is no reason to open it up earlier.
        _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
        # os.open, not open(): a text file object touches about 80 pages of the zygote's
        # (io and codecs objects), each a copy-on-write fault in this process.
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"1000")
        finally:
            os.close(fd)
        _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        os.chdir(WORK_DIR)
        sys.argv[:] = [MAIN]
        sys.orig_argv[:] = [sys.executable, MAIN]
        sys.path[0] = CODE_DIR
        random.seed()
        # The main thread's native id is the zygote's until set (os.fork() leaves it so too).
        set_native_id = getattr(threading.main_thread(), "_set_native_id", None)  # 3.8+
        if set_native_id:
            set_native_id()
        mod = types.ModuleType("__main__")
        mod.__file__ = MAIN
        mod.__cached__ = None
        mod.__builtins__ = builtins
        mod.__loader__ = importlib.machinery.SourceFileLoader("__main__", MAIN)
        mod.__spec__ = None
        mod.__package__ = None
    except BaseException as e:  # the set-up failed: nothing of the function ran
        try:
            os.write(2, ("zygote: setting up the function process failed: %r\n" % (e,)).encode())
        finally:
            os._exit(126)
    if code is None:
        # The agent wrote main.py before the zygote was asked to fork this process, and
        # no function runs until this one does.
        try:
            with open(MAIN, "rb") as f:
                code = compile_main(f.read())
        except BaseException:
            code = None
    return mod, code


def compile_main(source):
    """main.py's code object, or None when compiling it fails (a syntax error) or warns
    (the warning belongs on the invocation's stderr): run() then compiles it again and
    reports it as `python3 main.py` would."""
    try:
        with warnings.catch_warnings(record=True) as warned:
            code = compile(source, MAIN, "exec", dont_inherit=True)
        return None if warned else code
    except BaseException:
        return None


class MainCode:
    """main.py compiled by the zygote, once per content, for the spares it forks.

    Compiling in each child cost about 190 copy-on-write faults (the compiler's memory and
    the objects it touches), 0.4 ms of a 3 ms child here. Compiling runs none of the
    function's code. The agent rewrites main.py (from its own copy) before every PREPARE,
    while no function process exists, so the file read here is the function's code; it is
    opened without following links or blocking all the same, and a file that is not a
    regular one of at most MAX_BYTES is left for the child to compile, as before."""

    MAX_BYTES = 1 << 20

    def __init__(self):
        self.source = None
        self.code = None

    def refresh(self):
        source = self._read()
        if source is None:
            self.source = self.code = None
        elif source != self.source:
            self.source, self.code = source, compile_main(source)

    def _read(self):
        """main.py's bytes, whole, or None."""
        try:
            fd = os.open(MAIN, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > self.MAX_BYTES:
                return None
            chunks, size = [], 0
            while size <= self.MAX_BYTES:  # until the end: a short read must not cut the code
                chunk = os.read(fd, self.MAX_BYTES + 1 - size)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
                size += len(chunk)
            return None  # grew past MAX_BYTES
        except OSError:
            return None
        finally:
            os.close(fd)


def invoke(prepared, env, fds):
    """The invocation's process from its env and descriptors on: runs main.py, exits. Never
    returns."""
    mod, code = prepared
    try:
        _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(3, max(os.sysconf("SC_OPEN_MAX"), 1024))  # close_range(2): every other descriptor
        os.environ.clear()
        os.environ.update(env)
        if SHOW_ENVIRON:
            _show_environ(env)
        # The agent starts a fresh interpreter instead of asking the zygote when the env has
        # a PYTHON* or locale variable (langs.go readAtStart), so these are normally unset
        # here; applied by hand all the same.
        extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[1:1] = extra
        if env.get("PYTHONDONTWRITEBYTECODE"):
            sys.dont_write_bytecode = True
        if env.get("PYTHONUNBUFFERED"):
            sys.stdout.reconfigure(write_through=True)
            sys.stderr.reconfigure(write_through=True)
        sys.modules["__main__"] = mod
    except BaseException as e:  # the set-up failed: nothing of the function ran
        try:
            os.write(2, ("zygote: setting up the function process failed: %r\n" % (e,)).encode())
        finally:
            os._exit(126)
    status = run(mod, code)
    os._exit(finish(status))


def run(mod, code):
    """Runs main.py (code: compiled ahead, or None) in mod; returns the exit code like the
    interpreter would."""
    try:
        if code is None:
            with open(MAIN, "rb") as f:
                code = compile(f.read(), MAIN, "exec", dont_inherit=True)
        exec(code, mod.__dict__)
        return 0
    except SystemExit as e:
        return exit_code(e)
    except BaseException as e:
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == ZYGOTE_FILE:
            tb = tb.tb_next  # the traceback starts in main.py, as with `python3 main.py`
        e.__traceback__ = tb  # the default excepthook prints the exception's own traceback
        try:
            sys.excepthook(type(e), e, tb)
        except BaseException:
            traceback.print_exception(type(e), e, tb)
        if isinstance(e, KeyboardInterrupt):
            return "SIGINT"
        return 1
    finally:
        e = None  # noqa: F841


def exit_code(e):
    """SystemExit -> exit code, like the interpreter: None -> 0, int -> int, other ->
    printed to stderr, 1."""
    c = e.code
    if c is None:
        return 0
    if isinstance(c, int):
        return c & 0xFF
    try:
        sys.stderr.write(str(c) + "\n")
    except BaseException:
        pass
    return 1


def finish(code):
    """What the interpreter does at exit: join non-daemon threads, atexit handlers, flush."""
    if "threading" in sys.modules:
        try:
            threading._shutdown()
        except SystemExit as e:
            code = exit_code(e)
        except BaseException:
            pass
    try:
        atexit._run_exitfuncs()
    except BaseException:
        pass
    status = code if isinstance(code, int) else 0
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except BaseException:
            status = 120  # as the interpreter does when flushing stdout fails
    if code == "SIGINT":
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:
        log("fatal: %r" % (e,))
        sys.exit(1)
