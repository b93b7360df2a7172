// The figures the overview and insights pages compute from the API's answers.
import { describe, expect, it } from "vitest";

import type { Schemas } from "../api/client";
import { fillBuckets } from "../components/ThroughputChart";
import { sortFigures } from "./Insights";
import { kpis } from "./Overview";

const stage = (name: string, figures: Partial<Schemas["StageFiguresView"]>): Schemas["StageFiguresView"] => ({
  applicationId: "a",
  applicationName: "app",
  handler: "h",
  stageName: name,
  attempts: 10,
  completed: 8,
  failed: 2,
  failedForGood: 0,
  leaseLost: 0,
  p50Seconds: 1,
  p95Seconds: 2,
  retryRate: 0.2,
  successRate: 0.8,
  throughputPerMinute: 1,
  ...figures,
});

describe("overview figures", () => {
  it("counts jobs per minute and the success rate over the range, and workers online now", () => {
    const insights = {
      start: "2026-01-01T00:00:00Z",
      end: "2026-01-01T01:00:00Z",
      pipelines: { running: 3, completed: 40, failed: 2, cancelled: 1 },
      stages: [stage("a", { completed: 90, failed: 10 }), stage("b", { completed: 30, failed: 0 })],
      hotspots: [],
      series: [],
      queues: [],
      bucketSeconds: 60,
    } satisfies Schemas["InsightsView"];
    const worker = (state: Schemas["WorkerView"]["state"]) => ({ state }) as Schemas["WorkerView"];
    expect(kpis(insights, [worker("online"), worker("offline"), worker("online")])).toEqual({
      running: 3,
      completed: 40,
      failed: 2,
      jobsPerMinute: 2,
      successRate: 120 / 130,
      workersOnline: 2,
    });
    expect(kpis({ ...insights, stages: [] }, []).successRate).toBeNull();
  });

  it("fills the buckets nothing ended in with zeros", () => {
    const buckets = fillBuckets(
      [{ at: "2026-01-01T00:02:00Z", completed: 5, failed: 1 }],
      "2026-01-01T00:00:00Z",
      "2026-01-01T00:04:00Z",
      60,
    );
    expect(buckets.map((b) => [b.completed, b.failed])).toEqual([
      [0, 0],
      [0, 0],
      [5, 1],
      [0, 0],
    ]);
  });
});

describe("insights sorting", () => {
  const stages = [
    stage("quick", { p95Seconds: 0.1, successRate: 1 }),
    stage("unknown", { p95Seconds: null, successRate: null }),
    stage("slow", { p95Seconds: 30, successRate: 0.5 }),
  ];

  it("puts the slowest first, and unknown durations last", () => {
    expect(sortFigures(stages, "p95").map((s) => s.stageName)).toEqual(["slow", "quick", "unknown"]);
  });

  it("puts the least successful first", () => {
    expect(sortFigures(stages, "success").map((s) => s.stageName)).toEqual(["slow", "quick", "unknown"]);
  });
});
