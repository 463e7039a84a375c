/**
 * DNS for connectSrv, in a module of its own that the client loads with
 * import() when connectSrv is called: node:dns and node:os stay out of a
 * browser bundle's first chunk, as the transports do.
 */
import { promises as dns } from "node:dns";
import { hostname } from "node:os";

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/** The SRV records of `service` (rejects with node:dns's error). */
export function lookupSrv(service: string): Promise<SrvRecord[]> {
  return dns.resolveSrv(service);
}

/** The host's own domain (its name minus the first label), or undefined when its name has none. */
export function hostDomain(): { name: string; domain: string | undefined } {
  const name = hostname();
  const dot = name.indexOf(".");
  return { name, domain: dot < 0 ? undefined : name.slice(dot + 1) };
}
