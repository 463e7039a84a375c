/**
 * `sansmqtt pub` / `sansmqtt sub`: the command lines, in the spirit of
 * mosquitto_pub and mosquitto_sub, parsed into plain settings.
 *
 * Node's util.parseArgs does the parsing. It is loaded with a dynamic import
 * whose specifier TypeScript does not resolve, so this package still builds
 * without Node's types (the library must not need them; only this command-line
 * part runs on Node, and it types the little it uses itself).
 */
import type { Properties, UserProperty } from "@sansmqtt/core";

export type Command = "pub" | "sub";

/** A bad command line: printed with the usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface CommonSettings {
  readonly host: string;
  readonly port: number;
  readonly clientId: string | undefined;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly protocol: 3 | 4 | 5;
  readonly qos: 0 | 1 | 2;
  readonly keepalive: number;
  /** TLS settings when any TLS option was given. */
  readonly tls: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string; readonly insecure: boolean } | undefined;
  readonly connectProperties: Properties | undefined;
  readonly debug: boolean;
}

export type MessageSource =
  | { readonly kind: "message"; readonly text: string }
  | { readonly kind: "file"; readonly path: string }
  | { readonly kind: "lines" }
  | { readonly kind: "stdin" }
  | { readonly kind: "null" };

export interface PubSettings extends CommonSettings {
  readonly command: "pub";
  readonly topic: string;
  readonly retain: boolean;
  readonly source: MessageSource;
  readonly publishProperties: Properties | undefined;
}

export interface SubSettings extends CommonSettings {
  readonly command: "sub";
  readonly topics: readonly string[];
  readonly count: number | undefined;
  readonly verbose: boolean;
  readonly noStale: boolean;
  readonly timeoutSeconds: number | undefined;
  readonly noNewline: boolean;
  readonly printProperties: boolean;
  readonly subscribeProperties: Properties | undefined;
}

export type Settings = PubSettings | SubSettings;

const COMMON_USAGE = `Connection:
  -h HOST               broker host (default localhost)
  -p PORT               broker port (default 1883, 8883 with TLS)
  -i ID                 client id (default sansmqtt-pub-/sansmqtt-sub- and random characters)
  -u USERNAME           user name
  -P PASSWORD           password (needs -u; never printed)
  -k SECONDS            keep alive (default 60)
  -V 31|311|5           MQTT version; also mqttv31, mqttv311, mqttv5 (default 311)
  -q 0|1|2              QoS of the messages (pub) or of the subscriptions (sub) (default 0)
  -D CMD user-property KEY VALUE
                        an MQTT 5 user property on a packet: CMD is CONNECT, or PUBLISH
                        (pub), or SUBSCRIBE (sub); repeatable
  --user-property KEY VALUE
                        the same as -D PUBLISH user-property (pub) / -D SUBSCRIBE (sub)
  -d                    debug: the client's log lines on stderr
TLS:
  --cafile FILE         CA certificate(s), PEM, to verify the broker (turns TLS on)
  --tls-use-os-certs    TLS, verified with Node's bundled CA certificates
  --cert FILE --key FILE  client certificate and its key, PEM (turns TLS on)
  --insecure            do not check the broker certificate's host name (still its signature)
  --help                this text`;

export const PUB_USAGE = `usage: sansmqtt pub -t TOPIC (-m MESSAGE | -f FILE | -l | -n | -s) [options]
Publishes one message (-m, -f, -n, -s) or one per line of stdin (-l), then disconnects.
Message:
  -t TOPIC              the topic
  -m MESSAGE            this text
  -f FILE               the bytes of FILE
  -l                    each line of stdin is a message (sent as it is read)
  -n                    an empty (zero-length) message
  -s                    all of stdin is one message
  -r                    retain
${COMMON_USAGE}
Exit status: 0 published, 1 connection or publish failure, 2 usage error.`;

export const SUB_USAGE = `usage: sansmqtt sub -t FILTER [-t FILTER ...] [options]
Subscribes and prints each message's payload on a line of its own.
Subscription:
  -t FILTER             topic filter; repeatable
  -C COUNT              exit after COUNT messages
  -v                    print "topic payload"
  -R                    do not print stale messages (those with the retain flag)
  -W SECONDS            give up after SECONDS (exit status 1, "timed out")
  -N                    no newline after the payload
  --print-properties    MQTT 5: after the payload, a tab and the message's properties as JSON
${COMMON_USAGE}
Exit status: 0 done (-C reached, or interrupted), 1 connection failure, refused
subscription or -W timeout, 2 usage error.`;

export const MAIN_USAGE = `usage: sansmqtt pub|sub [options]   (sansmqtt pub --help, sansmqtt sub --help)
An MQTT 3.1, 3.1.1 and 5.0 command-line client on @sansmqtt/client, with the
everyday options of mosquitto_pub and mosquitto_sub.`;

