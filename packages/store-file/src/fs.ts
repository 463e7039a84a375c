/** File system steps shared by the store and its lock, with errors as StoreErrors. */
import { open, stat, unlink, readFile, type FileHandle } from "node:fs/promises";
import { StoreError, StoreErrorCode } from "@sansmqtt/core";

export function ioError(what: string, cause: unknown): StoreError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new StoreError(StoreErrorCode.Io, `${what}: ${detail}`, { cause });
}

export function errno(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : undefined;
}

/**
 * Makes a directory's entries durable (a created, renamed or removed file).
 * Windows cannot open a directory for this; there NTFS's own journal is what
 * the rename rests on.
 */
export async function syncDirectory(path: string): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (e) {
    if (process.platform === "win32") return;
    throw e;
  }
  try {
    await fh.sync();
  } catch (e) {
    if (process.platform !== "win32" || (errno(e) !== "EPERM" && errno(e) !== "EISDIR")) throw e;
  } finally {
    await fh.close();
  }
}

/** Removes a file; one that is not there is fine. */
export async function removeIfThere(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (e) {
    if (errno(e) === "ENOENT") return false;
    throw e;
  }
}

/** The file's bytes, or undefined when there is no such file. */
export async function readIfThere(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if (errno(e) === "ENOENT") return undefined;
    throw e;
  }
}

export async function mtimeIfThere(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch (e) {
    if (errno(e) === "ENOENT") return undefined;
    throw e;
  }
}
