"""What the machine's kernel charges for the operations a warm invocation is made of.

Every warm invocation crosses processes (client, controller, PostgreSQL, Redis, worker,
agent, function) about twenty times, and starts a process (a fork, or a fork and an exec).
Those costs belong to the machine, not to the platform: on a virtual machine whose page
tables and wake-ups go through the hypervisor they can be several times what they are on
bare metal, and every figure of `make bench` moves with them. Printed first, so that
figures from two machines can be compared for what they are.

Measured here, single-threaded, from Python (its own overhead is a fraction of a
microsecond per step):
  system call          getppid(), the cheapest there is
  pipe round trip      one byte to another process and back (two wake-ups)
  page fault           the first write to a page of fresh anonymous memory
  fork + exit + wait   a child that exits at once, from a parent with 16 MiB and 64 MiB
                       of private memory written (besides the interpreter's own ~10 MiB):
                       its page tables are copied, then torn down
"""

import mmap
import os
import time

ROUNDS = 3


def best(measure):
    """The lowest of ROUNDS measurements: the machine's cost, not its neighbours' noise."""
    return min(measure() for _ in range(ROUNDS))


def syscall_us(n=200_000):
    getppid = os.getppid
    start = time.perf_counter()
    for _ in range(n):
        getppid()
    return (time.perf_counter() - start) / n * 1e6


def pipe_round_trip_us(n=20_000):
    child_reads, parent_writes = os.pipe()
    parent_reads, child_writes = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(parent_writes)
        os.close(parent_reads)
        while os.read(child_reads, 1):
            os.write(child_writes, b"x")
        os._exit(0)
    os.close(child_reads)
    os.close(child_writes)
    start = time.perf_counter()
    for _ in range(n):
        os.write(parent_writes, b"x")
        os.read(parent_reads, 1)
    elapsed = time.perf_counter() - start
    os.close(parent_writes)  # the child reads EOF and exits
    os.waitpid(pid, 0)
    os.close(parent_reads)
    return elapsed / n * 1e6


def private_memory(size):
    """Anonymous private memory, as a process's heap is (a shared mapping's page tables are not copied by fork)."""
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def page_fault_us(size=64 << 20):
    memory = private_memory(size)
    start = time.perf_counter()
    for offset in range(0, size, mmap.PAGESIZE):
        memory[offset] = 1
    elapsed = time.perf_counter() - start
    memory.close()
    return elapsed / (size // mmap.PAGESIZE) * 1e6


def fork_exit_us(resident_mib, n=300):
    memory = private_memory(resident_mib << 20)
    for offset in range(0, len(memory), mmap.PAGESIZE):
        memory[offset] = 1
    start = time.perf_counter()
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    memory.close()
    return elapsed / n * 1e6


def main():
    rows = [
        ("system call (getppid)", best(syscall_us)),
        ("pipe round trip between two processes", best(pipe_round_trip_us)),
        ("page fault (first write to a fresh page)", best(page_fault_us)),
        ("fork + exit + wait, 16 MiB written", best(lambda: fork_exit_us(16))),
        ("fork + exit + wait, 64 MiB written", best(lambda: fork_exit_us(64))),
    ]
    print("The machine's kernel (bench/machine-profile.py; best of %d, µs):\n" % ROUNDS)
    print("| operation | µs |")
    print("|---|---|")
    for name, us in rows:
        print("| %s | %.2f |" % (name, us))
    print()


if __name__ == "__main__":
    main()