// ---- util.parseArgs, typed here ---------------------------------------------------

interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
}
type ParseArgs = (config: { args: string[]; options: Record<string, OptionSpec>; strict: true; allowPositionals: false }) => {
  values: Record<string, string | boolean | string[] | undefined>;
};

/** A specifier TypeScript leaves alone (see the file comment); a plain variable, which bundlers also leave alone. */
const nodeModule = (specifier: string): Promise<unknown> => import(specifier);

let parseArgsFn: ParseArgs | undefined;
async function loadParseArgs(): Promise<ParseArgs> {
  parseArgsFn ??= ((await nodeModule("node:util")) as { parseArgs: ParseArgs }).parseArgs;
  return parseArgsFn;
}

const COMMON_OPTIONS: Record<string, OptionSpec> = {
  host: { type: "string", short: "h" },
  port: { type: "string", short: "p" },
  id: { type: "string", short: "i" },
  username: { type: "string", short: "u" },
  pw: { type: "string", short: "P" },
  keepalive: { type: "string", short: "k" },
  "protocol-version": { type: "string", short: "V" },
  qos: { type: "string", short: "q" },
  debug: { type: "boolean", short: "d" },
  cafile: { type: "string" },
  "tls-use-os-certs": { type: "boolean" },
  cert: { type: "string" },
  key: { type: "string" },
  insecure: { type: "boolean" },
  help: { type: "boolean" },
};

const PUB_OPTIONS: Record<string, OptionSpec> = {
  ...COMMON_OPTIONS,
  topic: { type: "string", short: "t", multiple: true },
  message: { type: "string", short: "m" },
  file: { type: "string", short: "f" },
  "stdin-line": { type: "boolean", short: "l" },
  "null-message": { type: "boolean", short: "n" },
  "stdin-file": { type: "boolean", short: "s" },
  retain: { type: "boolean", short: "r" },
};

const SUB_OPTIONS: Record<string, OptionSpec> = {
  ...COMMON_OPTIONS,
  topic: { type: "string", short: "t", multiple: true },
  count: { type: "string", short: "C" },
  verbose: { type: "boolean", short: "v" },
  "no-stale": { type: "boolean", short: "R" },
  timeout: { type: "string", short: "W" },
  "no-newline": { type: "boolean", short: "N" },
  "print-properties": { type: "boolean" },
};

// ---- -D / --user-property: several values per option, which parseArgs cannot take ----

type PropertyTarget = "CONNECT" | "PUBLISH" | "SUBSCRIBE";

/** Takes -D and --user-property (and their values) out of argv; parseArgs gets the rest. */
function extractUserProperties(command: Command, argv: readonly string[]): { rest: string[]; props: Map<PropertyTarget, UserProperty[]> } {
  const rest: string[] = [];
  const props = new Map<PropertyTarget, UserProperty[]>();
  const add = (target: PropertyTarget, key: string, value: string): void => {
    const list = props.get(target) ?? [];
    list.push([key, value]);
    props.set(target, list);
  };
  const own: PropertyTarget = command === "pub" ? "PUBLISH" : "SUBSCRIBE";
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    if (arg === "-D" || arg === "--property") {
      const [cmd, identifier, key, value] = argv.slice(i + 1, i + 5);
      if (value === undefined) throw new UsageError(`${arg} needs COMMAND user-property KEY VALUE`);
      const target = cmd!.toUpperCase();
      if (identifier!.toLowerCase() !== "user-property") {
        throw new UsageError(`${arg} ${cmd} ${identifier}: only user-property is supported`);
      }
      if (target !== "CONNECT" && target !== own) {
        throw new UsageError(`${arg} ${cmd}: sansmqtt ${command} takes properties for CONNECT and ${own}`);
      }
      add(target, key!, value);
      i += 4;
    } else if (arg === "--user-property") {
      const [key, value] = argv.slice(i + 1, i + 3);
      if (value === undefined) throw new UsageError("--user-property needs KEY VALUE");
      add(own, key!, value);
      i += 2;
    } else {
      rest.push(arg);
    }
  }
  return { rest, props };
}

// ---- values --------------------------------------------------------------------

