/**
 * Topic aliases, both ways (MQTT 5 3.3.2.3.4). Mappings last one network
 * connection [MQTT-3.3.2-7]: `reset` at every connect.
 *
 * Inbound: the server maps aliases 1..our Topic Alias Maximum [MQTT-3.3.2-10];
 * every invalid alias (0 is refused by the codec; above our maximum, or never
 * mapped) is 0x94 Topic Alias invalid.
 * Outbound: the caller's own aliases, or automatic ones (least recently used
 * first) within the server's Topic Alias Maximum [MQTT-3.2.2-17].
 */
import { remote } from "./errors.js";
import * as RC from "../codec/rc.js";
import * as E from "../codes.js";

export class TopicAliases {
  readonly #inbound = new Map<number, string>();
  readonly #outbound = new Map<number, string>();
  /** Topic → alias, least recently used first (Map order). */
  readonly #byTopic = new Map<string, number>();

  reset(): void {
    this.#inbound.clear();
    this.#outbound.clear();
    this.#byTopic.clear();
  }

  /** The topic of an inbound PUBLISH with `alias` (records the mapping when it carries a topic). Throws 0x94. */
  resolveInbound(alias: number, topic: string, ourMaximum: number): string {
    if (alias > ourMaximum) {
      throw remote(E.TopicAliasInvalid, `topic alias ${alias} is above our maximum of ${ourMaximum}`, RC.TopicAliasInvalid);
    }
    if (topic !== "") {
      this.#inbound.set(alias, topic);
      return topic;
    }
    const t = this.#inbound.get(alias);
    if (t === undefined) throw remote(E.TopicAliasInvalid, `topic alias ${alias} was never set on this connection`, RC.TopicAliasInvalid);
    return t;
  }

  /** Whether `alias` already stands for `topic` on this connection (the PUBLISH may then leave the topic out). */
  maps(alias: number, topic: string): boolean {
    return this.#outbound.get(alias) === topic;
  }

  /** The automatic alias for `topic`: its own, a free one, or the least recently used one. */
  choose(topic: string, max: number): number {
    const known = this.#byTopic.get(topic);
    if (known !== undefined) return known;
    if (this.#outbound.size < max) {
      for (let a = 1; a <= max; a++) if (!this.#outbound.has(a)) return a;
    }
    return this.#byTopic.values().next().value ?? 1;
  }

  /** Records that a PUBLISH went out with `alias` for `topic` (mapping it, or using it). */
  use(alias: number, topic: string): void {
    if (this.#outbound.get(alias) === topic) {
      this.#byTopic.delete(topic);
      this.#byTopic.set(topic, alias); // most recently used last
      return;
    }
    const old = this.#outbound.get(alias);
    if (old !== undefined) this.#byTopic.delete(old);
    this.#outbound.set(alias, topic);
    this.#byTopic.set(topic, alias);
  }
}
