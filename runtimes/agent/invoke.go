package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// drainDeadline bounds the wait for the pipes' EOF once no process is left. Every writer
// is dead by then, so EOF is immediate; the deadline only guards against a write end
// kept alive elsewhere (e.g. in flight in a unix socket awaiting the kernel's garbage
// collection).
const drainDeadline = 2 * time.Second

type exitReport struct {
	ExitCode        *int  `json:"exitCode"`
	Signal          *int  `json:"signal"`
	TimedOut        bool  `json:"timedOut"`
	OOMKilled       bool  `json:"oomKilled"`
	DurationMs      int64 `json:"durationMs"`
	StdoutTruncated bool  `json:"stdoutTruncated"`
	StderrTruncated bool  `json:"stderrTruncated"`
}

// captured is one output stream of an invocation, read to EOF, kept up to its cap.
type captured struct {
	data      []byte
	limit     int
	truncated bool
	done      chan struct{}
}

// readBuffers: one per output stream, reused by every invocation (one at a time: both
// readers are done before the next starts), instead of 128 KiB of garbage each.
var readBuffers = [2][]byte{make([]byte, 64<<10), make([]byte, 64<<10)}

func capture(f *os.File, limit int, buf []byte) *captured {
	c := &captured{limit: limit, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer f.Close()
		for {
			n, err := f.Read(buf)
			if n > 0 {
				room := c.limit - len(c.data)
				if n > room {
					c.truncated = true
					n = room
				}
				if n > 0 {
					c.data = append(c.data, buf[:n]...)
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return c
}

func (a *agent) invoke(l limits, env []string, envJSON []byte) {
	oomBefore, _ := readOOMKills(a.oom)
	p, err := a.lang.start(a, env, envJSON)
	if err != nil {
		a.fatal("starting the function: " + err.Error())
	}
	var rep exitReport
	var stdout, stderr *captured
	if p.startErr != nil {
		// Nothing ran: report like a shell does for a command it cannot execute.
		if p.stdout != nil {
			p.stdout.Close()
		}
		if p.stderr != nil {
			p.stderr.Close()
		}
		msg := []byte(p.startErr.Error() + "\n")
		stdout = &captured{}
		stderr = &captured{data: msg, limit: l.stderrLimit}
		if len(msg) > l.stderrLimit {
			stderr.data, stderr.truncated = msg[:l.stderrLimit], true
		}
		code := p.startCode
		rep.ExitCode = &code
	} else {
		stdout = capture(p.stdout, l.stdoutLimit, readBuffers[0])
		stderr = capture(p.stderr, l.stderrLimit, readBuffers[1])
		timer := time.NewTimer(l.timeout)
		var st syscall.WaitStatus
		select {
		case st = <-p.status:
		case <-timer.C:
			rep.TimedOut = true
			a.killAll(nil)
			st = a.waitStatus(p)
		case <-a.eof:
			a.shutdown(0)
		case msg := <-a.fatalCh:
			a.fatal(msg)
		}
		timer.Stop()
		rep.DurationMs = int64((time.Since(p.started) + time.Millisecond/2) / time.Millisecond)
		switch {
		case st.Exited():
			c := st.ExitStatus()
			rep.ExitCode = &c
		case st.Signaled():
			s := int(st.Signal())
			rep.Signal = &s
		}
		// Everything the function left behind, then the output to EOF.
		a.killAll(nil)
		deadline := time.Now().Add(drainDeadline)
		p.stdout.SetReadDeadline(deadline)
		p.stderr.SetReadDeadline(deadline)
		<-stdout.done
		<-stderr.done
		if time.Now().After(deadline) {
			logger.Printf("output pipes not at EOF %v after the last process died: output may be incomplete", drainDeadline)
		}
	}
	if oomAfter, ok := readOOMKills(a.oom); ok && oomAfter > oomBefore {
		rep.OOMKilled = true
	}
	rep.StdoutTruncated = stdout.truncated
	rep.StderrTruncated = stderr.truncated
	if err := a.send(frame{'O', stdout.data}, frame{'E', stderr.data}, frame{'X', mustJSON(rep)}); err != nil {
		a.exitOnWriteError(err)
	}
	if err := a.cleanup(); err != nil {
		a.fatal("cleanup: " + err.Error())
	}
	a.lang.idle(a)
}

// waitStatus waits for the main process after it was killed (timeout).
func (a *agent) waitStatus(p *fnProcess) syscall.WaitStatus {
	for {
		select {
		case st := <-p.status:
			return st
		case <-a.eof:
			a.shutdown(0)
		case msg := <-a.fatalCh:
			a.fatal(msg)
		case <-time.After(50 * time.Millisecond):
			// A zygote's child is reaped by the zygote; keep the zygote running.
			a.killAll(nil)
		}
	}
}

// killAll SIGKILLs every process in the container but the agent and its helpers, and
// rescans /proc until none is left (killed processes are reaped by the reaper; a process
// forked between two scans is caught by the next). spare overrides the helpers.
func (a *agent) killAll(spare []int) {
	if spare == nil {
		spare = a.lang.helpers()
	}
	self := os.Getpid()
	for _, h := range spare {
		syscall.Kill(h, syscall.SIGCONT) // a helper stopped by the function would hang us
	}
	wait := 200 * time.Microsecond
	for {
		pids := otherPids(self, spare)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		t := time.NewTimer(wait)
		select {
		case <-a.reaper.reaped:
		case <-t.C:
		}
		t.Stop()
		if wait < 10*time.Millisecond {
			wait *= 2
		}
	}
}

// otherPids lists the processes in /proc except self and spare. When the agent is not
// PID 1 (not its own pid namespace), only its descendants are listed.
var procDir = &keptDir{path: "/proc"}

func otherPids(self int, spare []int) []int {
	names, err := procDir.names()
	if err != nil {
		logger.Printf("listing /proc: %v", err)
		return nil
	}
	var pids []int
	var parents map[int]int
	for _, n := range names {
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		pid, err := strconv.Atoi(n)
		if err != nil || pid == self {
			continue
		}
		skip := false
		for _, s := range spare {
			if s == pid {
				skip = true
			}
		}
		if skip {
			continue
		}
		if self != 1 {
			if parents == nil {
				parents = map[int]int{}
			}
			parents[pid] = ppidOf(pid)
		}
		pids = append(pids, pid)
	}
	if self == 1 {
		return pids
	}
	var mine []int
	for _, pid := range pids {
		for p, hops := pid, 0; p > 1 && hops < 64; hops++ {
			pp, ok := parents[p]
			if !ok {
				pp = ppidOf(p)
			}
			if pp == self {
				mine = append(mine, pid)
				break
			}
			p = pp
		}
	}
	return mine
}

func ppidOf(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	pp, _ := strconv.Atoi(f[1])
	return pp
}

// cleanup restores the state every invocation starts from; it runs after 'X' and before
// the next frame is read.
func (a *agent) cleanup() error {
	// /dev/mqueue (POSIX message queues, mounted by the engine) outlives processes too.
	for _, d := range scratchDirs {
		if err := d.empty(); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := a.code.restore(); err != nil {
		return err
	}
	removeSysVIPC()
	return nil
}

// scratchDirs and codeDirKept: the mount points emptied after every invocation.
var (
	scratchDirs = []*keptDir{{path: "/tmp"}, {path: "/dev/shm"}, {path: "/dev/mqueue"}}
	codeDirKept = &keptDir{path: codeDir}
)

// empty removes everything inside the directory, as emptyDir does.
func (k *keptDir) empty() error {
	names, err := k.names()
	if err != nil {
		return err
	}
	return emptyNames(k.path, names)
}

// emptyDir removes everything inside dir (not dir itself), making directories the
// function made unreadable or unwritable accessible first. Symlinks are removed, never
// followed.
func emptyDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	return emptyNames(dir, names)
}

func emptyNames(dir string, names []string) error {
	var first error
	for _, n := range names {
		if err := removeAll(filepath.Join(dir, n)); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func removeAll(p string) error {
	err := syscall.Unlink(p)
	if err == nil || err == syscall.ENOENT {
		return nil
	}
	if err != syscall.EISDIR && err != syscall.EPERM {
		return &os.PathError{Op: "unlink", Path: p, Err: err}
	}
	// A directory (unlink of a directory is EISDIR on Linux, EPERM elsewhere).
	if err := syscall.Chmod(p, 0o700); err != nil {
		return &os.PathError{Op: "chmod", Path: p, Err: err}
	}
	if err := emptyDir(p); err != nil {
		return err
	}
	if err := syscall.Rmdir(p); err != nil && err != syscall.ENOENT {
		return &os.PathError{Op: "rmdir", Path: p, Err: err}
	}
	return nil
}

var (
	sysvShm = &keptFile{path: "/proc/sysvipc/shm"}
	sysvMsg = &keptFile{path: "/proc/sysvipc/msg"}
	sysvSem = &keptFile{path: "/proc/sysvipc/sem"}
)

// removeSysVIPC removes every System V shared memory segment, message queue and
// semaphore set of the container's IPC namespace (IPC_RMID).
func removeSysVIPC() {
	const ipcRmid = 0
	for _, kind := range []struct {
		file *keptFile
		rm   func(id int) syscall.Errno
	}{
		{sysvShm, func(id int) syscall.Errno {
			_, _, e := syscall.Syscall(syscall.SYS_SHMCTL, uintptr(id), ipcRmid, 0)
			return e
		}},
		{sysvMsg, func(id int) syscall.Errno {
			_, _, e := syscall.Syscall(syscall.SYS_MSGCTL, uintptr(id), ipcRmid, 0)
			return e
		}},
		{sysvSem, func(id int) syscall.Errno {
			_, _, e := syscall.Syscall6(syscall.SYS_SEMCTL, uintptr(id), 0, ipcRmid, 0, 0, 0)
			return e
		}},
	} {
		b, err := kind.file.read()
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		for _, line := range lines[1:] { // first line: column names
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			id, err := strconv.Atoi(f[1])
			if err != nil {
				continue
			}
			if e := kind.rm(id); e != 0 && e != syscall.EINVAL && e != syscall.EIDRM {
				logger.Printf("%s: IPC_RMID %d: %v", kind.file.path, id, e)
			}
		}
	}
}

// readOOMKills reads the memory cgroup's oom_kill counter ("oom_kill N").
func readOOMKills(k *keptFile) (uint64, bool) {
	if k == nil {
		return 0, false
	}
	b, err := k.read()
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "oom_kill ") {
			n, err := strconv.ParseUint(strings.TrimSpace(line[len("oom_kill "):]), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
