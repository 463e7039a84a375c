// The mosquitto C clients (mosquitto_pub / mosquitto_sub, Debian's
// mosquitto-clients) end to end: the same workload as the other e2e contenders,
// as far as the command-line tools allow, so our figures have a native client
// beside them.
//
// One pass: mosquitto_sub -V mqttv5 -q Q -C N+3 subscribes to the topic (and
// to a marker topic, see below); mosquitto_pub -V mqttv5 -q Q -l publishes one
// message per line of its stdin, and is fed N lines of 64 bytes. The clock runs
// from writing the N lines to the moment the subscriber has printed all N
// (mosquitto_sub flushes stdout after every message). CPU = the two C
// processes' own CPU over that same span (this Node process's is not counted).
//
// Why it is done this way:
// - "Really subscribed" is seen through the broker, not through `-d`: via a
//   pipe, mosquitto_sub's debug lines are block-buffered (the SUBACK line only
//   arrives with the first message), and `-d` would print 1-4 debug lines per
//   message, CPU the C clients do not spend otherwise. Instead a retained
//   message ("ready") waits on a marker topic that mosquitto_sub subscribes to
//   in the same SUBSCRIBE as the topic: when it prints "ready", the
//   subscription is in place. The marker is cleared once mosquitto_sub is gone
//   (clearing publishes an empty retained message, which a subscriber still on
//   the marker topic would get and count toward -C without printing it), and
//   has a Message Expiry Interval, should a pass break before that.
// - mosquitto_pub -l polls for its CONNACK every 100 ms before it reads stdin,
//   so a clock started at its spawn would time that sleep. It first gets one
//   line "probe": once the subscriber prints it, mosquitto_pub is connected and
//   reading stdin, and the clock starts with the N lines.
// - -l strips the "\n" only (a "\r" would stay in the payload), and takes a
//   line's length with strlen: the 64 bytes are printable ASCII, "\n"-ended.
// - CPU: bash's `time` or /proc/<pid>/stat would count process start, TLS
//   library init, connect and disconnect (about 9 ms of CPU per process here,
//   ~1 µs per message at N = 10,000) at 10 ms resolution for /proc/<pid>/stat.
//   /proc/<pid>/task/<tid>/schedstat (ns, user + system, per thread:
//   mosquitto_pub runs a network thread) read at both ends of the timed span
//   counts what the others count. Both processes are alive at both reads: the
//   subscriber waits for N+3 messages and the publisher for its stdin to end;
//   a last line "end" lets both exit on their own after the second read.
// - In flight: mosquitto_pub -M 1000 (what the other contenders set), but
//   libmosquitto takes the broker's Receive Maximum from CONNACK over it
//   (mosquitto's max_inflight_messages, 20 by default), the same limit the
//   other clients keep to. There is no "sent and not yet received" window:
//   mosquitto_pub reads stdin as fast as it can.
// - mosquitto_sub -D connect receive-maximum 1000: at libmosquitto's default
//   (20), mosquitto_sub 2.0.11 quit with "A network protocol error occurred"
//   after 20 messages at QoS 2 here. Our subscribers advertise more than 20 too.

import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, readdirSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { performance } from "node:perf_hooks";
import type { QoS } from "@sansmqtt/core";

/** Why the row is not measured when the binaries are missing. */
export const C_CLIENTS_MISSING = "mosquitto-clients is not installed (bash scripts/bootstrap.sh)";

export interface CClients {
  pub: string;
  sub: string;
}

/** mosquitto_pub and mosquitto_sub on PATH, else in /usr/bin (where Debian puts them); undefined when either is missing. */
export function findCClients(): CClients | undefined {
  const dirs = [...(process.env["PATH"] ?? "").split(delimiter).filter((d) => d !== ""), "/usr/bin"];
  const find = (name: string): string | undefined => {
    for (const d of dirs) {
      const p = join(d, name);
      try {
        accessSync(p, constants.X_OK);
        return p;
      } catch {
        // not here
      }
    }
    return undefined;
  };
  const pub = find("mosquitto_pub");
  const sub = find("mosquitto_sub");
  return pub !== undefined && sub !== undefined ? { pub, sub } : undefined;
}

/** CPU time (µs, user + system) of every thread of `pid` so far; NaN without /proc. */
function cpuUsOf(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return Number.NaN;
  }
  let ns = 0;
  for (const tid of tids) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // A thread that ended meanwhile: mosquitto_pub's network thread only ends after the timed span.
    }
  }
  return ns / 1000;
}

/** 64 printable bytes: no "\n" (the line end), no NUL (mosquitto_pub takes the length with strlen). */
const LINE = Buffer.from(Array.from({ length: 64 }, (_, i) => 33 + ((i * 7) % 94)).concat(10));

