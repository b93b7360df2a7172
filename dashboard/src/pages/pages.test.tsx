// Pages rendered against a stand-in API: what they ask for, and what they make of the answer.
import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi, users } from "../test/render";
import { Insights } from "./Insights";
import { Overview } from "./Overview";
import { PipelineDetail } from "./PipelineDetail";
import { Pipelines } from "./Pipelines";
import { Workers } from "./Workers";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const now = new Date().toISOString();
const worker = {
  id: "w1",
  name: "resizer-1",
  applicationId: "a1",
  applicationName: "media",
  handlers: ["resize"],
  hostName: "box",
  pid: 42,
  instanceId: null,
  version: "1.0",
  state: "online",
  inFlightJobs: 3,
  lastHeartbeatAt: now,
  startedAt: now,
  stoppedAt: null,
  metrics: { cpuPercent: 12.4, memoryBytes: 64 * 1024 * 1024 },
};

describe("Overview", () => {
  it("shows the KPIs and how deep each handler's queue is", async () => {
    stubApi({
      "GET /api/insights": () =>
        answer(200, {
          start: "2026-01-01T00:00:00Z",
          end: "2026-01-01T01:00:00Z",
          bucketSeconds: 60,
          pipelines: { running: 7, completed: 120, failed: 3, cancelled: 0 },
          stages: [],
          hotspots: [],
          series: [],
          queues: [
            {
              applicationId: "a1",
              applicationName: "media",
              handler: "resize",
              depth: 1500,
              oldestAgeSeconds: 200,
            },
          ],
        }),
      "GET /api/workers": () => answer(200, { items: [worker] }),
      "GET /api/pipelines": () => answer(200, { items: [], hasMore: false }),
    });
    renderAt("/", "/", <Overview />);
    const figures = await screen.findByLabelText("key figures");
    await within(figures).findByText("120");
    expect(within(figures).getByText("7")).toBeTruthy();
    const queue = (await screen.findByText("resize")).closest("tr") as HTMLElement;
    expect(queue.textContent).toContain("1,500");
    expect(queue.textContent).toContain("3 min 20 s");
    expect(screen.getByText(/Nothing has run yet/)).toBeTruthy();
  });
});

describe("Pipelines", () => {
  it("asks for what the URL's filters say, and a new filter starts from the first page", async () => {
    const fetch = stubApi({
      "GET /api/applications": () => answer(200, []),
      "GET /api/pipelines": () => answer(200, { items: [], hasMore: false }),
    });
    renderAt("/pipelines?status=failed&search=nightly&offset=50", "/pipelines", <Pipelines />);
    await screen.findByText("No pipelines match these filters.");
    const asked = () =>
      new URL(
        fetch.mock.calls
          .map(([request]) => request)
          .filter((r) => r.url.includes("/api/pipelines"))
          .at(-1)!.url,
      ).searchParams;
    expect(asked().getAll("status")).toEqual(["failed"]);
    expect(asked().get("search")).toBe("nightly");
    expect(asked().get("offset")).toBe("50");

    fireEvent.change(screen.getByLabelText("Created"), { target: { value: "24h" } });
    await vi.waitFor(() => expect(asked().get("createdFrom")).not.toBeNull());
    const from = Date.parse(asked().get("createdFrom")!);
    expect(Math.abs(Date.now() - 86_400_000 - from)).toBeLessThan(60_000);
    expect(asked().get("offset")).toBe("0");
  });
});

describe("Workers", () => {
  it("shows what each worker reported: CPU, memory, jobs in flight", async () => {
    stubApi({
      "GET /api/workers": () =>
        answer(200, { items: [worker, { ...worker, id: "w2", name: "old", metrics: null }] }),
    });
    renderAt("/workers", "/workers", <Workers />);
    const row = (await screen.findByText("resizer-1")).closest("tr") as HTMLElement;
    expect(within(row).getByText("12 %")).toBeTruthy();
    expect(within(row).getByText("64 MiB")).toBeTruthy();
    expect(within(row).getByText("3")).toBeTruthy();
    // A worker that sent no figures shows dashes, not zeros.
    const old = (screen.getByText("old").closest("tr") as HTMLElement).textContent;
    expect(old).toContain("—");
  });
});

