import { describe, expect, it } from "vitest";

import { gantt } from "./gantt";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

describe("gantt", () => {
  it("puts every attempt on one axis from the first queueing to the last end", () => {
    const chart = gantt(
      [
        { id: "s1", name: "fetch" },
        { id: "s2", name: "parse" },
        { id: "s3", name: "never" },
      ],
      [
        {
          stageId: "s1",
          attempt: 1,
          outcome: "completed",
          queuedAt: at(0),
          startedAt: at(10),
          finishedAt: at(30),
        },
        {
          stageId: "s2",
          attempt: 2,
          outcome: "completed",
          queuedAt: at(70),
          startedAt: at(80),
          finishedAt: at(100),
        },
        {
          stageId: "s2",
          attempt: 1,
          outcome: "failed",
          queuedAt: at(30),
          startedAt: at(40),
          finishedAt: at(50),
        },
      ],
      T0 + 500_000,
    );
    expect(chart.seconds).toBe(100);
    const [fetch, parse, never] = chart.rows;
    expect(fetch?.bars).toEqual([
      { attempt: 1, outcome: "completed", waitFrom: 0, from: 10, to: 30, seconds: 20 },
    ]);
    // Attempts in their order, whatever order they came in.
    expect(parse?.bars.map((b) => [b.attempt, b.outcome, b.from, b.to])).toEqual([
      [1, "failed", 40, 50],
      [2, "completed", 80, 100],
    ]);
    expect(never?.bars).toEqual([]);
  });

  it("draws a running attempt up to now", () => {
    const now = T0 + 40_000;
    const chart = gantt(
      [{ id: "s", name: "long" }],
      [{ stageId: "s", attempt: 1, outcome: "running", queuedAt: null, startedAt: at(20), finishedAt: null }],
      now,
    );
    expect(chart.seconds).toBe(20);
    expect(chart.rows[0]?.bars[0]).toMatchObject({ waitFrom: 0, from: 0, to: 100, seconds: 20 });
  });
});
