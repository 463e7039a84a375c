// An in-process Aedes broker (MQTT 3.1 / 3.1.1 only, npm "aedes") on a loopback
// port of its own, for the client's tests that check assumptions which might
// only hold for mosquitto. Needs nothing from scripts/with-broker.sh.
import { createServer, type Server, type Socket } from "node:net";
import { Aedes, type AedesOptions } from "aedes";

export interface AedesBroker {
  readonly broker: Aedes;
  readonly host: string;
  readonly port: number;
  /** Closes the broker (its clients too), the listener, and any socket still open. */
  close(): Promise<void>;
}

/** Starts Aedes (in-memory persistence) behind a node:net server on 127.0.0.1, port 0. */
export async function startAedes(options: AedesOptions = {}): Promise<AedesBroker> {
  const broker = await Aedes.createBroker(options);
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the Aedes listener has no TCP address");
  return {
    broker,
    host: "127.0.0.1",
    port: address.port,
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
