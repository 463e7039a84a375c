import type { SessionState } from "@sansmqtt/core";
export function numbered(n: number, clientId: string): SessionState;