/** One pass of the C clients: N messages of 64 B at `qos`, timed as the other contenders' passes are. */
export async function cClientsPass(
  bins: CClients,
  host: string,
  port: number,
  qos: QoS,
  n: number,
  tag: string,
  timeoutMs: number,
): Promise<{ ms: number; cpuUs: number }> {
  const topic = `sansmqtt/bench/${process.pid}/${tag}`;
  const marker = `${topic}/ready`;
  const conn = ["-h", host, "-p", String(port), "-V", "mqttv5", "--nodelay"];
  const data = Buffer.concat(Array.from({ length: n }, () => LINE));
  // What the subscriber prints, in order: the retained marker, the probe, the N messages, the last line.
  const head = Buffer.from("ready\nprobe\n");
  const expected = Buffer.concat([head, data, Buffer.from("end\n")]);

  let fail!: (e: Error) => void;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  failed.catch(() => undefined); // observed through within(); never an unhandled rejection
  const within = <T>(p: Promise<T>): Promise<T> => Promise.race([p, failed]);
  const bound = setTimeout(() => fail(new Error(`c-clients: pass not done in ${timeoutMs} ms: ${progress()}`)), timeoutMs);

  interface Child {
    name: string;
    proc: ChildProcess;
    exited: Promise<number | null>;
    stderr: string;
    /** Set once the pass lets it end; an exit before that fails the pass. */
    mayExit: boolean;
  }
  const children: Child[] = [];
  const start = (name: string, bin: string, args: string[], stdin: "pipe" | "ignore"): Child => {
    const proc = spawn(bin, args, { stdio: [stdin, "pipe", "pipe"] });
    const child: Child = { name, proc, exited: Promise.resolve(null), stderr: "", mayExit: false };
    child.exited = new Promise((resolve) => {
      proc.on("error", (e) => (fail(new Error(`c-clients: ${name}: ${e.message}`)), resolve(null)));
      // "close", not "exit": the subscriber's stdout is read to its end by then.
      proc.on("close", (code, signal) => {
        if (!child.mayExit || code !== 0) {
          fail(new Error(`c-clients: ${name} exited (${signal ?? `code ${code}`}) ${progress()}: ${child.stderr.trim().slice(-300) || "no stderr"}`));
        }
        resolve(code);
      });
    });
    proc.stderr!.on("data", (d: Buffer) => (child.stderr = (child.stderr + d.toString()).slice(-2000)));
    proc.stdin?.on("error", () => undefined); // EPIPE when it died: its exit reports that
    children.push(child);
    return child;
  };
  // The subscriber's output and who waits for how much of it.
  const out: Buffer[] = [];
  let outBytes = 0;
  const waiters: { bytes: number; resolve: (at: number) => void }[] = [];
  const outReach = (bytes: number): Promise<number> =>
    outBytes >= bytes ? Promise.resolve(performance.now()) : new Promise((resolve) => waiters.push({ bytes, resolve }));
  const progress = (): string => `${Math.max(0, Math.floor((outBytes - head.length) / LINE.length))}/${n} received`;
  /** A short-lived mosquitto_pub (the marker, set or cleared): waits for it to end. */
  const once = async (args: string[]): Promise<void> => {
    const c = start("mosquitto_pub (marker)", bins.pub, [...conn, ...args], "ignore");
    c.mayExit = true;
    await within(c.exited);
  };

  try {
    // A retained marker that expires by itself should the pass break before it is cleared.
    await once(["-q", "1", "-r", "-D", "publish", "message-expiry-interval", "60", "-m", "ready", "-t", marker]);
    const sub = start("mosquitto_sub", bins.sub, [...conn, "-D", "connect", "receive-maximum", "1000", "-q", String(qos), "-C", String(n + 3), "-t", topic, "-t", marker], "ignore");
    sub.proc.stdout!.on("data", (d: Buffer) => {
      out.push(d);
      outBytes += d.length;
      const at = performance.now();
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (outBytes >= waiters[i]!.bytes) waiters.splice(i, 1)[0]!.resolve(at);
      }
    });
    await within(outReach("ready\n".length));

    const pub = start("mosquitto_pub", bins.pub, [...conn, "-q", String(qos), "-M", "1000", "-l", "-t", topic], "pipe");
    pub.proc.stdin!.write("probe\n");
    await within(outReach(head.length));

    const cpu0 = cpuUsOf(pub.proc.pid) + cpuUsOf(sub.proc.pid);
    const t0 = performance.now();
    pub.proc.stdin!.write(data);
    const t1 = await within(outReach(head.length + data.length));
    const cpu1 = cpuUsOf(pub.proc.pid) + cpuUsOf(sub.proc.pid);

    sub.mayExit = true;
    pub.mayExit = true;
    pub.proc.stdin!.end("end\n");
    await within(Promise.all([pub.exited, sub.exited]));
    await once(["-q", "1", "-r", "-n", "-t", marker]);
    const got = Buffer.concat(out);
    if (!got.equals(expected)) {
      throw new Error(`c-clients: the subscriber printed ${got.length} bytes, not the ${expected.length} expected (64 B messages in order)`);
    }
    return { ms: t1 - t0, cpuUs: cpu1 - cpu0 };
  } finally {
    clearTimeout(bound);
    // After a failure: nothing of the pass keeps running.
    const running = children.filter((c) => c.proc.exitCode === null && c.proc.signalCode === null);
    for (const c of running) {
      c.mayExit = true;
      c.proc.kill("SIGKILL");
    }
    let giveUp: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(running.map((c) => c.exited)), new Promise<void>((r) => (giveUp = setTimeout(r, 2_000)))]);
    clearTimeout(giveUp);
  }
}
