// scripts/build-runtime-images.sh against the real engine: the runtime images of other
// versions go once no container uses them (an upgrade's leftovers), the current ones stay.
import { randomBytes } from "node:crypto";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runtimeImageName } from "../../src/worker/runtimes/container-images.js";
import { ensureRuntimeImages } from "../support/runtime-images.js";

const docker = new Dockerode();
const prefix = process.env.RUNTIME_IMAGE_PREFIX || "faas-runtime";
const current = runtimeImageName(prefix, "python");
const repository = `${prefix}-python`;
const unused = `old-${randomBytes(4).toString("hex")}`;
const inUse = `old-${randomBytes(4).toString("hex")}`;
let container: Dockerode.Container | undefined;

const exists = (tag: string) =>
  docker
    .getImage(`${repository}:${tag}`)
    .inspect()
    .then(() => true)
    .catch(() => false);

beforeAll(async () => {
  await ensureRuntimeImages();
  // Two "older versions": images of their own made from the current one (so they carry the
  // runtime's label), one of them used by a (stopped) container.
  const source = await docker.createContainer({ Image: current, Cmd: ["true"] });
  try {
    for (const tag of [unused, inUse]) await source.commit({ repo: repository, tag });
  } finally {
    await source.remove({ force: true });
  }
  container = await docker.createContainer({ Image: `${repository}:${inUse}`, Cmd: ["true"] });
}, 900_000);

afterAll(async () => {
  await container?.remove({ force: true }).catch(() => undefined);
  for (const tag of [unused, inUse])
    await docker
      .getImage(`${repository}:${tag}`)
      .remove()
      .catch(() => undefined);
});

describe("build-runtime-images.sh", () => {
  it("removes other versions' images no container uses, and keeps the current ones and those in use", async () => {
    expect(await exists(unused)).toBe(true);
    await ensureRuntimeImages();
    expect(await exists(unused)).toBe(false);
    expect(await exists(inUse)).toBe(true);
    await expect(docker.getImage(current).inspect()).resolves.toBeDefined();
  }, 600_000);
});
