/** What only IndexedDB tests need; real sessions come from @sansmqtt/test-support. */
import { IDBFactory } from "fake-indexeddb";

/** A fresh, empty in-memory IndexedDB (fake-indexeddb): each test gets its own. */
export const freshIndexedDb = (): IDBFactory => new IDBFactory();

/** The code of the StoreError (or other error) a promise rejects with; "resolved" when it does not. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "resolved";
  } catch (e) {
    return String((e as { code?: unknown }).code ?? e);
  }
}

/** Reads or writes a record with the raw IndexedDB API (as devtools, or a damaged profile, would). */
export function raw(factory: IDBFactory, databaseName: string): { put(key: string, value: unknown): Promise<void>; get(key: string): Promise<unknown> } {
  const open = (): Promise<IDBDatabase> =>
    new Promise((resolve, reject) => {
      const req = factory.open(databaseName, 1);
      req.onupgradeneeded = () => req.result.createObjectStore("sessions");
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  const inTx = async <T>(mode: IDBTransactionMode, work: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
    const db = await open();
    try {
      return await new Promise<T>((resolve, reject) => {
        const tx = db.transaction("sessions", mode);
        const req = work(tx.objectStore("sessions"));
        tx.oncomplete = () => resolve(req.result);
        tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  };
  return {
    put: async (key, value) => {
      await inTx("readwrite", (s) => s.put(value, key));
    },
    get: (key) => inTx("readonly", (s) => s.get(key)),
  };
}
