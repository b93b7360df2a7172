import { describe, expect, it } from "vitest";

import { ago, bytes, count, cpu, duration, percent, rate, secondsBetween } from "./format";

describe("format", () => {
  it("writes durations in the largest units that matter", () => {
    expect(duration(0.0421)).toBe("42 ms");
    expect(duration(2.44)).toBe("2.4 s");
    expect(duration(200)).toBe("3 min 20 s");
    expect(duration(180)).toBe("3 min");
    expect(duration(7500)).toBe("2 h 5 min");
    expect(duration(3 * 86400 + 4 * 3600 + 59)).toBe("3 d 4 h");
    expect(duration(null)).toBe("—");
  });

  it("writes shares as percentages and says when there is none", () => {
    expect(percent(1)).toBe("100 %");
    expect(percent(0.9734)).toBe("97.3 %");
    expect(percent(0)).toBe("0 %");
    expect(percent(null)).toBe("—");
  });

  it("counts ages from now", () => {
    const now = Date.parse("2026-01-01T12:00:00Z");
    expect(ago("2026-01-01T11:59:48Z", now)).toBe("12 s ago");
    expect(ago("2026-01-01T11:56:00Z", now)).toBe("4 min ago");
    expect(ago("2026-01-01T09:00:00Z", now)).toBe("3 h ago");
    expect(ago("2025-12-30T12:00:00Z", now)).toBe("2 d ago");
    // A clock a little ahead of ours is not "in the future".
    expect(ago("2026-01-01T12:00:03Z", now)).toBe("0 s ago");
  });

  it("writes sizes in binary units and counts with separators", () => {
    expect(bytes(512)).toBe("512 B");
    expect(bytes(3.5 * 1024 * 1024)).toBe("3.5 MiB");
    expect(count(1234567)).toMatch(/^1.234.567$/);
    expect(count(2.25)).toBe("2.3");
    // Two jobs in an hour is not "0 per minute".
    expect(rate(2 / 60)).toBe("< 0.1");
    expect(rate(0)).toBe("0");
    expect(rate(12.34)).toBe("12.3");
  });

  it("measures between two times, and shows a core's share whole", () => {
    expect(secondsBetween("2026-01-01T00:00:00Z", "2026-01-01T00:01:30.5Z")).toBe(90.5);
    expect(cpu(12.6)).toBe("13 %");
    expect(cpu(null)).toBe("—");
  });
});
