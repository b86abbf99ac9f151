// The execution-environment agent: the command (PID 1) of a function container.
//
// Usage: /opt/faas/agent go|python|nodejs
//
// Its job: keep one container warm for many invocations of the same function while
// guaranteeing that nothing crosses from one invocation to the next. The worker speaks
// the frame protocol of runtimes/agent/PROTOCOL.md over the container's stdin/stdout:
// 'C' (the code, once) -> 'R'; then per invocation 'I' (env, timeout, output caps) ->
// 'O' (stdout), 'E' (stderr), 'X' (exit status as JSON). 'H' announces the agent, 'F' is
// fatal. The agent's stderr is diagnostics only.
//
// Why a fresh process per invocation: in-memory state (globals, module caches, open
// files, threads, the environment) lives in a process, so giving every invocation its own
// process is the only cheap way to be sure none of it is seen by the next one. To keep
// that fast the process is not a fresh interpreter: Python and Node.js functions are
// forked from a zygote (zygote.py; node-zygote.js with its addon addon/node-fork.cc) that
// has the interpreter and common modules loaded but never runs function code; Go
// functions are a static binary exec'd directly. An invocation whose env sets a variable
// the interpreter reads only as it starts (PYTHON*, NODE_OPTIONS, the locale, ...; see
// readAtStart in langs.go) gets a fresh interpreter instead, started like a Go binary.
//
// What is cleaned between invocations (so the next one starts from the same state):
//   - processes: when the function's main process exits (or is killed at its timeout),
//     every other process in the container except the agent and its helpers (the
//     zygote) is SIGKILLed, rescanning /proc until none is left, and reaped (the agent is
//     PID 1, orphans re-parent to it): background children, double-forked daemons and
//     setsid'd ones included; only then are the output pipes drained and 'X' sent;
//   - files: /tmp and /dev/shm are emptied (chmod u+rwx first, so nothing the function
//     made unreadable survives) and /fn/code is emptied and the code rewritten from the
//     agent's memory (the function may have altered its own file);
//   - SysV IPC objects (shared memory, message queues, semaphores) are removed, and so
//     are POSIX message queues (/dev/mqueue);
//   - environment and descriptors: each process gets exactly the invocation's env and
//     only stdin (/dev/null), stdout and stderr (pipes read by the agent).
//
// File and IPC cleanup happens right after 'X' and always finishes before the next 'I' is
// read.
//
// The agent is a static Go binary (CGO_ENABLED=0, stdlib only), non-dumpable (the
// function, running as the same uid, cannot read its memory through /proc), and reaps
// every child in one place (reaper.go: wait4(-1, WNOHANG) on SIGCHLD, statuses dispatched
// by pid). It runs on one P (GOMAXPROCS 1), so nothing may wait inside a system call: the
// warm path waits on pipes, sockets (the runtime's poller) and SIGCHLD; the only waits
// with a timer are the /proc rescans while killed processes are still dying and the final
// drain deadline.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	protocolVersion = 1
	maxFrame        = 64 << 20 // code is at most a few MiB; anything bigger is a bad frame
)

// The function's directories (variables: the agent's tests put them in a directory of their own).
var (
	codeDir = "/fn/code"
	workDir = "/fn"
)

var logger = log.New(os.Stderr, "agent: ", 0)

type frame struct {
	typ     byte
	payload []byte
}

// language is what differs between go, python and nodejs.
type language interface {
	name() string
	codeFile() string
	codeMode() os.FileMode
	// init runs at container start, before 'H' (the zygote).
	init(a *agent) error
	// start starts the function process of one invocation. The returned process
	// reports its wait status on proc.status.
	start(a *agent, env []string, envJSON []byte) (*fnProcess, error)
	// idle runs once the next invocation may start (its code written, the previous
	// one's cleanup done): the zygote forks its spare then.
	idle(a *agent)
	// helpers are pids the kill scan spares (the zygote).
	helpers() []int
	// shutdown kills the helpers (stdin EOF, fatal error).
	shutdown(a *agent)
}

// fnProcess is the main process of one invocation, with the read ends of its pipes.
type fnProcess struct {
	pid     int
	status  <-chan syscall.WaitStatus
	stdout  *os.File
	stderr  *os.File
	started time.Time
	// startErr, when set, is reported as the function's stderr and exit code 126/127
	// (the process could not be started, like a shell reports an exec failure).
	startErr  error
	startCode int
}

