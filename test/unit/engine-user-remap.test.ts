// Which uids function containers get: the range depends on whether the engine remaps users
// (dockerd --userns-remap; `docker info` lists it among SecurityOptions as "name=userns"),
// and each container takes the next uid of it.
import { describe, expect, it } from "vitest";
import { remapsUsers } from "../../src/worker/runtimes/container-job.js";
import { nextUidOffset } from "../../src/worker/runtimes/uid-cycle.js";

describe("remapsUsers", () => {
  it("is true when SecurityOptions holds name=userns", () => {
    expect(remapsUsers({ SecurityOptions: ["name=apparmor", "name=seccomp,profile=builtin", "name=userns"] })).toBe(
      true,
    );
  });

  it("is false without it, or without readable SecurityOptions", () => {
    expect(remapsUsers({ SecurityOptions: ["name=seccomp,profile=builtin", "name=cgroupns"] })).toBe(false);
    expect(remapsUsers({ SecurityOptions: ["name=usernsx", "userns"] })).toBe(false);
    expect(remapsUsers({})).toBe(false);
    expect(remapsUsers({ SecurityOptions: "name=userns" })).toBe(false);
  });

  it("skips entries that are not strings", () => {
    expect(remapsUsers({ SecurityOptions: [42, null, "name=userns"] })).toBe(true);
    expect(remapsUsers({ SecurityOptions: [42] })).toBe(false);
  });
});

describe("nextUidOffset", () => {
  it("takes the next uid of the range, and the first after the last", () => {
    expect(nextUidOffset(0, 3)).toBe(1);
    expect(nextUidOffset(1, 3)).toBe(2);
    expect(nextUidOffset(2, 3)).toBe(0);
  });
});
