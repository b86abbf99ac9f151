package main

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// reaper is the one place that waits for children: a goroutine that reaps with
// wait4(-1, WNOHANG) each time SIGCHLD arrives. The agent is PID 1, so besides its own
// children (the python or node zygote, Go functions) every orphan of the container is
// re-parented to it and reaped here. Statuses of pids someone asked for go to that waiter;
// others are dropped.
//
// Why not a goroutine blocked in wait4: the agent runs on one P (see main), and a goroutine
// that enters a blocking system call keeps the P until the runtime's monitor takes it back,
// up to 10 ms later when the agent was idle; a signal arrives through the runtime's signal
// goroutine and blocks nothing.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan syscall.WaitStatus
	sigchld chan os.Signal
	reaped  chan struct{} // signalled (non-blocking) after every reap
}

func newReaper() *reaper {
	r := &reaper{
		waiters: map[int]chan syscall.WaitStatus{},
		sigchld: make(chan os.Signal, 1),
		reaped:  make(chan struct{}, 1),
	}
	// Before any child exists, so no SIGCHLD is missed. Children get the default
	// disposition back at exec.
	signal.Notify(r.sigchld, syscall.SIGCHLD)
	return r
}

func (r *reaper) run() {
	for {
		// A SIGCHLD arriving while this loop reaps leaves one in the channel: at worst one
		// more pass that finds nothing.
		for r.reapOne() {
		}
		<-r.sigchld
	}
}

// reapOne reaps one exited child, if any.
func (r *reaper) reapOne() bool {
	var st syscall.WaitStatus
	pid, err := syscall.Wait4(-1, &st, syscall.WNOHANG, nil)
	if err == syscall.EINTR {
		return true
	}
	if err != nil || pid <= 0 { // ECHILD: no child; 0: none exited yet
		if err != nil && err != syscall.ECHILD {
			logger.Printf("wait4: %v", err)
		}
		return false
	}
	r.mu.Lock()
	ch := r.waiters[pid]
	delete(r.waiters, pid)
	r.mu.Unlock()
	if ch != nil {
		ch <- st
	}
	select {
	case r.reaped <- struct{}{}:
	default:
	}
	return true
}

// forkExec starts a child and registers it before the reaper can see its status (the
// lock is held across the fork, so an early exit is still dispatched to the waiter).
func (r *reaper) forkExec(path string, argv []string, attr *syscall.ProcAttr, before, after func()) (int, <-chan syscall.WaitStatus, error) {
	r.mu.Lock()
	if before != nil {
		before()
	}
	pid, err := syscall.ForkExec(path, argv, attr)
	if after != nil {
		after()
	}
	var ch chan syscall.WaitStatus
	if err == nil {
		ch = make(chan syscall.WaitStatus, 1)
		r.waiters[pid] = ch
	}
	r.mu.Unlock()
	return pid, ch, err
}
