package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

const (
	zygoteScript = "/opt/faas/zygote.py"
	nodeStarter  = "/opt/faas/node-starter.js"
	helperStart  = 60 * time.Second // the zygote's imports / node's start, at container start
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
func (*goLang) afterCleanup(*agent) error {
	return nil
}

func (g *goLang) init(a *agent) error {
	g.restoreAdj = []byte("0")
	if b, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		g.restoreAdj = trimSpace(b)
	}
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// start execs /fn/code/main. oom_score_adj 1000 cannot be set in the child between fork
// and exec with Go's ForkExec, so the agent raises its own value just around the fork
// (the child inherits it; nothing else runs meanwhile) and lowers it back, through the
// descriptor opened before it became non-dumpable.
func (g *goLang) start(a *agent, env []string, _ []byte) (*fnProcess, error) {
	outR, outW, errR, errW, err := outputPipes()
	if err != nil {
		return nil, err
	}
	path := codeDir + "/main"
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
	pid, status, err := a.reaper.forkExec(path, []string{path}, attr,
		func() { setAdj([]byte("1000")) }, func() { setAdj(g.restoreAdj) })
	syscall.Close(outW)
	syscall.Close(errW)
	p := &fnProcess{pid: pid, status: status, stdout: outR, stderr: errR, started: started}
	if err != nil {
		p.startErr = fmt.Errorf("%s: %v", path, err)
		p.startCode = 126
		if errors.Is(err, syscall.ENOENT) {
			p.startCode = 127
		}
	}
	return p, nil
}

// ------------------------------------------------------------------------ python

// pythonLang: the zygote (zygote.py) is a child of the agent with a unix stream socket
// on its fd 3. Agent -> zygote, per invocation: a 4-byte big-endian length and the env
// as a JSON object, the first bytes carrying SCM_RIGHTS with 3 descriptors (stdin
// /dev/null, stdout and stderr write ends). Zygote -> agent: 5-byte messages, one byte
// type and a big-endian uint32: 'H' pid (imports done, once), 'P' pid (child forked),
// 'W' status (the child's wait status), 'E' errno (fork failed).
type pythonLang struct {
	pid    int
	conn   *net.UnixConn
	forked chan zmsg // 'P' and 'E'
	status chan syscall.WaitStatus
}

type zmsg struct {
	typ byte
	val uint32
}

func (*pythonLang) name() string          { return "python" }
func (*pythonLang) codeFile() string      { return "main.py" }
func (*pythonLang) codeMode() os.FileMode { return 0o600 }
func (z *pythonLang) helpers() []int      { return []int{z.pid} }
func (*pythonLang) afterCleanup(*agent) error {
	return nil
}

func (z *pythonLang) shutdown(*agent) {
	if z.pid > 0 {
		syscall.Kill(z.pid, syscall.SIGKILL)
	}
}

func (z *pythonLang) init(a *agent) error {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	python := lookBinary("/usr/bin/python3", "/usr/local/bin/python3")
	attr := &syscall.ProcAttr{
		Dir:   workDir,
		Env:   []string{},
		Files: []uintptr{uintptr(a.devNull), 2, 2, uintptr(fds[1])},
	}
	pid, status, err := a.reaper.forkExec(python, []string{python, zygoteScript}, attr, nil, nil)
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
			case 'P', 'E':
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

func (z *pythonLang) start(a *agent, _ []string, envJSON []byte) (*fnProcess, error) {
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
	var m zmsg
	select {
	case m = <-z.forked:
	case <-a.eof:
		a.shutdown(0)
	case msg := <-a.fatalCh:
		a.fatal(msg)
	}
	p := &fnProcess{pid: int(m.val), status: z.status, stdout: outR, stderr: errR, started: started}
	if m.typ == 'E' {
		p.startErr = fmt.Errorf("python: fork: %v", syscall.Errno(m.val))
		p.startCode = 126
	}
	return p, nil
}

// ------------------------------------------------------------------------ nodejs

// nodeLang: the next invocation's node process is started ahead (at container start and
// after each cleanup) with its stdout/stderr already the next invocation's pipes, stdin
// /dev/null, fd 3 the read end of the env pipe and fd 4 the write end of a readiness
// pipe node-starter.js closes once loaded (only waited for before 'H').
type nodeLang struct {
	node string
	next *nodeProcess
}

type nodeProcess struct {
	pid    int
	status <-chan syscall.WaitStatus
	stdout *os.File
	stderr *os.File
	env    *os.File
	ready  *os.File
}

func (*nodeLang) name() string          { return "nodejs" }
func (*nodeLang) codeFile() string      { return "main.js" }
func (*nodeLang) codeMode() os.FileMode { return 0o600 }
func (*nodeLang) helpers() []int        { return nil }

func (n *nodeLang) shutdown(*agent) {
	if n.next != nil {
		syscall.Kill(n.next.pid, syscall.SIGKILL)
	}
}

func (n *nodeLang) init(a *agent) error {
	n.node = lookBinary("/usr/bin/node", "/usr/local/bin/node", "/usr/bin/nodejs")
	if err := n.prestart(a); err != nil {
		return err
	}
	// Wait until node-starter.js is loaded and blocked on its env pipe.
	p := n.next
	p.ready.SetReadDeadline(time.Now().Add(helperStart))
	_, err := io.Copy(io.Discard, p.ready)
	select {
	case st := <-p.status:
		return fmt.Errorf("node exited at start (%s)", describeStatus(st))
	default:
	}
	if err != nil {
		return fmt.Errorf("node did not start: %v", err)
	}
	return nil
}

func (n *nodeLang) afterCleanup(a *agent) error {
	return n.prestart(a)
}

func (n *nodeLang) prestart(a *agent) error {
	outR, outW, errR, errW, err := outputPipes()
	if err != nil {
		return err
	}
	var envP, readyP [2]int
	if err := syscall.Pipe2(envP[:], syscall.O_CLOEXEC); err != nil {
		return err
	}
	if err := syscall.Pipe2(readyP[:], syscall.O_CLOEXEC); err != nil {
		return err
	}
	syscall.SetNonblock(readyP[0], true)
	attr := &syscall.ProcAttr{
		Dir:   workDir,
		Env:   []string{},
		Files: []uintptr{uintptr(a.devNull), uintptr(outW), uintptr(errW), uintptr(envP[0]), uintptr(readyP[1])},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	}
	pid, status, err := a.reaper.forkExec(n.node, []string{n.node, nodeStarter}, attr, nil, nil)
	for _, fd := range []int{outW, errW, envP[0], readyP[1]} {
		syscall.Close(fd)
	}
	if err != nil {
		outR.Close()
		errR.Close()
		syscall.Close(envP[1])
		syscall.Close(readyP[0])
		return fmt.Errorf("starting node: %w", err)
	}
	n.next = &nodeProcess{pid: pid, status: status, stdout: outR, stderr: errR,
		env: os.NewFile(uintptr(envP[1]), "env"), ready: os.NewFile(uintptr(readyP[0]), "ready")}
	return nil
}

func (n *nodeLang) start(a *agent, _ []string, envJSON []byte) (*fnProcess, error) {
	p := n.next
	n.next = nil
	if p == nil {
		return nil, errors.New("no node process was started")
	}
	p.ready.Close()
	started := time.Now()
	go func() {
		// Blocks while node is still starting if the env is larger than the pipe buffer.
		p.env.Write(envJSON)
		p.env.Close()
	}()
	return &fnProcess{pid: p.pid, status: p.status, stdout: p.stdout, stderr: p.stderr, started: started}, nil
}
