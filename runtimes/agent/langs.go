package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	pythonZygote = "/opt/faas/zygote.py"
	nodeZygote   = "/opt/faas/node-zygote.js"
	helperStart  = 60 * time.Second // the zygote's imports, at container start
)

// newPipe returns a pipe: the read end pollable (read deadlines work), the write end a
// close-on-exec descriptor for the child.
func newPipe() (*os.File, int, error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, -1, err
	}
	syscall.SetNonblock(p[0], true)
	return os.NewFile(uintptr(p[0]), "pipe"), p[1], nil
}

// outputPipes: the stdout and stderr pipes of one invocation.
func outputPipes() (outR *os.File, outW int, errR *os.File, errW int, err error) {
	if outR, outW, err = newPipe(); err != nil {
		return
	}
	if errR, errW, err = newPipe(); err != nil {
		outR.Close()
		syscall.Close(outW)
	}
	return
}

func lookBinary(candidates ...string) string {
	for _, c := range candidates {
		if st, err := os.Stat(c); err == nil && !st.IsDir() {
			return c
		}
	}
	return candidates[0]
}

// ---------------------------------------------------------------------------- go

type goLang struct{ restoreAdj []byte }

func (*goLang) name() string          { return "go" }
func (*goLang) codeFile() string      { return "main" }
func (*goLang) codeMode() os.FileMode { return 0o500 }
func (*goLang) helpers() []int        { return nil }
func (*goLang) shutdown(*agent)       {}
func (*goLang) idle(*agent)           {}

func (g *goLang) init(a *agent) error {
	g.restoreAdj = readAdj()
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// start execs the binary from the sealed memfd (code.go), argv[0] its path in /fn/code. If
// /proc/self/fd/N cannot be exec'd here (no /proc), the memfd is given up for good.
func (g *goLang) start(a *agent, env []string, _ []byte) (*fnProcess, error) {
	argv := []string{a.code.path}
	p, err := execFunction(a, a.code.execPath(), argv, env, g.restoreAdj)
	if err == nil && a.code.image >= 0 && (errors.Is(p.startErr, syscall.ENOENT) || errors.Is(p.startErr, syscall.EACCES)) {
		logger.Printf("exec from the memfd failed (%v): go functions run from %s", p.startErr, a.code.path)
		a.code.dropImage()
		p.stdout.Close()
		p.stderr.Close()
		return execFunction(a, a.code.path, argv, env, g.restoreAdj)
	}
	return p, err
}

// readAdj reads the agent's own oom_score_adj (restored after raising it around a fork).
func readAdj() []byte {
	if b, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		return trimSpace(b)
	}
	return []byte("0")
}

// execFunction starts a fresh process for one invocation: path with argv, exactly env,
// stdin /dev/null and the two output pipes (every other descriptor of the agent is
// close-on-exec), its own session, oom_score_adj 1000, reaped by the agent. Go functions
// always start this way; Python and Node.js ones when their env has a variable the
// interpreter reads only as it starts (readAtStart).
//
// oom_score_adj 1000 cannot be set in the child between fork and exec with Go's ForkExec,
// so the agent raises its own value just around the fork (the child inherits it; nothing
// else runs meanwhile) and lowers it back to restoreAdj, through the descriptor opened
// before it became non-dumpable.
func execFunction(a *agent, path string, argv, env []string, restoreAdj []byte) (*fnProcess, error) {
	outR, outW, errR, errW, err := outputPipes()
	if err != nil {
		return nil, err
	}
	attr := &syscall.ProcAttr{
		Dir:   workDir,
		Env:   env,
		Files: []uintptr{uintptr(a.devNull), uintptr(outW), uintptr(errW)},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	}
	setAdj := func(v []byte) {
		if a.oomAdj != nil {
			if _, err := syscall.Pwrite(int(a.oomAdj.Fd()), v, 0); err != nil {
				logger.Printf("oom_score_adj %s: %v", v, err)
			}
		}
	}
	started := time.Now()
	pid, status, err := a.reaper.forkExec(path, argv, attr,
		func() { setAdj([]byte("1000")) }, func() { setAdj(restoreAdj) })
	syscall.Close(outW)
	syscall.Close(errW)
	p := &fnProcess{pid: pid, status: status, stdout: outR, stderr: errR, started: started}
	if err != nil {
		p.startErr = fmt.Errorf("%s: %w", path, err)
		p.startCode = 126
		if errors.Is(err, syscall.ENOENT) {
			p.startCode = 127
		}
	}
	return p, nil
}

// ---------------------------------------------------------------------- zygotes

