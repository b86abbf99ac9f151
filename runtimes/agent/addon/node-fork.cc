// node-fork.node: the native half of the Node.js zygote (node-zygote.js), a node addon in
// C++ compiled in the nodejs image's build (runtimes/nodejs/Dockerfile) against Debian's
// node headers (libnode-dev, the very libnode the image runs: besides Node-API it uses
// node's C++ API, which is not ABI-stable across node versions), and by the process
// runtime's worker against the headers of the host's node (agent-binary.ts).
//
// serve(fd) runs the zygote's loop on the agent's channel (fd 3, a unix stream socket;
// the messages are those of zygote.py, see langs.go): it sends 'H' pid, then per request
// (4-byte big-endian length + env JSON, SCM_RIGHTS stdin/stdout/stderr) forks, sends
// 'P' pid and, once the child exited, 'W' status ('E' errno when fork failed). It returns
// only in a forked child, with the env JSON, after setting the child up (setup_child), or
// null in the zygote when the agent closed the channel. takeOverExit() and getpid() are
// for the child (below).
//
// What makes a fork of node work (each found by experiment with node 18.20 here; node 20.20
// needed only the exit code's read below):
//   - the zygote runs V8 --single-threaded: no concurrent marking or sweeping, no
//     concurrent compilation, so no V8 work depends on the platform's worker threads,
//     which exist only in the zygote;
//   - V8 maps its heap pages MADV_DONTFORK: before each fork they are made inheritable
//     (inherit_all_mappings), else the child crashes at its first allocation;
//   - the zygote forks from inside serve(), with no JS on the stack but its top level, and
//     never runs function code;
//   - in the child: its own libuv loop (uv_loop_fork: a new epoll, async eventfd and
//     signal pipe); libuv's threadpool and signal lock pipe, OpenSSL's generator (fork
//     detection) and glibc's thread list reset themselves (pthread_atfork, fork);
//     node's other descriptors are unshared (setup_child); NodePlatform::DrainTasks no
//     longer waits for the worker threads, and the process ends with _exit instead of
//     node's teardown, which would wait for them forever (take_over_exit).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>

#include <node.h>
#include <node_api.h>
#include <uv.h>

#define MAX_FDS 1024

struct fdid {
  int fd;
  dev_t dev;
  ino_t ino;
};

// The zygote's descriptors just before a fork, to tell in the child which descriptors
// were made after the fork (by pthread_atfork handlers) from those it shares with the
// zygote.
static struct fdid before[MAX_FDS];
static int nbefore;

static int list_fds(struct fdid *out, int max) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return -1;
  int self = dirfd(d), n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    int fd = atoi(e->d_name);
    if (fd == self) continue;
    struct stat st;
    if (fstat(fd, &st) != 0) continue;
    if (n < max) out[n++] = fdid{fd, st.st_dev, st.st_ino};
  }
  closedir(d);
  return n;
}

// V8 maps its heap pages MADV_DONTFORK: a forked child would not have them (and would
// crash at its first allocation). Before each fork every mapping of the zygote is made
// inheritable again (madvise fails harmlessly on the few special ones, e.g. [vvar]).
static int inherit_all_mappings(void) {
  static char buf[1 << 16];
  int f = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (f < 0) return -1;
  size_t have = 0;
  for (;;) {
    ssize_t r = read(f, buf + have, sizeof buf - 1 - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    have += (size_t)r;
    buf[have] = 0;
    char *line = buf, *nl;
    while ((nl = strchr(line, '\n')) != NULL) {
      unsigned long lo, hi;
      if (sscanf(line, "%lx-%lx", &lo, &hi) == 2) madvise((void *)lo, hi - lo, MADV_DOFORK);
      line = nl + 1;
    }
    have = (size_t)(buf + have - line); // a partial last line waits for the next read
    memmove(buf, line, have);
  }
  close(f);
  return 0;
}

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = static_cast<const char *>(buf);
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int send_msg(int sock, char type, uint32_t val) {
  unsigned char m[5] = {(unsigned char)type, (unsigned char)(val >> 24), (unsigned char)(val >> 16),
                       (unsigned char)(val >> 8), (unsigned char)val};
  return write_all(sock, m, sizeof m);
}

static int read_full(int fd, unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r == 0) errno = EPIPE;
      return -1;
    }
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

