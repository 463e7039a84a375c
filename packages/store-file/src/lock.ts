/**
 * The store's lock: a file named "lock" in the client's directory, created
 * with O_EXCL ("wx") and holding the owner's PID. A lock whose PID is no
 * longer running is stale (its owner died without close()) and is taken over.
 */
import { open } from "node:fs/promises";
import { join } from "node:path";
import { StoreError, StoreErrorCode } from "@sansmqtt/core";
import { errno, ioError, mtimeIfThere, readIfThere, removeIfThere } from "./fs.js";

/**
 * A lock file without a PID in it is one being written right now (or left by
 * a process killed between creating and writing it). It counts as held while
 * younger than this.
 */
const UNWRITTEN_GRACE_MS = 2_000;

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists, it belongs to someone else.
    return errno(e) === "EPERM";
  }
}

export async function takeLock(directory: string): Promise<string> {
  const path = join(directory, "lock");
  // A few rounds: each stale lock removed may race with another taker.
  for (let round = 0; round < 3; round++) {
    try {
      const fh = await open(path, "wx");
      try {
        await fh.writeFile(`${process.pid}\n`);
      } catch (e) {
        await fh.close().catch(() => undefined);
        await removeIfThere(path).catch(() => undefined);
        throw ioError(`cannot write the lock file ${path}`, e);
      }
      await fh.close();
      return path;
    } catch (e) {
      if (e instanceof StoreError) throw e;
      if (errno(e) !== "EEXIST") throw ioError(`cannot create the lock file ${path}`, e);
    }
    let text: Buffer | undefined;
    let mtime: number | undefined;
    try {
      text = await readIfThere(path);
      mtime = await mtimeIfThere(path);
    } catch (e) {
      throw ioError(`cannot read the lock file ${path}`, e);
    }
    if (text === undefined || mtime === undefined) continue; // released meanwhile: try again
    const pid = /^\d+\n?$/.test(text.toString("latin1")) ? Number.parseInt(text.toString("latin1"), 10) : NaN;
    if (Number.isSafeInteger(pid) && pid > 0) {
      if (running(pid)) {
        const who = pid === process.pid ? "this process (another FileStore)" : `process ${pid}`;
        throw new StoreError(StoreErrorCode.Locked, `the store ${directory} is held by ${who}`);
      }
    } else if (Date.now() - mtime < UNWRITTEN_GRACE_MS) {
      throw new StoreError(StoreErrorCode.Locked, `the store ${directory} is being locked by another process`);
    }
    // Stale: its owner is gone.
    try {
      await removeIfThere(path);
    } catch (e) {
      throw ioError(`cannot remove the stale lock file ${path}`, e);
    }
  }
  throw new StoreError(StoreErrorCode.Locked, `the store ${directory} is contended (its lock kept changing)`);
}

export async function releaseLock(path: string): Promise<void> {
  try {
    await removeIfThere(path);
  } catch (e) {
    throw ioError(`cannot remove the lock file ${path}`, e);
  }
}