// zygoteLang: python and nodejs. The zygote (zygote.py; node-zygote.js with its addon
// addon/node-fork.cc) is a child of the agent with a unix stream socket on its fd 3. Agent ->
// zygote, per invocation: a 4-byte big-endian length and the env as a JSON object, the
// first bytes carrying SCM_RIGHTS with 3 descriptors (stdin /dev/null, stdout and stderr
// write ends). Zygote -> agent: 5-byte messages, one byte type and a big-endian uint32:
// 'H' pid (loaded, once), 'P' pid (child forked), 'W' status (the child's wait status),
// 'E' errno (fork failed). The zygote reaps its children (they are not the agent's), so
// the agent learns a function's status from 'W'.
//
// Two lengths are orders, with no env or descriptors: zygotePrepare (fork the spare, the
// next invocation's process set up ahead; sent by idle, when no function process exists)
// and zygoteDiscard (kill it: a fresh interpreter is about to run beside it; answered 'D').
// A spare therefore never exists while function code runs: the kill scan never meets it.
type zygoteLang struct {
	lang   string
	file   string          // the code file in /fn/code
	argv   func() []string // the zygote's command; argv()[0] is the interpreter
	interp string          // the interpreter, for invocations that need a fresh one
	adj    []byte          // the agent's oom_score_adj (see execFunction)
	// started: the variables read at start (readAtStart) the zygote started with: the
	// agent's own (none in a container; LANG in the process runtime's environments).
	started map[string]string
	pid     int
	conn    *net.UnixConn
	forked  chan zmsg // 'P', 'E' and 'D'
	spare   bool      // a spare was ordered and not taken or discarded since
	status  chan syscall.WaitStatus
}

func newPythonLang() *zygoteLang {
	return &zygoteLang{lang: "python", file: "main.py", argv: func() []string {
		python := lookBinary("/usr/bin/python3", "/usr/local/bin/python3")
		return []string{python, pythonZygote}
	}}
}

// newNodeLang: node's zygote runs with V8's --single-threaded (no background GC or
// compilation: the platform's worker threads exist only in the zygote, not in a forked
// child) and one V8 worker thread (the fewest node allows; see addon/node-fork.cc).
func newNodeLang() *zygoteLang {
	return &zygoteLang{lang: "nodejs", file: "main.js", argv: func() []string {
		node := lookBinary("/usr/bin/node", "/usr/local/bin/node", "/usr/bin/nodejs")
		return []string{node, "--single-threaded", "--v8-pool-size=1", nodeZygote}
	}}
}

type zmsg struct {
	typ byte
	val uint32
}

func (z *zygoteLang) name() string        { return z.lang }
func (z *zygoteLang) codeFile() string    { return z.file }
func (*zygoteLang) codeMode() os.FileMode { return 0o600 }
func (z *zygoteLang) helpers() []int      { return []int{z.pid} }

func (z *zygoteLang) shutdown(*agent) {
	if z.pid > 0 {
		syscall.Kill(z.pid, syscall.SIGKILL)
	}
}

const (
	zygotePrepare = 0xFFFFFFFF
	zygoteDiscard = 0xFFFFFFFE
)

// idle orders the spare (see zygoteLang). Python only: node's zygote has none.
func (z *zygoteLang) idle(a *agent) {
	if z.lang != "python" || z.spare {
		return
	}
	if err := z.order(zygotePrepare); err != nil {
		report(a, "zygote died (channel: "+err.Error()+")")
		return
	}
	z.spare = true
}

func (z *zygoteLang) order(o uint32) error {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], o)
	_, err := z.conn.Write(b[:])
	return err
}

// reply waits for the zygote's answer to a request or an order.
func (z *zygoteLang) reply(a *agent) zmsg {
	select {
	case m := <-z.forked:
		return m
	case <-a.eof:
		a.shutdown(0)
	case msg := <-a.fatalCh:
		a.fatal(msg)
	}
	panic("unreachable")
}

func (z *zygoteLang) init(a *agent) error {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	argv := z.argv()
	z.interp = argv[0]
	z.adj = readAdj()
	z.started = map[string]string{}
	zenv := []string{}
	for _, kv := range os.Environ() {
		if name, value, _ := strings.Cut(kv, "="); readAtStart(z.lang, name) {
			z.started[name] = value
			zenv = append(zenv, kv)
		}
	}
	attr := &syscall.ProcAttr{
		Dir:   workDir,
		Env:   zenv,
		Files: []uintptr{uintptr(a.devNull), 2, 2, uintptr(fds[1])},
	}
	pid, status, err := a.reaper.forkExec(argv[0], argv, attr, nil, nil)
	syscall.Close(fds[1])
	if err != nil {
		syscall.Close(fds[0])
		return fmt.Errorf("starting the zygote: %w", err)
	}
	z.pid = pid
	f := os.NewFile(uintptr(fds[0]), "zygote")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return err
	}
	z.conn = c.(*net.UnixConn)
	z.forked = make(chan zmsg, 1)
	z.status = make(chan syscall.WaitStatus, 1)

	z.conn.SetReadDeadline(time.Now().Add(helperStart))
	hello, err := readZmsg(z.conn)
	if err != nil || hello.typ != 'H' {
		select {
		case st := <-status:
			return fmt.Errorf("the zygote exited at start (%s)", describeStatus(st))
		case <-time.After(100 * time.Millisecond):
		}
		return fmt.Errorf("no hello from the zygote: %v", err)
	}
	z.conn.SetReadDeadline(time.Time{})
	go func() {
		st := <-status
		report(a, fmt.Sprintf("zygote died (%s)", describeStatus(st)))
	}()
	go func() {
		for {
			m, err := readZmsg(z.conn)
			if err != nil {
				report(a, "zygote died (channel: "+err.Error()+")")
				return
			}
			switch m.typ {
			case 'P', 'E', 'D':
				z.forked <- m
			case 'W':
				z.status <- syscall.WaitStatus(m.val)
			default:
				report(a, fmt.Sprintf("zygote sent an unknown message %q", m.typ))
				return
			}
		}
	}()
	return nil
}

