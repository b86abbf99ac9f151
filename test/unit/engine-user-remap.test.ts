// Which uids function containers get depends on whether the engine remaps users
// (dockerd --userns-remap): `docker info` lists it among SecurityOptions as "name=userns".
import { describe, expect, it } from "vitest";
import { remapsUsers } from "../../src/worker/runtimes/container-job.js";

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
});
