package main

import (
	"io"
	"os"
)

// Every invocation reads the same few files and lists the same few directories (the
// cgroup's OOM counter twice, /proc/sysvipc, /proc, /tmp, /dev/shm, /dev/mqueue, /fn/code).
// Opening each every time was about a tenth of the agent's CPU per invocation; they are
// opened once and read again from their start instead. Safe because none of them can be
// replaced under the agent: the directories are mount points (a function cannot rename or
// remove them), and the others are kernel files.

// openKept opens *f from path unless it is open; fresh tells it was opened now.
func openKept(path string, f **os.File) (fresh bool, err error) {
	if *f != nil {
		return false, nil
	}
	opened, err := os.Open(path)
	if err != nil {
		return false, err
	}
	*f = opened
	return true, nil
}

// dropKept closes *f after a failure: the next use opens the path again.
func dropKept(f **os.File) {
	(*f).Close()
	*f = nil
}

// keptFile is a kernel file read whole, again and again (pread from 0 makes the kernel
// generate it afresh).
type keptFile struct {
	path string
	f    *os.File
	buf  []byte
}

func (k *keptFile) read() ([]byte, error) {
	fresh, err := openKept(k.path, &k.f)
	if err != nil {
		return nil, err
	}
	if fresh {
		k.buf = make([]byte, 0, 4096)
	}
	k.buf = k.buf[:0]
	for {
		if len(k.buf) == cap(k.buf) {
			k.buf = append(k.buf, make([]byte, cap(k.buf))...)[:len(k.buf)]
		}
		n, err := k.f.ReadAt(k.buf[len(k.buf):cap(k.buf)], int64(len(k.buf)))
		k.buf = k.buf[:len(k.buf)+n]
		if err == io.EOF {
			return k.buf, nil
		}
		if err != nil {
			dropKept(&k.f)
			return nil, err
		}
	}
}

// keptDir is a directory listed again and again (rewound between listings).
type keptDir struct {
	path string
	f    *os.File
}

func (k *keptDir) names() ([]string, error) {
	fresh, err := openKept(k.path, &k.f)
	if err != nil {
		return nil, err
	}
	if !fresh {
		if _, err := k.f.Seek(0, io.SeekStart); err != nil {
			dropKept(&k.f)
			return nil, err
		}
	}
	names, err := k.f.Readdirnames(-1)
	if err != nil {
		dropKept(&k.f)
	}
	return names, err
}