func report(a *agent, msg string) {
	select {
	case a.fatalCh <- msg:
	default:
	}
}

func readZmsg(r io.Reader) (zmsg, error) {
	var b [5]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return zmsg{}, err
	}
	return zmsg{b[0], binary.BigEndian.Uint32(b[1:])}, nil
}

func describeStatus(st syscall.WaitStatus) string {
	if st.Signaled() {
		return "signal " + strconv.Itoa(int(st.Signal()))
	}
	return "exit " + strconv.Itoa(st.ExitStatus())
}

// readAtStart tells whether the variable name is one the language's interpreter reads only
// as it starts (and not again): a child forked from the started zygote would silently
// ignore it, so an invocation whose env has one gets a fresh interpreter instead. Python:
// PYTHON* and the locale. Node.js: NODE_* (NODE_OPTIONS, NODE_PATH, ...; not NODE_ENV,
// which only modules read, at any time), libuv's UV_*, OPENSSL_*, SSL_CERT_*, the locale.
// TZ is not one: both apply it at once.
//
// The same as READ_AT_START in src/worker/runtimes/sandbox-starters.ts (the process runtime's
// prepared sandboxes make the same choice): test/unit/read-at-start.test.ts runs langs_test.go
// against that side's answers.
func readAtStart(lang, name string) bool {
	locale := name == "LANG" || name == "LANGUAGE" || strings.HasPrefix(name, "LC_")
	switch lang {
	case "python":
		return strings.HasPrefix(name, "PYTHON") || locale
	case "nodejs":
		return (strings.HasPrefix(name, "NODE_") && name != "NODE_ENV") ||
			strings.HasPrefix(name, "UV_") ||
			strings.HasPrefix(name, "OPENSSL_") ||
			strings.HasPrefix(name, "SSL_CERT_") ||
			locale
	}
	return false
}

// needsFreshInterpreter: whether env (NAME=value strings) has a variable readAtStart with
// another value than the zygote started with (as preparedMismatch in sandbox-starters.ts).
func (z *zygoteLang) needsFreshInterpreter(env []string) bool {
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if readAtStart(z.lang, name) {
			if v, ok := z.started[name]; !ok || v != value {
				return true
			}
		}
	}
	return false
}

// start forks the invocation's process from the zygote or, when its env has a variable
// the interpreter reads only as it starts (and the zygote did not start with that value),
// starts a fresh interpreter on the code file
// (`python3 /fn/code/main.py`, `node /fn/code/main.js`) like a Go function's binary
// (execFunction: same session, oom_score_adj, descriptors, env; the agent reaps it, and
// the timeout, kill scan and exit report are the same for both).
func (z *zygoteLang) start(a *agent, env []string, envJSON []byte) (*fnProcess, error) {
	if z.needsFreshInterpreter(env) {
		if z.spare {
			if err := z.order(zygoteDiscard); err != nil {
				return nil, err
			}
			if m := z.reply(a); m.typ != 'D' {
				return nil, fmt.Errorf("the zygote answered %q to a discard", m.typ)
			}
			z.spare = false
		}
		return execFunction(a, z.interp, []string{z.interp, codeDir + "/" + z.file}, env, z.adj)
	}
	z.spare = false // taken by this invocation (or it died: the zygote forks then)
	outR, outW, errR, errW, err := outputPipes()
	if err != nil {
		return nil, err
	}
	msg := make([]byte, 4+len(envJSON))
	binary.BigEndian.PutUint32(msg, uint32(len(envJSON)))
	copy(msg[4:], envJSON)
	started := time.Now()
	n, _, err := z.conn.WriteMsgUnix(msg, syscall.UnixRights(a.devNull, outW, errW), nil)
	if err == nil && n < len(msg) {
		_, err = z.conn.Write(msg[n:])
	}
	// The zygote holds its own copies now (and closes them once it forked).
	syscall.Close(outW)
	syscall.Close(errW)
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("sending to the zygote: %w", err)
	}
	m := z.reply(a)
	p := &fnProcess{pid: int(m.val), status: z.status, stdout: outR, stderr: errR, started: started}
	if m.typ == 'E' {
		p.startErr = fmt.Errorf("%s: fork: %v", z.lang, syscall.Errno(m.val))
		p.startCode = 126
	}
	return p, nil
}
