package main

// The engine-free transport (PROTOCOL.md, "Socket"). With FAAS_AGENT_SOCKET set to a path,
// the agent also listens on a Unix socket there before it says 'H'. A worker on the engine's
// host connects to it through /proc/<agent pid>/root<path>; from then on the frames go over
// that connection instead of the container's attach stream, which costs two more processes
// (dockerd, containerd-shim) and four more copies per frame. The attach stream stays open:
// its end (the worker gone) still ends the agent, and its stderr still carries diagnostics.
//
// The listener lives only until the first frame, from either side: a worker that does not
// connect (a remote engine, no access to /proc) sends its first frame on stdin and the
// socket is closed and unlinked then. No function code has run before that first frame,
// and a connection from inside the container (a peer pid this pid namespace can see) is
// refused all the same.

import (
	"net"
	"os"
	"syscall"
)

const socketEnv = "FAAS_AGENT_SOCKET"

// listenSocket starts listening when FAAS_AGENT_SOCKET names a path; the accepted
// connection arrives on a.conns.
func (a *agent) listenSocket() {
	path := os.Getenv(socketEnv)
	if path == "" {
		return
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		logger.Printf("%s: %v (frames stay on stdin/stdout)", socketEnv, err)
		return
	}
	l.SetUnlinkOnClose(true)
	a.listener = l
	a.conns = make(chan *net.UnixConn, 1)
	go func() {
		for {
			c, err := l.AcceptUnix()
			if err != nil {
				return // closed: the first frame came, or the agent is ending
			}
			if !fromOutsideContainer(c) {
				logger.Printf("refused a socket connection from inside the container")
				c.Close()
				continue
			}
			a.conns <- c
			return
		}
	}()
}

// closeListener: idempotent; the socket's path goes with it.
func (a *agent) closeListener() {
	if a.listener != nil {
		a.listener.Close()
		a.listener = nil
	}
}

// useConnection moves the frames to c: replies go there from now on, and its frames are read.
func (a *agent) useConnection(c *net.UnixConn) {
	a.closeListener()
	a.out = c
	go a.readFrames(c, "socket")
}

// fromOutsideContainer: the peer's pid as this pid namespace sees it is 0 when the peer
// lives outside it (the worker on the host); a process of the container has a pid here.
func fromOutsideContainer(c *net.UnixConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || credErr != nil {
		return false
	}
	return cred.Pid == 0
}
