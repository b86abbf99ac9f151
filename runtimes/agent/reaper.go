package main

import (
	"sync"
	"syscall"
)

// reaper is the one place that waits for children: a goroutine blocked in wait4(-1).
// The agent is PID 1, so besides its own children (the python or node zygote, Go
// functions) every orphan of the container is re-parented to it and reaped here.
// Statuses of pids someone asked for go to that waiter; others are dropped.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan syscall.WaitStatus
	kick    chan struct{} // a child was started: wait4 has something to wait for again
	reaped  chan struct{} // signalled (non-blocking) after every reap
}

func newReaper() *reaper {
	return &reaper{
		waiters: map[int]chan syscall.WaitStatus{},
		kick:    make(chan struct{}, 1),
		reaped:  make(chan struct{}, 1),
	}
}

func (r *reaper) run() {
	for {
		var st syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &st, 0, nil)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.ECHILD:
			<-r.kick // no child: block until one is started
			continue
		case err != nil:
			logger.Printf("wait4: %v", err)
			<-r.kick
			continue
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
	}
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
	if err == nil {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
	return pid, ch, err
}
