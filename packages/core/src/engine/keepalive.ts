/**
 * Keep alive [MQTT-3.1.2-20]: a PINGREQ when nothing was sent for the keep
 * alive interval, and the end of the connection when its PINGRESP does not
 * come in time. Owns its two deadlines; `now` is the caller's milliseconds.
 */
export class KeepAlive {
  /** Seconds; 0 is off. The server's Server Keep Alive replaces ours at CONNACK. */
  #interval = 0;
  #lastSent = 0;
  #pingAt: number | undefined;
  #pingrespBy: number | undefined;

  /** `pingTimeout`: milliseconds to wait for PINGRESP (default: the keep alive interval). */
  readonly #pingTimeout: number | undefined;
  constructor(pingTimeout: number | undefined) {
    this.#pingTimeout = pingTimeout;
  }

  /** A new network connection: nothing due until it is accepted. */
  reset(): void {
    this.#interval = 0;
    this.#pingAt = undefined;
    this.#pingrespBy = undefined;
  }

  /** The connection was accepted with this keep alive (seconds). */
  start(interval: number): void {
    this.#interval = interval;
    this.#pingrespBy = undefined;
    this.#pingAt = interval > 0 ? this.#lastSent + interval * 1000 : undefined;
  }

  /** Bytes were handed out at `now`: the next PINGREQ is an interval later. */
  sent(now: number): void {
    this.#lastSent = now;
    if (this.#interval > 0 && this.#pingrespBy === undefined) this.#pingAt = now + this.#interval * 1000;
  }

  /** Whether a PINGREQ is due at `now`; if so, the PINGRESP deadline starts. */
  pingDue(now: number): boolean {
    if (this.#pingAt === undefined || this.#pingAt > now || this.#pingrespBy !== undefined) return false;
    this.#pingAt = undefined;
    this.#pingrespBy = now + (this.#pingTimeout ?? Math.max(1, this.#interval) * 1000);
    return true;
  }

  /** Whether the PINGRESP is overdue at `now`: the connection is dead. */
  expired(now: number): boolean {
    return this.#pingrespBy !== undefined && this.#pingrespBy <= now;
  }

  /** PINGRESP came: the next PINGREQ is an interval after the last send. */
  pingresp(): void {
    this.#pingrespBy = undefined;
    if (this.#interval > 0 && this.#pingAt === undefined) this.#pingAt = this.#lastSent + this.#interval * 1000;
  }

  /** The connection ended: nothing more is due, whatever is sent (a last DISCONNECT). */
  stop(): void {
    this.#interval = 0;
    this.#pingAt = undefined;
    this.#pingrespBy = undefined;
  }

  /** The earliest deadline, if any. */
  next(): number | undefined {
    const a = this.#pingAt;
    const b = this.#pingrespBy;
    if (a === undefined) return b;
    if (b === undefined) return a;
    return a < b ? a : b;
  }
}
