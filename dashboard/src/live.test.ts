import { afterEach, describe, expect, it, vi } from "vitest";

import { GATHERED, gather, staleQueries, THROTTLED, throttle } from "./live";

describe("staleQueries", () => {
  it("marks the list and each named pipeline stale for a pipeline event", () => {
    const event = {
      type: "pipeline" as const,
      seq: 4,
      items: [{ id: "p1", applicationId: "a" }],
    };
    expect(staleQueries(event, 3)).toEqual([["pipelines"], ["insights"], ["schedules"], ["pipeline", "p1"]]);
  });

  it("marks each pipeline once for the stage events of several of its stages", () => {
    const event = {
      type: "stage" as const,
      seq: 2,
      items: [
        { id: "s1", pipelineId: "p1", applicationId: "a" },
        { id: "s2", pipelineId: "p1", applicationId: "a" },
      ],
    };
    expect(staleQueries(event, 1)).toEqual([
      ["pipelines"],
      ["insights"],
      ["risks"],
      ["approvals"],
      ["datasets"],
      ["dataset"],
      ["pipeline", "p1"],
    ]);
  });

  it("marks workers stale for a worker event", () => {
    const event = { type: "worker" as const, seq: 1, items: [{ id: "w", applicationId: "a" }] };
    expect(staleQueries(event, 0)).toEqual([["workers"], ["worker", "w"]]);
  });

  it("marks the alert lists, their count and each named alert stale for an alert event", () => {
    const event = {
      type: "alert" as const,
      seq: 6,
      items: [{ id: "al1", applicationId: "a", status: "firing" }],
    };
    expect(staleQueries(event, 5)).toEqual([["alerts"], ["alert", "al1"]]);
  });

  it("refetches everything after a gap or a resync", () => {
    const event = { type: "pipeline" as const, seq: 9, items: [{ id: "p", applicationId: "a" }] };
    expect(staleQueries(event, 7)).toBe("all");
    expect(staleQueries({ type: "resync", seq: 8 }, 7)).toBe("all");
  });
});

describe("GATHERED", () => {
  it("refreshes risks after the rollups they read have had a fold, as seldom as the insights", () => {
    // The built-in worker folds every 2 seconds.
    expect(GATHERED.risks).toBeGreaterThan(2000);
    expect(GATHERED.risks).toBe(THROTTLED.insights);
  });
});

describe("throttle", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("runs at once, then at most once per interval, with the calls in between joined", () => {
    vi.useFakeTimers();
    const run = vi.fn();
    const throttled = throttle(run, 3000);
    throttled();
    expect(run).toHaveBeenCalledTimes(1);
    // Ten more events within the interval: one run, at its end.
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(100);
      throttled();
    }
    expect(run).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1999);
    expect(run).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1);
    expect(run).toHaveBeenCalledTimes(2);
    // Quiet for longer than the interval: the next call runs at once again.
    vi.advanceTimersByTime(5000);
    throttled();
    expect(run).toHaveBeenCalledTimes(3);
  });
});

describe("gather", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("runs once, an interval after the first call, with the calls in between joined", () => {
    vi.useFakeTimers();
    const run = vi.fn();
    const gathered = gather(run, 3000);
    gathered();
    expect(run).not.toHaveBeenCalled();
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(100);
      gathered();
    }
    vi.advanceTimersByTime(1999);
    expect(run).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(run).toHaveBeenCalledTimes(1);
    // The next call starts another wait.
    gathered();
    vi.advanceTimersByTime(3000);
    expect(run).toHaveBeenCalledTimes(2);
  });
});