type agent struct {
	lang     language
	code     codeStore
	haveCode bool
	devNull  int // O_RDONLY /dev/null, close-on-exec, handed to every function as fd 0
	oomAdj   *os.File
	reaper   *reaper
	frames   chan frame
	eof      chan struct{}
	fatalCh  chan string // helpers report fatal conditions (zygote died)
	oom      *keptFile   // the memory cgroup's oom_kill counter; nil: none found
	out      io.Writer
	eofOnce  sync.Once
	// listener and conns: the socket transport (socket.go), until its first frame.
	listener *net.UnixListener
	conns    chan *net.UnixConn
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: agent go|python|nodejs")
		os.Exit(2)
	}
	var lang language
	switch os.Args[1] {
	case "go":
		lang = &goLang{}
	case "python":
		lang = newPythonLang()
	case "nodejs":
		lang = newNodeLang()
	default:
		fmt.Fprintf(os.Stderr, "agent: unknown language %q\n", os.Args[1])
		os.Exit(2)
	}
	// One P: the agent only hands bytes between pipes, sockets and children, one invocation at
	// a time. With more, every goroutine wake-up (frame read, zygote message, pipe EOF,
	// reaped child) also wakes an idle P that spins looking for work: about a third of the
	// agent's CPU per invocation (0.78 -> 0.54 ms measured, Python hello world).
	runtime.GOMAXPROCS(1)
	reserveThreads(reservedThreads)
	a := &agent{lang: lang, out: os.Stdout, fatalCh: make(chan string, 4)}
	if err := a.setup(); err != nil {
		a.fatal("setup: " + err.Error())
	}
	a.run()
}

// reservedThreads: OS threads the agent makes at start, while the container's pids limit
// has room. A function that then uses up the limit (a fork bomb) must not leave the Go
// runtime unable to make a thread when it needs one: it aborts the whole agent then.
const reservedThreads = 3

// reserveThreads makes n threads: n goroutines each locked to a thread of its own at once.
// Unlocked, the threads stay in the runtime's idle list for later use.
func reserveThreads(n int) {
	var locked sync.WaitGroup
	release := make(chan struct{})
	for i := 0; i < n; i++ {
		locked.Add(1)
		go func() {
			runtime.LockOSThread()
			locked.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	locked.Wait()
	close(release)
}

func (a *agent) setup() error {
	// Descriptors inherited from the engine beyond 0-2 must not reach a function.
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range ents {
			var fd int
			if _, err := fmt.Sscanf(e.Name(), "%d", &fd); err == nil && fd > 2 {
				syscall.CloseOnExec(fd)
			}
		}
	}
	// Kept open: once the agent is non-dumpable its /proc files belong to root and could
	// not be opened any more (see goLang.start).
	f, err := os.OpenFile("/proc/self/oom_score_adj", os.O_WRONLY, 0)
	if err != nil {
		logger.Printf("cannot open /proc/self/oom_score_adj: %v (go functions keep the agent's oom_score_adj)", err)
	} else {
		a.oomAdj = f
	}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, syscall.PR_SET_DUMPABLE, 0, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("PR_SET_DUMPABLE: %v", e)
	}
	if os.Getpid() != 1 {
		// Not the container's init: become the subreaper so orphans still come back to us.
		const prSetChildSubreaper = 36
		syscall.RawSyscall6(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0, 0, 0, 0)
		logger.Printf("warning: running as pid %d, not 1: the kill scan only spares the agent's helpers, run it in its own pid namespace", os.Getpid())
	}
	dn, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/null: %w", err)
	}
	a.devNull = dn
	for _, p := range []string{"/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"} {
		k := &keptFile{path: p}
		if _, ok := readOOMKills(k); ok {
			a.oom = k
			break
		}
	}
	if a.oom == nil {
		logger.Printf("no memory cgroup oom_kill counter found: oomKilled is always false")
	}
	a.handleSignals()
	a.reaper = newReaper()
	go a.reaper.run()
	if err := a.lang.init(a); err != nil {
		return err
	}
	a.frames = make(chan frame, 16)
	a.eof = make(chan struct{})
	a.listenSocket()
	// Non-blocking, so the runtime's poller waits for the worker's frames.
	stdin := os.Stdin
	if err := syscall.SetNonblock(0, true); err == nil {
		stdin = os.NewFile(0, "stdin")
	}
	go a.readFrames(stdin, "stdin")
	return a.send(frame{'H', mustJSON(map[string]interface{}{"language": a.lang.name(), "protocol": protocolVersion})})
}

