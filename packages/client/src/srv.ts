/**
 * DNS for connectSrv, in a module of its own that the client loads with
 * import() when connectSrv is called, so a browser bundle's first chunk
 * holds none of it (as with the transports). Node's modules are imported
 * through a variable and typed here by the little used: the package builds
 * without Node's types (as cli.ts does), and a bundler leaves node:
 * built-ins to the runtime instead of trying to resolve them.
 */

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

interface NodeDns {
  promises: { resolveSrv(name: string): Promise<SrvRecord[]> };
}
interface NodeOs {
  hostname(): string;
}

const load = <T>(specifier: string): Promise<T> => import(/* @vite-ignore */ specifier) as Promise<T>;

/** The SRV records of `service` (rejects with node:dns's error). */
export async function lookupSrv(service: string): Promise<SrvRecord[]> {
  const dns = await load<NodeDns>("node:dns");
  return dns.promises.resolveSrv(service);
}

/** The host's own domain (its name minus the first label), or undefined when its name has none. */
export async function hostDomain(): Promise<{ name: string; domain: string | undefined }> {
  const name = (await load<NodeOs>("node:os")).hostname();
  const dot = name.indexOf(".");
  return { name, domain: dot < 0 ? undefined : name.slice(dot + 1) };
}
