import { describe as group, expect, it } from "vitest";

import { configFrom, describe, valuesOf } from "./policyForm";

group("policy forms", () => {
  it("turns a form's text into the config the API takes", () => {
    expect(configFrom("rate_limit", { limit: "10", windowSeconds: "60" })).toEqual({
      config: { limit: 10, windowSeconds: 60 },
    });
    expect(
      configFrom("retry", {
        maxRetries: "3",
        backoff: "exponential",
        backoffSeconds: "",
        maxBackoffSeconds: "",
        retryOn: "timeout, enospc ,",
      }),
    ).toEqual({ config: { maxRetries: 3, backoff: "exponential", retryOn: ["timeout", "enospc"] } });
  });

  it("names the field that is wrong", () => {
    expect(configFrom("concurrency", { limit: "" })).toEqual({
      problem: "At most this many at once: required",
    });
    expect(configFrom("concurrency", { limit: "2.5" })).toEqual({
      problem: "At most this many at once: a whole number, 0 or more",
    });
    expect(configFrom("timeout", { seconds: "-1" })).toEqual({
      problem: "Seconds: a number of seconds above 0",
    });
  });

  it("reads a config back into the form, and into words", () => {
    const config = { maxRetries: 1, retryOn: ["timeout"] };
    expect(valuesOf("retry", config)).toEqual({
      maxRetries: "1",
      backoff: "",
      backoffSeconds: "",
      maxBackoffSeconds: "",
      retryOn: "timeout",
    });
    expect(describe("retry", config)).toBe("1 retry, on timeout");
    expect(describe("concurrency", { limit: 2 })).toBe("at most 2 at once");
    expect(describe("rate_limit", { limit: 10, windowSeconds: 60 })).toBe("10 per 60 s");
  });
});
