// The programs that run inside a prepared sandbox before its invocation is known: the
// supervisor (Perl) and the Python and Node.js starters. What they do and the go-ahead they
// wait for are described in sandbox-starters.ts; only their text is here. They are handed
// to the interpreters as arguments (-e, -c): nothing of them is written anywhere a function
// could see but the processes' own command lines.

/** Where the function's code is in its sandbox (the starters below name the same paths). */
export const CODE = { python: "/fn/main.py", nodejs: "/fn/main.js", go: "/fn/main" } as const;

/** The supervisor: see sandbox-starters.ts. */
export const SUPERVISOR_PROGRAM = String.raw`
use strict;
use Socket;
my ($mode, @rest) = @ARGV;
sub close_fd { my $h; open($h, '<&=', $_[0]) and close $h }
# Nothing the worker may have left open reaches the function: only 0-2 and the go-ahead.
opendir(my $fds, '/proc/self/fd') or exit 125;
my @inherited = grep { /^\d+$/ && $_ > 2 && $_ != 5 } readdir $fds;
closedir $fds;
close_fd($_) for @inherited;
open(my $worker, '+<&=', 5) or exit 125;
my ($child, $starter);
if ($mode eq 'start') {
  my ($room, @command) = @rest;
  $^F = 255;
  socketpair($starter, my $theirs, AF_UNIX, SOCK_STREAM, PF_UNSPEC) or exit 125;
  defined($child = fork) or exit 125;
  if (!$child) {
    close $worker;
    close $starter;
    $ENV{FAAS_ENVIRONMENT_ROOM} = 'x' x $room;
    exec { $command[0] } @command, fileno($theirs);
    exit 127;
  }
  close $theirs;
  sysread($starter, my $ready, 1) == 1 or exit 125;
}
syswrite($worker, '.');
my $message = '';
while (1) {
  my $readable = '';
  vec($readable, fileno($worker), 1) = 1;
  vec($readable, fileno($starter), 1) = 1 if $starter;
  select($readable, undef, undef, undef) > 0 or next;
  exit 125 if $starter && vec($readable, fileno($starter), 1);
  last if !sysread($worker, $message, 65536, length $message);
}
close $worker;
my ($seconds, $environment) = $message =~ /\A(\d+)\n(.*)\z/s or do { kill 'KILL', -$$; exit 125 };
if ($starter) {
  for (my $sent = 0; $sent < length $environment; ) {
    $sent += syswrite($starter, $environment, 65536, $sent) // exit 125;
  }
  close $starter;
} else {
  defined($child = fork) or exit 125;
  if (!$child) {
    %ENV = ();
    for (split /\0/, $environment) { my ($name, $value) = split /=/, $_, 2; $ENV{$name} = $value }
    exec { $rest[0] } $rest[0];
    exit 127;
  }
}
$SIG{ALRM} = sub { kill 'KILL', -$$ };
alarm $seconds;
waitpid($child, 0) == $child or exit 125;
exit(($? & 127) ? 128 + ($? & 127) : $? >> 8);
`;

/**
 * Python's starter: everything "python3 main.py" does after the interpreter started.
 * Exceptions are printed by sys.excepthook without the starter's frame, SystemExit is left
 * to the interpreter, and the interpreter's own ending (threads joined, atexit, flush, exit
 * status 120 when stdout cannot be flushed) follows as after a script.
 *
 * What differs from "python3 main.py": the modules loaded ahead are in sys.modules, and
 * the starter's frame is below the function's (inspect.stack(), sys._getframe()).
 *
 * The modules loaded ahead are common and cheap to keep: every module loaded also costs
 * time when the interpreter ends, on the invocation's path (json alone saves ~7 ms here;
 * typing, dataclasses and uuid would cost more at exit than most functions gain). gc.freeze()
 * keeps the collector away from what was loaded ahead: that also halves the ending.
 */
