import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi } from "../test/render";
import { RunHistory } from "./RunHistory";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const history = {
  applicationId: "a1",
  name: "nightly",
  start: "2026-11-27T00:00:00Z",
  end: "2026-12-04T00:00:00Z",
  bucketSeconds: 86400,
  completed: 2,
  failed: 1,
  cancelled: 0,
  successRate: 2 / 3,
  p50Seconds: 60,
  p95Seconds: 120,
  series: [
    { at: "2026-12-03T00:00:00Z", completed: 2, failed: 1, cancelled: 0, p50Seconds: 60, p95Seconds: 120 },
  ],
  latest: [
    {
      id: "p3",
      status: "completed",
      createdAt: "2026-12-03T02:00:00Z",
      finishedAt: "2026-12-03T02:01:00Z",
      seconds: 60,
    },
    {
      id: "p2",
      status: "failed",
      createdAt: "2026-12-03T01:00:00Z",
      finishedAt: "2026-12-03T01:02:00Z",
      seconds: 120,
    },
  ],
  stages: [{ name: "load", handler: "ld", attempts: 3, failed: 1, p50Seconds: 20, p95Seconds: 40 }],
};

describe("RunHistory", () => {
  it("shows the figures, the latest runs oldest first, and each stage; asks again for a range", async () => {
    const fetch = stubApi({ "GET /api/insights/runs": () => answer(200, history) });
    renderAt("/", "/", <RunHistory applicationId="a1" name="nightly" />);
    const figures = await screen.findByLabelText("run figures");
    expect(within(figures).getByText("66.7 %")).toBeTruthy();
    expect(within(figures).getByText("3")).toBeTruthy();
    const marks = within(screen.getByRole("list", { name: "latest runs" })).getAllByRole("link");
    expect(marks.map((m) => [m.getAttribute("href"), m.getAttribute("data-run-status")])).toEqual([
      ["/pipelines/p2", "failed"],
      ["/pipelines/p3", "completed"],
    ]);
    const row = screen.getByText("load").closest("tr")!;
    expect(within(row).getByText("ld")).toBeTruthy();
    const sent = () => new URL(fetch.mock.calls.at(-1)![0].url).searchParams;
    expect([sent().get("application"), sent().get("name"), sent().get("range")]).toEqual([
      "a1",
      "nightly",
      "7d",
    ]);
    fireEvent.click(screen.getByRole("radio", { name: "last 24h" }));
    await vi.waitFor(() => expect(sent().get("range")).toBe("24h"));
  });

  it("says so when the name never ran", async () => {
    stubApi({
      "GET /api/insights/runs": () =>
        answer(200, {
          ...history,
          completed: 0,
          failed: 0,
          successRate: null,
          series: [],
          latest: [],
          stages: [],
        }),
    });
    renderAt("/", "/", <RunHistory applicationId="a1" name="nightly" />);
    expect(await screen.findByText("No run of nightly yet.")).toBeTruthy();
  });
});
