// PostgreSQL and Redis instances of the chaos run's own, on free ports in a temporary
// directory, so the run may kill them (kill -9, immediate shutdown, data loss) without
// touching the services everything else uses.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chmod, chown, mkdir, rm } from "node:fs/promises";
import net from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const PG_BIN = "/usr/lib/postgresql/15/bin";

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

async function waitUntil(what: string, probe: () => Promise<boolean>, capMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!(await probe().catch(() => false))) {
    if (Date.now() - start > capMs) throw new Error(`${what} did not come up within ${capMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });

/** A PostgreSQL cluster owned by the `postgres` user (initdb refuses root), trust auth on loopback. */
export class PrivatePostgres {
  readonly url: string;
  private constructor(
    private readonly dir: string,
    readonly port: number,
  ) {
    this.url = `postgresql://postgres:postgres@127.0.0.1:${port}/faas`;
  }

  static async create(baseDir: string): Promise<PrivatePostgres> {
    const dir = join(baseDir, "postgres");
    await mkdir(dir, { recursive: true });
    const { stdout } = await run("id", ["-u", "postgres"]);
    const uid = Number(stdout.trim());
    await chown(dir, uid, uid);
    await chmod(dir, 0o700);
    await run("runuser", [
      "-u",
      "postgres",
      "--",
      `${PG_BIN}/initdb`,
      "-D",
      join(dir, "data"),
      "-A",
      "trust",
      "-U",
      "postgres",
    ]);
    const pg = new PrivatePostgres(dir, await freePort());
    await pg.start();
    await run("runuser", [
      "-u",
      "postgres",
      "--",
      `${PG_BIN}/createdb`,
      "-h",
      "127.0.0.1",
      "-p",
      String(pg.port),
      "faas",
    ]);
    return pg;
  }

  /** pg_ctl as the cluster's owner. */
  private pgCtl(...args: string[]): Promise<unknown> {
    return run("runuser", ["-u", "postgres", "--", `${PG_BIN}/pg_ctl`, "-D", join(this.dir, "data"), ...args]);
  }

  async start(): Promise<void> {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
    await this.pgCtl("-l", join(this.dir, "log"), "-o", options, "-w", "start");
  }

  /** `pg_ctl stop -m immediate`: no shutdown checkpoint, recovery at the next start. */
  async crash(): Promise<void> {
    await this.pgCtl("-m", "immediate", "stop");
  }

  async stop(): Promise<void> {
    await this.crash().catch(() => undefined);
  }

  async remove(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A Redis server with an append-only file, like a production one. */
export class PrivateRedis {
  private child: ChildProcess | undefined;
  private constructor(
    private readonly dir: string,
    readonly port: number,
  ) {}

  static async create(baseDir: string): Promise<PrivateRedis> {
    const dir = join(baseDir, "redis");
    await mkdir(dir, { recursive: true });
    const redis = new PrivateRedis(dir, await freePort());
    await redis.start();
    return redis;
  }

  async start(): Promise<void> {
    this.child = spawn(
      "redis-server",
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--dir",
        this.dir,
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
      ],
      { stdio: "ignore" },
    );
    await waitUntil(`redis on ${this.port}`, () => answers(this.port));
  }

  /** kill -9: what was appended survives in the AOF. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  }

  /** Loses everything: the AOF is deleted while the server is down. */
  async wipe(): Promise<void> {
    await this.kill();
    for (const name of ["appendonlydir", "appendonly.aof", "dump.rdb"]) {
      await rm(join(this.dir, name), { recursive: true, force: true });
    }
  }

  async remove(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
