/**
 * Named deadlines (quinn-proto style): one optional absolute time per timer, in
 * milliseconds on the caller's monotonic clock. No callbacks, no handles: the
 * engine asks which have expired when the caller says what time it is.
 */
export type TimerName = "connack" | "keepalive" | "pingresp";

export const TIMER_NAMES: readonly TimerName[] = ["connack", "pingresp", "keepalive"];

export class TimerTable {
  private readonly at: Record<TimerName, number | undefined> = {
    connack: undefined,
    keepalive: undefined,
    pingresp: undefined,
  };

  set(name: TimerName, deadline: number): void {
    this.at[name] = deadline;
  }

  stop(name: TimerName): void {
    this.at[name] = undefined;
  }

  stopAll(): void {
    for (const n of TIMER_NAMES) this.at[n] = undefined;
  }

  get(name: TimerName): number | undefined {
    return this.at[name];
  }

  /** The earliest deadline, if any timer is set. */
  next(): number | undefined {
    let min: number | undefined;
    for (const n of TIMER_NAMES) {
      const t = this.at[n];
      if (t !== undefined && (min === undefined || t < min)) min = t;
    }
    return min;
  }

  /** Whether `name` is set and due at `now`. */
  due(name: TimerName, now: number): boolean {
    const t = this.at[name];
    return t !== undefined && t <= now;
  }
}
