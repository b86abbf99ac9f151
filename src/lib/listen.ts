// Starting an HTTP(S) server: listen, and tell where it listens. The controller and the
// worker's metrics endpoint both start one this way.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Listens on host:port (0: any free port); resolves with the bound address and the host a
 * client on this machine should use (loopback for a wildcard address).
 */
export async function listen(
  server: Server,
  port: number,
  host: string,
): Promise<{ address: string; port: number; clientHost: string }> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const clientHost = addr.address === "0.0.0.0" || addr.address === "::" ? "127.0.0.1" : addr.address;
  return { address: addr.address, port: addr.port, clientHost };
}
