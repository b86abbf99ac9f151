// Functions that print the descriptors they hold without close-on-exec, as {fd: target}.
// A descriptor a process inherited across exec() is one of those; whatever an interpreter
// opens itself (epoll, eventfds, libuv's pipes, Go's poller) is close-on-exec and is left
// out. A function must find nothing above 2 here (node reopens 0-2 close-on-exec itself, so
// it may not list those either).
import type { FunctionLanguage } from "../../src/worker/runtimes/runtime.js";

const O_CLOEXEC = 0o2000000;

export const INHERITED_FDS: Record<FunctionLanguage, string> = {
  python: `import json, os
fds = os.listdir("/proc/self/fd")
out = {}
for fd in fds:
    try:
        with open("/proc/self/fdinfo/" + fd) as f:
            flags = int(f.read().split("flags:")[1].split()[0], 8)
        target = os.readlink("/proc/self/fd/" + fd)
    except OSError:
        continue
    if not flags & ${O_CLOEXEC}:
        out[fd] = target
print(json.dumps(out))
`,
  nodejs: `const fs = require("fs");
const out = {};
for (const fd of fs.readdirSync("/proc/self/fd")) {
  try {
    const flags = parseInt(fs.readFileSync("/proc/self/fdinfo/" + fd, "utf8").match(/flags:\\s+(\\d+)/)[1], 8);
    const target = fs.readlinkSync("/proc/self/fd/" + fd);
    if (!(flags & ${O_CLOEXEC})) out[fd] = target;
  } catch {}
}
console.log(JSON.stringify(out));
`,
  go: `package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
)

func main() {
	entries, _ := os.ReadDir("/proc/self/fd")
	out := map[string]string{}
	re := regexp.MustCompile("flags:\\\\s+(\\\\d+)")
	for _, e := range entries {
		info, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue
		}
		m := re.FindSubmatch(info)
		if m == nil {
			continue
		}
		flags, _ := strconv.ParseInt(string(m[1]), 8, 64)
		if flags&${O_CLOEXEC} == 0 {
			out[e.Name()] = target
		}
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}
`,
};

/** The descriptors above 2 a function's output lists, as "fd -> target", sorted numerically. */
export function inheritedFds(stdout: string): string[] {
  return Object.entries(JSON.parse(stdout) as Record<string, string>)
    .filter(([fd]) => Number(fd) > 2)
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([fd, target]) => `${fd} -> ${target}`);
}
