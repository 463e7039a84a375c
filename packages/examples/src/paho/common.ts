/**
 * What every Paho example here takes: where the broker is (Paho's examples
 * hard-code mqtt.eclipseprojects.io; the tests pass the throwaway broker), and
 * where "print" goes (console.log by default; the tests collect the lines).
 */
export interface ExampleOptions {
  host: string;
  port: number;
  /** Paho's print(): console.log unless a test collects the lines. */
  print?: (line: string) => void;
}

export const printer = (o: ExampleOptions): ((line: string) => void) => o.print ?? ((line) => console.log(line));

/** Payloads print the way Python prints bytes (b'...'), so output reads like Paho's. */
export function pyBytes(b: Uint8Array): string {
  let s = "b'";
  for (const c of b) s += c >= 0x20 && c < 0x7f && c !== 0x27 && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, "0")}`;
  return `${s}'`;
}
