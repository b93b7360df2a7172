// Pages rendered against a stand-in API: what they ask for, and what they make of the answer.
import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi } from "../test/render";
import { Overview } from "./Overview";
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