const risk = {
  applicationId: "a1",
  applicationName: "media",
  handler: "resize",
  stageName: "resize",
  signal: "duration",
  severity: "warning",
  confidence: 0.8,
  sentence:
    "`resize` takes 4.0 s at the median in the last hour, 2.0 times its usual 2.0 s (anomaly score 3.4).",
  attempts: 60,
  baselineAttempts: 900,
  failureRate: 0,
  baselineFailureRate: 0,
  retryRate: 0,
  p50Seconds: 4,
  baselineP50Seconds: 2,
  durationTrend: 2,
  anomalyScore: 3.4,
  topError: null,
  topErrorShare: null,
};

/** The query of the latest request to a path. */
const lastAsked = (fetch: ReturnType<typeof stubApi>, path: string) =>
  new URL(
    fetch.mock.calls
      .map(([request]) => request)
      .filter((r) => new URL(r.url).pathname === path)
      .at(-1)!.url,
  ).searchParams;

describe("Insights", () => {
  it("lists the risks of the chosen application over their own window, apart from the range", async () => {
    const fetch = stubApi({
      "GET /api/applications": () => answer(200, []),
      "GET /api/insights": () =>
        answer(200, {
          start: "2026-01-01T00:00:00Z",
          end: "2026-01-01T01:00:00Z",
          bucketSeconds: 60,
          pipelines: { running: 0, completed: 0, failed: 0, cancelled: 0 },
          stages: [],
          hotspots: [],
          series: [],
          queues: [],
        }),
      "GET /api/insights/risks": () => answer(200, { items: [risk] }),
    });
    renderAt("/insights?application=a1&range=24h", "/insights", <Insights />);
    const risks = await screen.findByRole("list", { name: "risks" });
    expect(risks.textContent).toContain("takes 4.0 s at the median in the last hour");
    expect(lastAsked(fetch, "/api/insights/risks").get("application")).toBe("a1");
    expect(lastAsked(fetch, "/api/insights/risks").get("window")).toBe("1h");

    const windows = screen.getByRole("radiogroup", { name: "risk window" });
    fireEvent.click(within(windows).getByRole("radio", { name: "last 6h" }));
    await vi.waitFor(() => expect(lastAsked(fetch, "/api/insights/risks").get("window")).toBe("6h"));
    // The figures' range is their own.
    const from = Date.parse(lastAsked(fetch, "/api/insights").get("from")!);
    expect(Math.abs(Date.now() - 86_400_000 - from)).toBeLessThan(60_000);
  });
});

describe("PipelineDetail", () => {
  it("says how the stages of runs of its name do lately, above its graph", async () => {
    const fetch = stubApi({
      "GET /api/auth/me": () => answer(200, users.operator),
      "GET /api/pipelines/p1": () =>
        answer(200, {
          applicationId: "a1",
          applicationName: "media",
          attempts: [],
          why: [],
          pipeline: {
            id: "p1",
            name: "thumbnails",
            status: "completed",
            context: {},
            keywords: [],
            createdAt: now,
            updatedAt: now,
            finishedAt: now,
            stages: [
              {
                id: "s1",
                name: "resize",
                handler: "resize",
                status: "completed",
                attempt: 1,
                dependsOn: [],
                maxRetries: 0,
                timeoutSeconds: null,
                input: {},
                output: null,
                error: null,
                queuedAt: null,
                startedAt: null,
                finishedAt: null,
                retryAt: null,
              },
            ],
          },
        }),
      "GET /api/insights/risks": () => answer(200, { items: [risk] }),
    });
    renderAt("/pipelines/p1", "/pipelines/:id", <PipelineDetail />);
    const panel = await screen.findByRole("region", { name: "risk" });
    await within(panel).findByText("warning");
    expect(panel.textContent).toContain("takes 4.0 s at the median in the last hour");
    const asked = lastAsked(fetch, "/api/insights/risks");
    expect(asked.get("pipeline")).toBe("thumbnails");
    expect(asked.get("application")).toBe("a1");
  });
});
