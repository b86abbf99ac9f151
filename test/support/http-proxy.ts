// An HTTP proxy on loopback in front of the platform, for tests of a client (the faas CLI):
// it records the method and path of each request it passes on, and passes WebSocket
// upgrades through, or refuses them as a proxy that does not carry WebSockets would.
import http from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";

export interface HttpProxy {
  url: string;
  /** "GET /invocations?limit=20", "UPGRADE /graphql", … in the order they came. */
  readonly requests: string[];
  stop(): Promise<void>;
}

export async function startHttpProxy(target: string, options: { refuseUpgrades?: boolean } = {}): Promise<HttpProxy> {
  const to = new URL(target);
  const requests: string[] = [];
  const tunnels = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const upstream = http.request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    requests.push(`UPGRADE ${req.url}`);
    socket.on("error", () => undefined);
    if (options.refuseUpgrades) {
      socket.end("HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    const upstream = net.connect(Number(to.port), to.hostname, () => {
      const headers: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write([`${req.method} ${req.url} HTTP/1.1`, ...headers, "", ""].join("\r\n"));
      upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    for (const s of [socket, upstream]) {
      tunnels.add(s);
      s.on("error", () => undefined);
      s.on("close", () => {
        tunnels.delete(s);
        socket.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async stop() {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      for (const s of tunnels) s.destroy();
      await closed;
    },
  };
}