// recv_request reads one request: returns 1 (env in *json, NUL-terminated, malloc'd;
// descriptors in fds), 0 at EOF, -1 on error (errno; *what says where).
static int recv_request(int sock, char **json, int fds[3], const char **what) {
  static unsigned char first[65536];
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(3 * sizeof(int))];
  } ctl;
  struct iovec iov = {first, sizeof first};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl.buf;
  msg.msg_controllen = sizeof ctl.buf;
  ssize_t r;
  do r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    *what = "recvmsg";
    return -1;
  }
  int got = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      int *p = (int *)CMSG_DATA(c);
      for (int i = 0; i < n; i++) {
        if (got < 3) fds[got++] = p[i];
        else close(p[i]);
      }
    }
  }
  if (r == 0 || got != 3 || (msg.msg_flags & MSG_CTRUNC)) {
    for (int i = 0; i < got; i++) close(fds[i]);
    if (r == 0) return 0;
    *what = "expected 3 descriptors";
    errno = EPROTO;
    return -1;
  }
  size_t have = (size_t)r;
  char *buf = NULL;
  uint32_t len = 0;
  if (have < 4 && read_full(sock, first + have, 4 - have) != 0) {
    *what = "channel closed inside a request";
  } else {
    have = have < 4 ? 4 : have;
    len = (uint32_t)first[0] << 24 | (uint32_t)first[1] << 16 | (uint32_t)first[2] << 8 | first[3];
    if (have > 4 + (size_t)len) {
      *what = "request longer than its length";
      errno = EPROTO;
    } else if ((buf = static_cast<char *>(malloc((size_t)len + 1))) == NULL) {
      *what = "malloc";
    } else {
      memcpy(buf, first + 4, have - 4);
      if (read_full(sock, (unsigned char *)buf + (have - 4), len - (have - 4)) != 0) {
        *what = "channel closed inside a request";
        free(buf);
        buf = NULL;
      }
    }
  }
  if (buf == NULL) {
    for (int i = 0; i < 3; i++) close(fds[i]);
    return -1;
  }
  buf[len] = 0;
  *json = buf;
  return 1;
}

static void die_in_child(const char *what, int err) {
  char m[256];
  int n = snprintf(m, sizeof m, "node zygote: setting up the function process failed: %s: %s\n",
                   what, strerror(err));
  if (n > 0) write_all(2, m, (size_t)n < sizeof m ? (size_t)n : sizeof m - 1);
  _exit(126);
}

// setup_child: the invocation's process, like a fresh `node main.js` started by the agent
// (PROTOCOL.md): own session, oom_score_adj 1000, stdin/stdout/stderr the invocation's,
// no descriptor shared with the zygote, its own libuv loop.
static void setup_child(uv_loop_t *loop, int sock, int fds[3]) {
  if (setsid() < 0) die_in_child("setsid", errno);
  // A fresh process is dumpable; only then can it write its own oom_score_adj.
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  int f = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (f < 0 || write_all(f, "1000", 4) != 0) die_in_child("oom_score_adj", errno);
  close(f);
  for (int i = 0; i < 3; i++)
    if (dup2(fds[i], i) < 0) die_in_child("dup2", errno);
  for (int i = 0; i < 3; i++)
    if (fds[i] > 2) close(fds[i]);
  close(sock);
  // Every other descriptor is the zygote's (node's own: the epoll, eventfd and pipes of
  // its loops) except those the pthread_atfork handlers made in this process (libuv's
  // signal lock pipe). A shared one would be a channel to the zygote and so to the next
  // invocation: each is pointed at a /dev/null of this process instead (dup3, keeping
  // the number taken: node still holds it, and a number it closes later must not close
  // a descriptor the function opened meanwhile). uv_loop_fork then closes the loop's old
  // ones and makes new ones.
  int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (nul < 0) die_in_child("/dev/null", errno);
  static struct fdid now[MAX_FDS];
  int n = list_fds(now, MAX_FDS);
  if (n < 0) die_in_child("/proc/self/fd", errno);
  for (int i = 0; i < n; i++) {
    int fd = now[i].fd;
    if (fd <= 2 || fd == nul) continue;
    int fresh = 1;
    for (int j = 0; j < nbefore; j++)
      if (before[j].fd == fd && before[j].dev == now[i].dev && before[j].ino == now[i].ino) fresh = 0;
    if (fresh) continue;
    if (dup3(nul, fd, O_CLOEXEC) < 0) die_in_child("dup3", errno);
  }
  int err = uv_loop_fork(loop);
  if (err != 0) die_in_child("uv_loop_fork", -err);
  close(nul);
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char m[256];
  snprintf(m, sizeof m, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, m);
  return NULL;
}

