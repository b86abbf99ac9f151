// PostgreSQL and Redis over Unix sockets (DB_HOST a directory, REDIS_ADDR a path): a worker
// whose connections all go through the sockets claims, runs and finishes an invocation made
// through the controller's TCP connections. scripts/services.sh starts Redis with the socket.
import { Redis } from "ioredis";
import { describe, expect } from "vitest";
import { createDb, queryPool } from "../../src/db/client.js";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody, HELLO } from "../support/functions.js";

const REDIS_SOCKET = process.env.TEST_REDIS_SOCKET ?? "/var/run/faas-redis/redis.sock";
const PG_SOCKET_DIR = process.env.TEST_PG_SOCKET_DIR ?? "/var/run/postgresql";

const test = platformTest();

describe("Unix sockets", () => {
  test("a worker connected through the sockets runs an invocation", async ({ platform }) => {
    const dbUrl = new URL(platform.app.config.db.url);
    dbUrl.searchParams.set("host", PG_SOCKET_DIR);
    const worker = await platform.startWorker({ REDIS_ADDR: REDIS_SOCKET, DATABASE_URL: dbUrl.toString() });
    const workerId = worker.id;

    const created = await platform.request(
      "POST",
      "/functions",
      functionBody({ runtime: "python", code: b64(HELLO.python) }),
    );
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const invoked = await platform.request("POST", "/invoke?wait=30s", {
      function_id: created.body.data.id,
      payload: { name: "socket" },
    });
    expect(invoked.body.data).toMatchObject({
      status: "completed",
      worker_id: workerId,
      result: { message: "Hello, socket!" },
    });

    // The worker's Redis connections are on the socket, not on TCP.
    const observer = new Redis({ path: REDIS_SOCKET, lazyConnect: true });
    try {
      const clients = ((await observer.client("LIST")) as string).split("\n").filter((l) => l.includes(workerId));
      expect(clients.length).toBeGreaterThan(0);
      for (const line of clients) expect(line).toMatch(new RegExp(`laddr=${REDIS_SOCKET}:0`));
    } finally {
      observer.disconnect();
    }
    // And its PostgreSQL connections too: a Unix socket peer has no client address.
    const db = createDb({ url: dbUrl.toString(), poolSize: 1 });
    try {
      const { rows } = await queryPool(db)!.query("SELECT inet_client_addr() AS addr");
      expect(rows[0].addr).toBeNull();
    } finally {
      await db.$disconnect();
    }
  });
});
