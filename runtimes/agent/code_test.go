package main

// Driven by test/unit/agent-code.test.ts (go test, as root: the code store writes and
// execs files of its own). A Go function is exec'd from its sealed memfd; where the kernel
// will not exec it (vm.memfd_noexec, no /proc), the agent gives the memfd up and runs the
// code file from then on.

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// theReaper is the one reaper of the test process: two would race to reap each other's
// children (each waits for any child on SIGCHLD), and a status reaped by the other is lost.
var (
	reaperOnce sync.Once
	oneReaper  *reaper
)

func theReaper() *reaper {
	reaperOnce.Do(func() {
		oneReaper = newReaper()
		go oneReaper.run()
	})
	return oneReaper
}

// agentIn is an agent whose /fn is a directory of the test's, with the code of a Go
// function installed: /bin/true, exec'd like one.
func agentIn(t *testing.T) *agent {
	t.Helper()
	root := t.TempDir()
	workDir, codeDir = root, filepath.Join(root, "code")
	codeDirKept = &keptDir{path: codeDir}
	if err := os.Mkdir(codeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	code, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{lang: &goLang{}, reaper: theReaper()}
	if a.devNull, err = syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err != nil {
		t.Fatal(err)
	}
	if err := a.code.install(code, a.lang.codeFile(), a.lang.codeMode(), true); err != nil {
		t.Fatal(err)
	}
	if a.code.image < 0 {
		t.Fatal("no sealed memfd on this machine: the fallback cannot be told from the usual path")
	}
	return a
}

// runOnce starts the function and returns its exit status.
func runOnce(t *testing.T, a *agent) syscall.WaitStatus {
	t.Helper()
	p, err := a.lang.start(a, []string{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.startErr != nil {
		t.Fatalf("not started: %v", p.startErr)
	}
	p.stdout.Close()
	p.stderr.Close()
	return <-p.status
}

func TestGoRunsFromTheMemfd(t *testing.T) {
	a := agentIn(t)
	image := a.code.image
	if st := runOnce(t, a); st.ExitStatus() != 0 {
		t.Fatalf("exit status %d", st.ExitStatus())
	}
	if a.code.image != image || a.code.execPath() == a.code.path {
		t.Fatalf("the memfd was given up (image %d, exec path %s)", a.code.image, a.code.execPath())
	}
}

func TestGoRunsFromTheCodeFileWhenTheMemfdCannotBeExecuted(t *testing.T) {
	a := agentIn(t)
	// What a kernel that refuses to exec a memfd does to the agent: here, a mode without exec
	// (root too needs an exec bit), so the exec from /proc/self/fd/N fails with EACCES.
	if err := syscall.Fchmod(a.code.image, 0o400); err != nil {
		t.Fatal(err)
	}
	if st := runOnce(t, a); st.ExitStatus() != 0 {
		t.Fatalf("exit status %d", st.ExitStatus())
	}
	if a.code.image != -1 || a.code.execPath() != a.code.path {
		t.Fatalf("the memfd was kept (image %d, exec path %s)", a.code.image, a.code.execPath())
	}
	// From then on the file serves: one a function changed is rewritten before the next runs.
	if err := os.WriteFile(a.code.path, []byte("#!/bin/false\n"), 0o500); err != nil {
		t.Fatal(err)
	}
	if err := a.code.restore(); err != nil {
		t.Fatal(err)
	}
	if st := runOnce(t, a); st.ExitStatus() != 0 {
		t.Fatalf("exit status %d after the file was restored", st.ExitStatus())
	}
}
