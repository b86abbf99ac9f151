package main

// The function's code: kept in memory, written to /fn/code for the function to find and,
// for Go, also held in a sealed memfd that every invocation is exec'd from.
//
// Why not rewrite /fn/code after every invocation (a function may alter its own file, and
// nothing may cross to the next invocation)? For a Go binary of 1.5 MB that was two thirds
// of the agent's CPU per invocation: 1.13 -> 0.35 ms in bench/agent-bench.ts, 2.3 -> 1.6 ms
// from one 'I' to the next. So the agent rewrites only an invocation that touched /fn/code.
// An inotify watch on the directory and one on the code file's inode see every open,
// change, attribute change, link, rename and removal there, through whichever path
// (a hard link elsewhere, /proc/<pid>/fd). The one change without an event of its own, a
// write through a shared mapping, needs a writable open first, which is seen. Events are
// queued as the system call happens, so every one of an invocation is in the queue once
// its last process is dead; an overflowing queue is an event too.
//
// A Go function is exec'd from the memfd, not from /fn/code/main, so an invocation that
// leaves its file alone leaves no event. A Python or Node.js child reads main.py / main.js,
// so theirs are rewritten every time (a few hundred bytes). The memfd is sealed (no write,
// grow, shrink, nor unsealing): no function can alter what the next one runs, not even
// through /proc/self/exe. Its mode is the one thing a function can change there (it has the
// agent's uid), so it is set back after every invocation. /proc/self/exe of such a process
// reads "/memfd:main (deleted)", and Go's os.Executable() gives "/memfd:main": the runtime
// image and the process runtime's sandbox hold a link by that name to /fn/code/main, so a
// function that opens or runs its own executable finds it.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"unsafe"
)

const (
	mfdCloexec      = 0x1
	mfdAllowSealing = 0x2
	fAddSeals       = 1033 // F_LINUX_SPECIFIC_BASE + 9
	// F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE
	allSeals = 0x1 | 0x2 | 0x4 | 0x8
	execMode = 0o500
)

// codeStore is the code of the agent's one function version.
type codeStore struct {
	bytes []byte
	path  string      // /fn/code/<codeFile>
	mode  os.FileMode // the file's mode
	// image: the sealed memfd a Go function is exec'd from; -1 when there is none (an
	// interpreted language, or no memfd here): the function then runs from path.
	image int
	// notify: the inotify descriptor watching /fn/code and the code file; -1 when inotify
	// is unavailable: the code is then rewritten after every invocation.
	notify int
}

// install keeps the code ('C'): writes the file, seals the memfd when exec says the
// function is exec'd, and starts watching.
func (c *codeStore) install(code []byte, file string, mode os.FileMode, exec bool) error {
	c.bytes, c.path, c.mode, c.image, c.notify = code, filepath.Join(codeDir, file), mode, -1, -1
	if exec {
		fd, err := sealedImage(code)
		if err != nil {
			logger.Printf("no sealed memfd (%v): go functions run from %s, rewritten after every invocation", err, c.path)
		} else {
			c.image = fd
		}
	}
	if fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK); err != nil {
		logger.Printf("no inotify (%v): %s is rewritten after every invocation", err, codeDir)
	} else {
		c.notify = fd
		if _, err := syscall.InotifyAddWatch(fd, codeDir, syscall.IN_ALL_EVENTS); err != nil {
			c.unwatch(codeDir, err)
		}
	}
	return c.write()
}

// unwatch gives up watching after a watch could not be added (the uid's inotify budgets are
// shared by every container of the host, and a function can use them up while it runs): the
// code is rewritten after every invocation from then on, which needs no watch.
func (c *codeStore) unwatch(path string, err error) {
	logger.Printf("cannot watch %s (%v): %s is rewritten after every invocation", path, err, codeDir)
	syscall.Close(c.notify)
	c.notify = -1
}

// execPath is the path a Go function's process is exec'd from: the memfd, or the file.
func (c *codeStore) execPath() string {
	if c.image < 0 {
		return c.path
	}
	return "/proc/self/fd/" + strconv.Itoa(c.image)
}

// dropImage gives up the memfd after an exec from it failed (no /proc, say): the function
// runs from the file from now on.
func (c *codeStore) dropImage() {
	if c.image >= 0 {
		syscall.Close(c.image)
		c.image = -1
	}
}

// restore puts the code back as installed after an invocation: the memfd's mode, and the
// file unless nothing touched /fn/code.
func (c *codeStore) restore() error {
	if c.image >= 0 {
		if err := syscall.Fchmod(c.image, execMode); err != nil {
			return fmt.Errorf("memfd mode: %w", err)
		}
	}
	touched, err := c.touched()
	if err != nil || !touched {
		return err
	}
	return c.write()
}

// touched reads every queued event: were there any since the last write?
func (c *codeStore) touched() (bool, error) {
	if c.notify < 0 {
		return true, nil
	}
	var buf [4096]byte
	any := false
	for {
		n, err := syscall.Read(c.notify, buf[:])
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			return any, nil
		}
		if err != nil {
			return true, fmt.Errorf("reading inotify events: %w", err)
		}
		any = any || n > 0
	}
}

// write empties /fn/code, writes the code file from memory, watches its new inode and
// forgets the events the agent's own work made.
func (c *codeStore) write() error {
	_ = os.Chmod(codeDir, 0o700) // the function may have chmod'ed the directory
	if err := codeDirKept.empty(); err != nil {
		return err
	}
	f, err := os.OpenFile(c.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, c.mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(c.bytes); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if c.notify < 0 {
		return nil
	}
	// The old inode's watch went with its removal; the new file needs one of its own.
	if _, err := syscall.InotifyAddWatch(c.notify, c.path, syscall.IN_ALL_EVENTS); err != nil {
		c.unwatch(c.path, err)
		return nil
	}
	_, err = c.touched()
	return err
}

// sealedImage returns a close-on-exec memfd holding code, mode 0500, sealed against every
// change of its content.
func sealedImage(code []byte) (int, error) {
	name := []byte("main\x00")
	r, _, e := syscall.Syscall(sysMemfdCreate, uintptr(unsafe.Pointer(&name[0])), mfdCloexec|mfdAllowSealing, 0)
	if e != 0 {
		return -1, fmt.Errorf("memfd_create: %w", e)
	}
	fd := int(r)
	fail := func(what string, err error) (int, error) {
		syscall.Close(fd)
		return -1, fmt.Errorf("%s: %w", what, err)
	}
	for rest := code; len(rest) > 0; {
		n, err := syscall.Write(fd, rest)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fail("memfd write", err)
		}
		rest = rest[n:]
	}
	if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), fAddSeals, allSeals); e != 0 {
		return fail("memfd seals", e)
	}
	if err := syscall.Fchmod(fd, execMode); err != nil {
		return fail("memfd mode", err)
	}
	return fd, nil
}