static napi_value serve(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t sock;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc < 1 ||
      napi_get_value_int32(env, argv[0], &sock) != 0) {
    napi_throw_error(env, NULL, "serve(fd): fd must be a number");
    return NULL;
  }
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != 0) {
    napi_throw_error(env, NULL, "napi_get_uv_event_loop failed");
    return NULL;
  }
  // Non-dumpable: the function (same uid) cannot read or write the zygote's memory
  // through /proc/<pid>/mem.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return throw_errno(env, "PR_SET_DUMPABLE", errno);
  if (send_msg(sock, 'H', (uint32_t)getpid()) != 0) return throw_errno(env, "send", errno);
  for (;;) {
    char *json = NULL;
    int fds[3] = {-1, -1, -1};
    const char *what = "";
    int r = recv_request(sock, &json, fds, &what);
    if (r == 0) {
      napi_value null;
      napi_get_null(env, &null);
      return null;
    }
    if (r < 0) return throw_errno(env, what, errno);
    if (inherit_all_mappings() != 0) {
      for (int i = 0; i < 3; i++) close(fds[i]);
      free(json);
      return throw_errno(env, "/proc/self/maps", errno);
    }
    nbefore = list_fds(before, MAX_FDS);
    if (nbefore < 0) nbefore = 0;
    pid_t pid = fork();
    if (pid == 0) {
      setup_child(loop, sock, fds);
      napi_value s;
      if (napi_create_string_utf8(env, json, strlen(json), &s) != 0) die_in_child("env", EINVAL);
      free(json);
      return s;
    }
    int ferr = errno;
    free(json);
    for (int i = 0; i < 3; i++) close(fds[i]);
    if (pid < 0) {
      if (send_msg(sock, 'E', (uint32_t)ferr) != 0) return throw_errno(env, "send", errno);
      continue;
    }
    if (send_msg(sock, 'P', (uint32_t)pid) != 0) return throw_errno(env, "send", errno);
    int status;
    pid_t w;
    do w = waitpid(pid, &status, 0);
    while (w < 0 && errno == EINTR);
    if (w < 0) return throw_errno(env, "waitpid", errno);
    if (send_msg(sock, 'W', (uint32_t)status) != 0) return throw_errno(env, "send", errno);
  }
}

// ---- The platform's worker threads, absent in a forked child.
//
// V8 posts work to node's platform threads even with --single-threaded: every scavenge
// runs as a "job" that the GC thread joins itself (so the work gets done), but the job
// also posts a task to the worker queue, where no thread will ever take it in a forked
// child. node then hangs in NodePlatform::DrainTasks, which waits until the worker queue
// is empty, at the end of every event loop (the function's, and each worker_threads
// Worker's). In the child, DrainTasks is replaced (in a copy of the platform object's
// virtual table) by one that runs the isolate's foreground tasks only, which is the
// other half of what node's does; the worker tasks it leaves are the joined jobs' spare
// ones (the main thread did their work).
static void drain_foreground_only(node::MultiIsolatePlatform *self, v8::Isolate *isolate) {
  while (self->FlushForegroundTasks(isolate)) {
  }
}

static const char *patch_drain_tasks(node::Environment *env) {
  node::MultiIsolatePlatform *platform = node::GetMultiIsolatePlatform(env);
  if (platform == nullptr) return "no platform";
  // Itanium C++ ABI: a pointer to a virtual member function holds 1 + its byte offset in
  // the virtual table.
  void (node::MultiIsolatePlatform::*drain)(v8::Isolate *) = &node::MultiIsolatePlatform::DrainTasks;
  // The last virtual function MultiIsolatePlatform declares (NodePlatform adds none).
  void (node::MultiIsolatePlatform::*last)(v8::Isolate *, void (*)(void *), void *) =
      &node::MultiIsolatePlatform::AddIsolateFinishedCallback;
  uintptr_t drain_rep, last_rep;
  memcpy(&drain_rep, &drain, sizeof drain_rep);
  memcpy(&last_rep, &last, sizeof last_rep);
  if (!(drain_rep & 1) || !(last_rep & 1)) return "DrainTasks is not virtual";
  size_t slot = (drain_rep - 1) / sizeof(void *);
  size_t slots = (last_rep - 1) / sizeof(void *) + 1;
  enum { kMaxSlots = 128 };
  if (slot >= slots || slots > kMaxSlots) return "unexpected virtual table layout";
  // The copy keeps the two words before the table (offset to top, type info).
  static void *table[2 + kMaxSlots];
  void ***object = reinterpret_cast<void ***>(platform);
  memcpy(table, *object - 2, (2 + slots) * sizeof(void *));
  table[2 + slot] = reinterpret_cast<void *>(drain_foreground_only);
  *object = table + 2;
  return nullptr;
}

