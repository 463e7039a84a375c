// A mosquitto of the test's own, which the test may kill and start again on the
// same port with the same persistence db: for durable-session tests that lose
// the broker. The shared broker of scripts/with-broker.sh must never be killed
// (other tests use it), hence this one.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export interface RestartableBrokerOptions {
  /** Keep sessions and queued messages in a db across restarts (default true). */
  readonly persistence?: boolean;
  /**
   * Seconds between saves of the db (default 1). 0 saves on a clean exit only.
   * One second bounds what a SIGKILL loses without making every test wait for a
   * save: mosquitto's own default (1800 s) would lose everything.
   */
  readonly autosaveInterval?: number;
  /** More mosquitto.conf lines, appended after ours (later lines win). */
  readonly extraConfig?: readonly string[];
  /** The mosquitto binary (default: env MOSQUITTO, else mosquitto on PATH or in /usr/sbin). */
  readonly mosquitto?: string;
  /** How long to wait for the listener to accept connections (default 10 s). */
  readonly startTimeoutMs?: number;
}

type Exit = { code: number | null; signal: NodeJS.Signals | null };

const HOST = "127.0.0.1";

// Brokers still running when the test process exits (a crashed worker, a
// forgotten stop()) are killed with it, not left behind as orphans.
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

function findMosquitto(explicit: string | undefined): string {
  const given = explicit ?? process.env["MOSQUITTO"];
  const candidates = given
    ? [given]
    : [...(process.env["PATH"] ?? "").split(path.delimiter).filter(Boolean), "/usr/sbin", "/usr/local/sbin"].map((d) =>
        path.join(d, "mosquitto"),
      );
  for (const file of candidates) {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // try the next one
    }
  }
  throw new Error(
    `RestartableBroker: mosquitto not found (${given ? given : "PATH, /usr/sbin, /usr/local/sbin"}). ` +
      "Install it with `bash scripts/bootstrap.sh` and run the tests under `bash scripts/with-broker.sh`, or set MOSQUITTO.",
  );
}

/** A port that was free a moment ago (a small race, acceptable on a test machine). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, HOST);
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Persistence and signals: mosquitto writes its db (sessions, subscriptions,
 * queued and in-flight messages, retained messages) every `autosaveInterval`
 * seconds and when it exits cleanly (SIGTERM, SIGINT). `kill("SIGKILL")` loses
 * whatever changed since the last autosave, as a crashed broker would; with
 * `autosaveInterval: 0` it loses everything since the start.
 */
export class RestartableBroker {
  readonly host = HOST;
  private child: ChildProcess | undefined;
  private exited: Promise<Exit> | undefined;

  private constructor(
    readonly port: number,
    /** The temp dir: mosquitto.conf, mosquitto.db, mosquitto.log, stdout.log. */
    readonly dir: string,
    private readonly binary: string,
    private readonly startTimeoutMs: number,
  ) {}