// handleSignals: a Go program dies of SIGHUP/SIGINT/SIGTERM/SIGUSR1/SIGABRT/... by default, and
// the function (same uid) may send them to PID 1. Catching them (rather than SIG_IGN,
// which children would inherit) keeps the agent alive and leaves children's dispositions
// at their defaults. SIGTERM (docker stop) ends the agent like stdin EOF.
func (a *agent) handleSignals() {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGALRM, syscall.SIGVTALRM,
		syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGXCPU, syscall.SIGXFSZ,
		syscall.SIGWINCH, syscall.SIGIO, syscall.SIGPWR, syscall.SIGSTKFLT,
		// Sent with kill() these would make the runtime crash; real faults still panic.
		syscall.SIGILL, syscall.SIGTRAP, syscall.SIGABRT, syscall.SIGSYS)
	go func() {
		for s := range ch {
			if s == syscall.SIGTERM {
				logger.Printf("SIGTERM: exiting")
				a.shutdown(0)
			}
		}
	}()
}

// readFrames reads frames from src (stdin, or the socket) until its end, which ends the
// agent: either way the worker is gone. src must be read through the runtime's poller (a
// read blocked in the kernel would hold the agent's only P, see main, while it waits).
func (a *agent) readFrames(src io.Reader, name string) {
	r := bufio.NewReaderSize(src, 64<<10)
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err != io.EOF {
				logger.Printf("%s: %v", name, err)
			}
			a.eofOnce.Do(func() { close(a.eof) })
			return
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n > maxFrame {
			a.fatalCh <- fmt.Sprintf("bad frame: '%c' of %d bytes (at most %d)", printable(hdr[0]), n, maxFrame)
			return
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(r, p); err != nil {
			logger.Printf("%s: truncated frame: %v", name, err)
			a.eofOnce.Do(func() { close(a.eof) })
			return
		}
		a.frames <- frame{hdr[0], p}
	}
}

func printable(b byte) byte {
	if b < 0x20 || b > 0x7e {
		return '?'
	}
	return b
}

// send writes frames in one write (O, E and X of an invocation go out together).
func (a *agent) send(frames ...frame) error {
	size := 0
	for _, f := range frames {
		size += 5 + len(f.payload)
	}
	buf := make([]byte, 0, size)
	for _, f := range frames {
		var hdr [5]byte
		hdr[0] = f.typ
		binary.BigEndian.PutUint32(hdr[1:], uint32(len(f.payload)))
		buf = append(buf, hdr[:]...)
		buf = append(buf, f.payload...)
	}
	_, err := a.out.Write(buf)
	return err
}

func (a *agent) run() {
	for {
		select {
		case msg := <-a.fatalCh:
			a.fatal(msg)
		case <-a.eof:
			a.drainFramesThenExit()
		case c := <-a.conns: // nil (never ready) without a socket
			a.useConnection(c)
		case f := <-a.frames:
			a.handle(f)
		}
	}
}

// drainFramesThenExit: frames read before stdin EOF are still handled, in order.
func (a *agent) drainFramesThenExit() {
	for {
		select {
		case f := <-a.frames:
			a.handle(f)
		default:
			a.shutdown(0)
		}
	}
}