// ---- How a forked child ends.
//
// node's own ending cannot run in a forked child: it tears its platform down (joins the
// V8 worker threads and destroys the condition variable they wait on), and those threads
// exist only in the zygote, so the child would hang there (in pthread_cond_destroy) after
// the function finished. Everything the function can observe has happened by then
// ('exit' listeners ran, stdout/stderr are written synchronously), so the child ends
// with _exit(code) at the first step of that teardown instead:
//   - process.exit(n), an uncaught exception or unhandled rejection (after node printed
//     it), and every other exit through node's Environment::Exit: the process exit
//     handler (node::SetProcessExitHandler) gets the code;
//   - the end of the event loop: the environment's first cleanup step (a cleanup hook;
//     JS can no longer run) exits with the code node computed, the int32 value of
//     process.exitCode read after the 'exit' event (0 when unset, 1 if unreadable). node
//     tears down with JavaScript disallowed, and node 20's process.exitCode is an accessor
//     (a data property in node 18), so the read re-allows it for its one getter call.
static v8::Global<v8::Object> process_object;

static void exit_at_cleanup(void *) {
  v8::Isolate *isolate = v8::Isolate::GetCurrent();
  int code = 1;
  if (isolate != nullptr && !process_object.IsEmpty()) {
    v8::HandleScope scope(isolate);
    v8::TryCatch try_catch(isolate);
    v8::Isolate::AllowJavascriptExecutionScope allow_getter(isolate);
    v8::Local<v8::Context> context = isolate->GetCurrentContext();
    v8::Local<v8::Value> value;
    if (!context.IsEmpty() &&
        process_object.Get(isolate)->Get(context, v8::String::NewFromUtf8Literal(isolate, "exitCode")).ToLocal(&value))
      code = value->Int32Value(context).FromMaybe(1);
  }
  _exit(code);
}

static napi_value take_over_exit(napi_env env, napi_callback_info) {
  v8::Isolate *isolate = v8::Isolate::GetCurrent();
  v8::HandleScope scope(isolate);
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  node::Environment *node_env = node::GetCurrentEnvironment(context);
  v8::Local<v8::Value> process;
  if (node_env == nullptr ||
      !context->Global()->Get(context, v8::String::NewFromUtf8Literal(isolate, "process")).ToLocal(&process) ||
      !process->IsObject()) {
    napi_throw_error(env, NULL, "takeOverExit: no node environment or process object");
    return NULL;
  }
  if (const char *err = patch_drain_tasks(node_env)) {
    napi_throw_error(env, NULL, err);
    return NULL;
  }
  process_object.Reset(isolate, process.As<v8::Object>());
  node::SetProcessExitHandler(node_env, [](node::Environment *, int code) { _exit(code); });
  node::AddEnvironmentCleanupHook(isolate, exit_at_cleanup, nullptr);
  return NULL;
}

static napi_value get_pid(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_int32(env, (int32_t)getpid(), &v);
  return v;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "serve", NAPI_AUTO_LENGTH, serve, NULL, &fn) != 0 ||
      napi_set_named_property(env, exports, "serve", fn) != 0 ||
      napi_create_function(env, "takeOverExit", NAPI_AUTO_LENGTH, take_over_exit, NULL, &fn) != 0 ||
      napi_set_named_property(env, exports, "takeOverExit", fn) != 0 ||
      napi_create_function(env, "getpid", NAPI_AUTO_LENGTH, get_pid, NULL, &fn) != 0 ||
      napi_set_named_property(env, exports, "getpid", fn) != 0)
    return NULL;
  return exports;
}