  static async start(options: RestartableBrokerOptions = {}): Promise<RestartableBroker> {
    const binary = findMosquitto(options.mosquitto);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sansmqtt-restartable-"));
    // Another process may take the port between freePort() and mosquitto's bind: try another one.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      writeConfig(dir, port, options);
      const broker = new RestartableBroker(port, dir, binary, options.startTimeoutMs ?? 10_000);
      try {
        await broker.launch(1);
        return broker;
      } catch (err) {
        if (attempt < 5 && addressInUse(err)) continue;
        fs.rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Sends `signal` and waits for the exit; SIGKILL after 5 s if it is still alive. */
  async kill(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const child = this.child;
    const exited = this.exited;
    if (!child || !exited) return;
    child.kill(signal);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), 5000)));
    const first = await Promise.race([exited, late]);
    clearTimeout(timer);
    if (first === "late") {
      child.kill("SIGKILL");
      await exited; // SIGKILL cannot be ignored
    }
  }

  /**
   * Starts mosquitto again with the same config, db and port (after a SIGTERM if
   * it is still running). Retries while the old listener's port is not free yet.
   */
  async restart(): Promise<void> {
    await this.kill("SIGTERM");
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.launch(attempt);
      } catch (err) {
        if (attempt >= 20 || !addressInUse(err)) throw err;
        await sleep(100 * Math.min(attempt, 5));
      }
    }
  }

  /** Kills it (SIGTERM) and removes its temp dir. */
  async stop(): Promise<void> {
    await this.kill("SIGTERM");
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** The last `n` lines of mosquitto's log and of its stdout/stderr, for failure messages. */
  logTail(n = 30): string {
    const tail = (file: string): string => {
      try {
        return fs.readFileSync(path.join(this.dir, file), "utf8").trimEnd().split("\n").slice(-n).join("\n");
      } catch {
        return "";
      }
    };
    return [`---- ${this.dir}/mosquitto.log`, tail("mosquitto.log"), "---- stdout/stderr", tail("stdout.log")].join("\n");
  }

  private async launch(attempt: number): Promise<void> {
    // What this launch writes to its log and stdout/stderr (files shared by every launch).
    const since = (file: string): (() => string) => {
      const at = fs.existsSync(file) ? fs.statSync(file).size : 0;
      return () => {
        try {
          return fs.readFileSync(file).subarray(at).toString("utf8");
        } catch {
          return "";
        }
      };
    };
    const fresh = since(path.join(this.dir, "mosquitto.log"));
    const freshOut = since(path.join(this.dir, "stdout.log"));
    const out = fs.openSync(path.join(this.dir, "stdout.log"), "a");
    fs.writeSync(out, `-- launch ${new Date().toISOString()} attempt ${attempt}\n`);
    let child: ChildProcess;
    try {
      child = spawn(this.binary, ["-c", path.join(this.dir, "mosquitto.conf")], { stdio: ["ignore", out, out] });
    } finally {
      fs.closeSync(out); // the child has its own copy
    }
    live.add(child);
    this.child = child;
    let gone: Exit | undefined;
    const exited = new Promise<Exit>((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        live.delete(child);
        if (this.child === child) this.child = undefined;
        gone ??= { code, signal };
        resolve(gone);
      };
      child.once("exit", done);
      // A spawn failure (ENOENT, EACCES) emits "error" and maybe no "exit".
      child.once("error", (err) => {
        fs.appendFileSync(path.join(this.dir, "stdout.log"), `spawn failed: ${err.message}\n`);
        done(null, null);
      });
    });
    this.exited = exited;

    // Ready when mosquitto says it is running (it opens its listeners first) and
    // the port accepts. The log line matters: a connect alone might reach whoever
    // else holds the port, while this mosquitto fails to bind it.
    const deadline = Date.now() + this.startTimeoutMs;
    for (let delay = 5; !gone; delay = Math.min(delay * 2, 200)) {
      if (/mosquitto version \S+ running/.test(fresh()) && (await accepts(this.port)) && !gone) return;
      if (Date.now() >= deadline) {
        await this.kill("SIGKILL");
        throw new Error(`RestartableBroker: mosquitto did not accept on ${HOST}:${this.port} within ${this.startTimeoutMs} ms\n${this.logTail()}`);
      }
      await Promise.race([sleep(delay), exited]);
    }
    throw Object.assign(
      new Error(
        `RestartableBroker: mosquitto exited at start (code ${gone.code}, signal ${gone.signal}) on ${HOST}:${this.port}\n${this.logTail()}`,
      ),
      { addressInUse: /address already in use/i.test(fresh() + freshOut()) },
    );
  }
}

const addressInUse = (err: unknown): boolean => (err as { addressInUse?: boolean }).addressInUse === true;

function writeConfig(dir: string, port: number, options: RestartableBrokerOptions): void {
  const persistence = options.persistence ?? true;
  const lines = [
    "# generated by @sansmqtt/test-support RestartableBroker",
    // As root, mosquitto would switch to the user "mosquitto", which cannot write the temp dir.
    `user ${os.userInfo().username}`,
    `listener ${port} ${HOST}`,
    "allow_anonymous true",
    "set_tcp_nodelay true",
    `persistence ${persistence}`,
    `persistence_location ${dir}/`,
    `autosave_interval ${options.autosaveInterval ?? 1}`,
    // Generous limits: the default of 1000 queued messages would drop messages for
    // an offline persistent subscriber, which a durability test would read as a bug.
    "max_inflight_messages 1000",
    "max_queued_messages 100000",
    "max_queued_bytes 0",
    `log_dest file ${dir}/mosquitto.log`,
    "log_type error",
    "log_type warning",
    "log_type notice",
    "log_type information",
    "connection_messages true",
    ...(options.extraConfig ?? []),
  ];
  fs.writeFileSync(path.join(dir, "mosquitto.conf"), lines.join("\n") + "\n");
}
