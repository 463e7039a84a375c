// A numbered session, the same for the child that saves it and the test that
// checks what was loaded: number n is nextMid - 1, and its messages (a window
// of the last 12 numbers, with stage and payload depending on n) let a mix of
// two saves be seen.
export function numbered(n, clientId) {
  const outgoing = [];
  for (let mid = Math.max(1, n - 11); mid <= n; mid++) {
    const qos = mid % 3 === 0 ? 1 : 2;
    const age = n - mid;
    const payload = new Uint8Array(16 + (mid % 97));
    for (let i = 0; i < payload.length; i++) payload[i] = (mid * 31 + i) & 0xff;
    const m = { mid, topic: `kill/${mid % 7}`, payload, qos, retain: false, state: age > 8 ? "queued" : qos === 2 && age < 3 ? "pubrel" : "publish" };
    if (m.state !== "queued") {
      m.packetId = (mid % 65535) + 1;
      m.sent = true;
    }
    outgoing.push(m);
  }
  // In send order: inflight first, then the queue.
  outgoing.sort((a, b) => (a.state === "queued") - (b.state === "queued") || a.mid - b.mid);
  return {
    format: 1,
    clientId,
    nextPacketId: ((n + 1) % 65535) + 1,
    nextMid: n + 1,
    outgoing,
    incomingQos2: [{ packetId: (n % 100) + 1, state: "received" }],
    subscriptions: [{ topicFilter: "cmd/#", qos: 2 }],
    retiredPacketIds: [],
    endsWithConnection: false,
    requests: [],
  };
}