func (a *agent) handle(f frame) {
	a.closeListener() // the worker chose its transport with its first frame
	switch f.typ {
	case 'C':
		if a.haveCode {
			a.fatal("bad frame: a second 'C'")
		}
		a.haveCode = true
		// The code file is executable exactly when it is what the function is exec'd from (go).
		if err := a.code.install(f.payload, a.lang.codeFile(), a.lang.codeMode(), a.lang.codeMode()&0o100 != 0); err != nil {
			a.fatal("writing the code: " + err.Error())
		}
		if err := a.send(frame{'R', nil}); err != nil {
			a.exitOnWriteError(err)
		}
		a.lang.idle(a)
	case 'I':
		if !a.haveCode {
			a.fatal("bad frame: 'I' before 'C'")
		}
		req, env, envJSON, err := parseInvoke(f.payload)
		if err != nil {
			a.fatal("bad frame: 'I': " + err.Error())
		}
		a.invoke(req, env, envJSON)
	default:
		a.fatal(fmt.Sprintf("bad frame: unknown type '%c' (0x%02x)", printable(f.typ), f.typ))
	}
}

func (a *agent) exitOnWriteError(err error) {
	logger.Printf("frames out: %v", err)
	a.shutdown(1)
}

// fatal sends 'F' and exits.
func (a *agent) fatal(msg string) {
	logger.Printf("fatal: %s", msg)
	_ = a.send(frame{'F', []byte(msg)})
	a.shutdown(1)
}

// shutdown kills every process and exits.
func (a *agent) shutdown(code int) {
	if a.lang != nil {
		a.lang.shutdown(a)
	}
	if a.reaper != nil {
		a.killAll(nil)
	}
	os.Exit(code)
}

type invokeRequest struct {
	Env         json.RawMessage `json:"env"`
	TimeoutMs   *float64        `json:"timeoutMs"`
	StdoutLimit *float64        `json:"stdoutLimit"`
	StderrLimit *float64        `json:"stderrLimit"`
}

type limits struct {
	timeout     time.Duration
	stdoutLimit int
	stderrLimit int
}

// parseInvoke checks the 'I' payload. The env keeps the order of the JSON object
// (a repeated name keeps its first place and its last value, as JSON.parse does).
// Returns the env as NAME=value strings and as a JSON object (for the zygotes).
func parseInvoke(p []byte) (limits, []string, []byte, error) {
	var req invokeRequest
	var l limits
	if err := json.Unmarshal(p, &req); err != nil {
		return l, nil, nil, err
	}
	if req.Env == nil || req.TimeoutMs == nil || req.StdoutLimit == nil || req.StderrLimit == nil {
		return l, nil, nil, errors.New(`"env", "timeoutMs", "stdoutLimit" and "stderrLimit" are required`)
	}
	if *req.TimeoutMs <= 0 || *req.TimeoutMs > 1e12 {
		return l, nil, nil, errors.New(`"timeoutMs" must be a positive number`)
	}
	if *req.StdoutLimit < 0 || *req.StderrLimit < 0 || *req.StdoutLimit > 1<<40 || *req.StderrLimit > 1<<40 {
		return l, nil, nil, errors.New(`"stdoutLimit" and "stderrLimit" must be numbers >= 0`)
	}
	l.timeout = time.Duration(*req.TimeoutMs * float64(time.Millisecond))
	l.stdoutLimit = int(*req.StdoutLimit)
	l.stderrLimit = int(*req.StderrLimit)

	dec := json.NewDecoder(strings.NewReader(string(req.Env)))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return l, nil, nil, errors.New(`"env" must be an object of strings`)
	}
	var names []string
	values := map[string]string{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return l, nil, nil, err
		}
		name := t.(string)
		var value string
		if err := dec.Decode(&value); err != nil {
			return l, nil, nil, fmt.Errorf(`"env".%s must be a string`, name)
		}
		if name == "" || strings.ContainsAny(name, "=\x00") {
			return l, nil, nil, fmt.Errorf("invalid environment variable name %q", name)
		}
		if strings.IndexByte(value, 0) >= 0 {
			return l, nil, nil, fmt.Errorf("environment variable %s holds a NUL byte", name)
		}
		if _, seen := values[name]; !seen {
			names = append(names, name)
		}
		values[name] = value
	}
	env := make([]string, 0, len(names))
	obj := []byte{'{'}
	for i, n := range names {
		env = append(env, n+"="+values[n])
		if i > 0 {
			obj = append(obj, ',')
		}
		obj = append(obj, mustJSON(n)...)
		obj = append(obj, ':')
		obj = append(obj, mustJSON(values[n])...)
	}
	obj = append(obj, '}')
	return l, env, obj, nil
}

func mustJSON(v interface{}) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
