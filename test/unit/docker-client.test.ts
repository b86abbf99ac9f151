// Which engine a Docker client talks to: what the container runtime's transport (the agent's
// socket only with a local engine) and its start-up error message rely on.
import Dockerode from "dockerode";
import { afterEach, describe, expect, it } from "vitest";
import { engineAddress, isLocalEngine } from "../../src/worker/runtimes/docker-client.js";

const saved = process.env.DOCKER_HOST;
afterEach(() => {
  if (saved === undefined) delete process.env.DOCKER_HOST;
  else process.env.DOCKER_HOST = saved;
});

describe("the engine of a Docker client", () => {
  it("is local without DOCKER_HOST, at a Unix socket, or with DOCKER_HOST=unix://", () => {
    delete process.env.DOCKER_HOST;
    const byDefault = new Dockerode();
    expect(isLocalEngine(byDefault)).toBe(true);
    expect(engineAddress(byDefault)).toMatch(/default socket \(\/var\/run\/docker\.sock\)/);

    const socket = new Dockerode({ socketPath: "/run/other/docker.sock" });
    expect(isLocalEngine(socket)).toBe(true);
    expect(engineAddress(socket)).toBe("/run/other/docker.sock");

    process.env.DOCKER_HOST = "unix:///run/env/docker.sock";
    const fromEnvironment = new Dockerode();
    expect(isLocalEngine(fromEnvironment)).toBe(true);
    expect(engineAddress(fromEnvironment)).toBe("/run/env/docker.sock");
  });

  it("is remote over TCP, whether set in the options or by DOCKER_HOST=tcp://", () => {
    const tcp = new Dockerode({ host: "10.20.30.40", port: 2375 });
    expect(isLocalEngine(tcp)).toBe(false);
    expect(engineAddress(tcp)).toBe("http://10.20.30.40:2375");

    process.env.DOCKER_HOST = "tcp://10.20.30.41:2376";
    const fromEnvironment = new Dockerode();
    expect(isLocalEngine(fromEnvironment)).toBe(false);
    expect(engineAddress(fromEnvironment)).toMatch(/10\.20\.30\.41:2376/);
  });
});