function integer(value: string, what: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${what} must be an integer from ${min} to ${max}, not "${value}"`);
  return n;
}

function protocolOf(value: string): 3 | 4 | 5 {
  switch (value.toLowerCase()) {
    case "31":
    case "mqttv31":
      return 3;
    case "311":
    case "mqttv311":
      return 4;
    case "5":
    case "mqttv5":
      return 5;
    default:
      throw new UsageError(`-V must be 31, 311 or 5 (or mqttv31, mqttv311, mqttv5), not "${value}"`);
  }
}

function randomId(prefix: string): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = (globalThis as unknown as { crypto: { getRandomValues<T extends Uint8Array>(a: T): T } }).crypto.getRandomValues(new Uint8Array(10));
  let s = prefix;
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return s;
}

/** Why parseArgs refused, in one line (its messages are good; its codes are not for users). */
function parseArgsMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The settings for `command` from its arguments (after the command word), or
 * `undefined` for --help. Throws UsageError.
 */
export async function parseCommand(command: Command, argv: readonly string[]): Promise<Settings | undefined> {
  const { rest, props } = extractUserProperties(command, argv);
  const parseArgs = await loadParseArgs();
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({ args: rest, options: command === "pub" ? PUB_OPTIONS : SUB_OPTIONS, strict: true, allowPositionals: false }));
  } catch (e) {
    throw new UsageError(parseArgsMessage(e));
  }
  if (values.help === true) return undefined;
  const str = (name: string): string | undefined => values[name] as string | undefined;
  const flag = (name: string): boolean => values[name] === true;

  const protocol = str("protocol-version") !== undefined ? protocolOf(str("protocol-version")!) : 4;
  if (props.size > 0 && protocol !== 5) throw new UsageError("user properties need MQTT 5: add -V 5");
  const qos = (str("qos") !== undefined ? integer(str("qos")!, "-q", 0, 2) : 0) as 0 | 1 | 2;
  const username = str("username");
  const password = str("pw");
  if (password !== undefined && username === undefined) throw new UsageError("-P needs -u (MQTT sends no password without a user name)");
  const cert = str("cert");
  const key = str("key");
  if ((cert === undefined) !== (key === undefined)) throw new UsageError("--cert and --key go together");
  const caFile = str("cafile");
  const tlsOn = caFile !== undefined || cert !== undefined || flag("tls-use-os-certs");
  if (flag("insecure") && !tlsOn) throw new UsageError("--insecure needs TLS: --cafile, --tls-use-os-certs or --cert/--key");
  const tls = tlsOn
    ? { ...(caFile !== undefined ? { caFile } : {}), ...(cert !== undefined ? { certFile: cert, keyFile: key! } : {}), insecure: flag("insecure") }
    : undefined;
  const connectUserProperties = props.get("CONNECT");
  const common: CommonSettings = {
    host: str("host") ?? "localhost",
    port: str("port") !== undefined ? integer(str("port")!, "-p", 1, 65535) : tlsOn ? 8883 : 1883,
    clientId: str("id"),
    username,
    password,
    protocol,
    qos,
    keepalive: str("keepalive") !== undefined ? integer(str("keepalive")!, "-k", 0, 65535) : 60,
    tls,
    connectProperties: connectUserProperties !== undefined ? { userProperties: connectUserProperties } : undefined,
    debug: flag("debug"),
  };
  const topics = (values.topic as string[] | undefined) ?? [];

  if (command === "pub") {
    if (topics.length !== 1) throw new UsageError(topics.length === 0 ? "a topic is needed: -t TOPIC" : "sansmqtt pub takes one -t TOPIC");
    const sources: MessageSource[] = [];
    if (str("message") !== undefined) sources.push({ kind: "message", text: str("message")! });
    if (str("file") !== undefined) sources.push({ kind: "file", path: str("file")! });
    if (flag("stdin-line")) sources.push({ kind: "lines" });
    if (flag("stdin-file")) sources.push({ kind: "stdin" });
    if (flag("null-message")) sources.push({ kind: "null" });
    if (sources.length !== 1) throw new UsageError(sources.length === 0 ? "a message is needed: -m, -f, -l, -n or -s" : "only one of -m, -f, -l, -n and -s");
    const publishUserProperties = props.get("PUBLISH");
    return {
      ...common,
      command,
      topic: topics[0]!,
      retain: flag("retain"),
      source: sources[0]!,
      publishProperties: publishUserProperties !== undefined ? { userProperties: publishUserProperties } : undefined,
    };
  }
  if (topics.length === 0) throw new UsageError("a topic filter is needed: -t FILTER");
  const subscribeUserProperties = props.get("SUBSCRIBE");
  return {
    ...common,
    command,
    topics,
    count: str("count") !== undefined ? integer(str("count")!, "-C", 1, Number.MAX_SAFE_INTEGER) : undefined,
    verbose: flag("verbose"),
    noStale: flag("no-stale"),
    timeoutSeconds: str("timeout") !== undefined ? integer(str("timeout")!, "-W", 1, 3_600_000) : undefined,
    noNewline: flag("no-newline"),
    printProperties: flag("print-properties"),
    subscribeProperties: subscribeUserProperties !== undefined ? { userProperties: subscribeUserProperties } : undefined,
  };
}

export { randomId };