export const PYTHON_STARTER = String.raw`
import os, sys
import atexit, base64, collections, datetime, hashlib, json, math, random, re, time, urllib.parse
import ctypes, gc, importlib, importlib.machinery, types
CODE = '/fn/main.py'

def receive(fd):
    parts = []
    while True:
        part = os.read(fd, 1 << 20)
        if not part:
            break
        parts.append(part)
    os.close(fd)
    return b''.join(parts)

class MmMap(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        'start_code', 'end_code', 'start_data', 'end_data', 'start_brk', 'brk', 'start_stack',
        'arg_start', 'arg_end', 'env_start', 'env_end')] + [
        ('auxv', ctypes.c_void_p), ('auxv_size', ctypes.c_uint32), ('exe_fd', ctypes.c_uint32)]

def show(args, block):
    with open('/proc/self/stat', 'rb') as f:
        fields = f.read().rsplit(b')', 1)[1].split()
    field = lambda n: int(fields[n - 3])
    shown = (ctypes.create_string_buffer(args, len(args)), ctypes.create_string_buffer(block, len(block)))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.sbrk.restype = ctypes.c_void_p
    arg, env = (ctypes.addressof(b) for b in shown)
    mm = MmMap(field(26), field(27), field(45), field(46), field(47), libc.sbrk(0), field(28),
               arg, arg + len(args), env, env + len(block), None, 0, 0xffffffff)
    PR_SET_MM, PR_SET_MM_MAP = 35, 14
    if libc.prctl(PR_SET_MM, PR_SET_MM_MAP, ctypes.byref(mm), ctypes.sizeof(mm), 0) == 0:
        return shown
    start, end = field(50), field(51)
    if len(block) <= end - start:
        try:
            with open('/proc/self/mem', 'r+b', buffering=0) as mem:
                mem.seek(start)
                mem.write(block.ljust(end - start, b'\0'))
        except OSError:
            pass
    return None

def run(main):
    try:
        with open(CODE, 'rb') as f:
            source = f.read()
        exec(compile(source, CODE, 'exec', dont_inherit=True), main.__dict__)
    except SystemExit:
        raise
    except BaseException as e:
        return e
    return None

gc.freeze()
supervisor = int(sys.argv[1])
os.write(supervisor, b'.')
block = receive(supervisor)
if not block:
    os._exit(0)
os.environ.clear()
for entry in block.split(b'\0'):
    if entry:
        name, _, value = entry.partition(b'=')
        os.environb[name] = value
shown = show(sys.orig_argv[0].encode() + b'\0main.py\0', block)
time.tzset()
random.seed()
sys.argv[:] = ['main.py']
sys.orig_argv[1:] = ['main.py']
sys.path[0] = '/fn'
importlib.invalidate_caches()
main = types.ModuleType('__main__')
main.__loader__ = importlib.machinery.SourceFileLoader('__main__', CODE)
main.__annotations__ = {}
main.__builtins__ = sys.modules['builtins']
main.__file__ = CODE
main.__cached__ = None
sys.modules['__main__'] = main
error = run(main)
if error is not None:
    trace = error.__traceback__.tb_next
    error.__traceback__ = trace
    sys.last_type, sys.last_value, sys.last_traceback = type(error), error, trace
    sys.excepthook(type(error), error, trace)
    if isinstance(error, KeyboardInterrupt):
        threading = sys.modules.get('threading')
        if threading:
            threading._shutdown()
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        import signal
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    del error, trace
    sys.exit(1)
`;

/**
 * Node.js's starter, run by "node -e": what "node main.js" does after the runtime started
 * (Module.runMain, so require.main === module and ES modules load as they would). Wrapped in
 * a function, and the globals "-e" defines are removed: nothing of it is in the function's
 * scope. What differs from "node main.js": the bottom frames of a stack trace (the starter's
 * instead of node's run_main_module), /proc/<pid>/cmdline ("node -e ...") and the NUL
 * padding of /proc/<pid>/environ (see ENVIRONMENT_ROOM_BYTES).
 */
export const NODE_STARTER = `
(function () {
  'use strict';
  const fs = require('fs');
  const Module = require('module');
  for (const name of ['assert', 'buffer', 'child_process', 'crypto', 'events', 'http', 'https', 'net', 'os', 'path', 'querystring', 'stream', 'string_decoder', 'url', 'util', 'zlib']) require(name);
  const CODE = '/fn/main.js';
  const supervisor = Number(process.argv[1]);
  fs.writeSync(supervisor, '.');
  const parts = [];
  const buffer = Buffer.allocUnsafe(1 << 20);
  for (let n; (n = fs.readSync(supervisor, buffer, 0, buffer.length, null)) > 0; ) parts.push(Buffer.from(buffer.subarray(0, n)));
  fs.closeSync(supervisor);
  const block = Buffer.concat(parts);
  if (block.length === 0) process.exit(0);
  for (const name of Object.keys(process.env)) delete process.env[name];
  for (let at = 0; at < block.length; ) {
    const end = block.indexOf(0, at);
    const entry = block.subarray(at, end);
    const eq = entry.indexOf(61);
    process.env[entry.subarray(0, eq).toString()] = entry.subarray(eq + 1).toString();
    at = end + 1;
  }
  const stat = fs.readFileSync('/proc/self/stat', 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[47]);
  const room = Number(fields[48]) - start;
  if (block.length <= room) {
    const area = Buffer.alloc(room);
    block.copy(area);
    try {
      const mem = fs.openSync('/proc/self/mem', 'r+');
      try {
        fs.writeSync(mem, area, 0, room, start);
      } finally {
        fs.closeSync(mem);
      }
    } catch {}
  }
  process.argv.splice(1, process.argv.length, CODE);
  process.execArgv.length = 0;
  delete process._eval;
  for (const name of ['module', 'exports', '__dirname', 'require', '__filename']) delete globalThis[name];
  Module.runMain(CODE);
})();
`;
