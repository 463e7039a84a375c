// The TransportError class and code list that @sansmqtt/core shares with every transport.
import { describe, expect, it } from "vitest";
import { TransportError, TransportErrorCode } from "@sansmqtt/core";
import { TransportError as Reexported } from "../src/index.js";

describe("TransportError", () => {
  it("is an Error with name, stable code, cause and optional status; one class for every transport", () => {
    const cause = new Error("inner");
    const e = new TransportError(TransportErrorCode.WsUpgrade, "refused", { cause, status: 404 });
    expect(e).toBeInstanceOf(Error);
    expect(Reexported).toBe(TransportError);
    expect(e).toMatchObject({ name: "TransportError", code: "ERR_WS_UPGRADE", message: "refused", status: 404 });
    expect(e.cause).toBe(cause);
    const plain = new TransportError(TransportErrorCode.Refused, "no");
    expect(plain.status).toBeUndefined();
    expect("cause" in plain).toBe(false);
  });

  it("codes are unique ERR_ strings", () => {
    const codes = Object.values(TransportErrorCode);
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes) expect(c).toMatch(/^ERR_(TRANSPORT|TLS|WS|PROXY)(_[A-Z0-9]+)*$/);
  });
});
