// A TCP proxy on loopback in front of PostgreSQL or Redis, so a test can take the
// dependency away from one part of the platform (a worker) and give it back, without
// stopping the shared server: cut() closes every connection through it and refuses new
// ones (ECONNREFUSED), restore() listens again on the same port.
import net from "node:net";

export interface TcpProxy {
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  stop(): Promise<void>;
  /** Connections accepted since the proxy started. */
  readonly accepted: number;
}

export async function startTcpProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted += 1;
    const upstream = net.connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;
  const close = async () => {
    const closed = server.listening ? new Promise((r) => server.close(r)) : Promise.resolve();
    for (const s of sockets) s.destroy();
    await closed;
  };
  return {
    port,
    get accepted() {
      return accepted;
    },
    cut: close,
    restore: () => listen(port),
    stop: close,
  };
}
