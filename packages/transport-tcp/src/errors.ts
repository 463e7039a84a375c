// Node's socket errors as TransportErrors with stable codes (the original is the cause).
import { TransportError, TransportErrorCode as C } from "@sansmqtt/core";

/** The `code` string of a Node error, if it has one. */
export function errorCode(err: unknown): string | undefined {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const DNS_CODES = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_NONAME", "EAI_FAIL", "EAI_NODATA", "EAI_ADDRFAMILY"]);
const RESET_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"]);

/**
 * A socket error as a TransportError. `where` names the peer ("127.0.0.1:1883",
 * "unix socket /run/mqtt.sock", "the SOCKS5 proxy 127.0.0.1:1080").
 */
export function netError(err: unknown, where: string): TransportError {
  if (err instanceof TransportError) return err;
  const code = errorCode(err);
  if (code === "ECONNREFUSED") return new TransportError(C.Refused, `${where} refused the connection (ECONNREFUSED)`, { cause: err });
  if (code === "ENOENT") return new TransportError(C.Refused, `${where}: no such socket (ENOENT)`, { cause: err });
  if (code !== undefined && DNS_CODES.has(code)) {
    return new TransportError(C.Dns, `${where}: the host name did not resolve (${code})`, { cause: err });
  }
  if (code === "ETIMEDOUT") return new TransportError(C.Timeout, `${where}: the connection timed out (ETIMEDOUT)`, { cause: err });
  if (code !== undefined && RESET_CODES.has(code)) {
    return new TransportError(C.Reset, `${where} reset the connection (${code})`, { cause: err });
  }
  return new TransportError(C.Io, `${where}: ${messageOf(err)}`, { cause: err });
}
