import { act, cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi } from "../test/render";
import { Logs } from "./Logs";

afterEach(() => {
  cleanup();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

const line = (id: number, message: string, level = "info") => ({
  id,
  attempt: 1,
  jobId: null,
  level,
  message,
  at: "2026-12-04T10:00:00Z",
  applicationId: "a1",
  pipelineId: "p1",
  pipelineName: "nightly",
  stageId: "s1",
  stageName: "load",
  handler: "load",
});

const queries = (fetch: ReturnType<typeof stubApi>) =>
  fetch.mock.calls.map(([r]) => new URL(r.url)).filter((url) => url.pathname === "/api/logs");

describe("Logs", () => {
  it("searches with the address's filters and marks the words found", async () => {
    const fetch = stubApi({
      "GET /api/applications": () => answer(200, []),
      "GET /api/logs": () =>
        answer(200, { items: [line(2, "connection refused by db-1", "error")], nextBefore: null }),
    });
    renderAt("/logs?q=refused&level=error&pipelineId=p1&window=1h", "/logs", <Logs />);
    const lines = await screen.findByRole("list", { name: "log lines" });
    expect(within(lines).getByText("refused").tagName).toBe("MARK");
    expect(within(lines).getByRole("link", { name: "nightly · load" }).getAttribute("href")).toBe(
      "/pipelines/p1?stage=load",
    );
    const [sent] = queries(fetch);
    expect(sent!.searchParams.get("q")).toBe("refused");
    expect(sent!.searchParams.getAll("level")).toEqual(["error"]);
    expect(sent!.searchParams.get("pipelineId")).toBe("p1");
    const from = Date.parse(sent!.searchParams.get("from")!);
    expect(Math.abs(Date.now() - 3_600_000 - from)).toBeLessThan(60_000);
    // A new search is sent on submit.
    fireEvent.change(screen.getByRole("searchbox"), { target: { value: "timeout -retry" } });
    fireEvent.click(screen.getByRole("button", { name: "Search" }));
    await vi.waitFor(() => expect(queries(fetch).at(-1)!.searchParams.get("q")).toBe("timeout -retry"));
  });

  it("pages back through older lines", async () => {
    const fetch = stubApi({
      "GET /api/applications": () => answer(200, []),
      "GET /api/logs": (request) =>
        new URL(request.url).searchParams.get("before")
          ? answer(200, { items: [line(1, "the oldest")], nextBefore: null })
          : answer(200, { items: [line(2, "the newest")], nextBefore: 2 }),
    });
    renderAt("/logs", "/logs", <Logs />);
    await screen.findByText("the newest");
    fireEvent.click(screen.getByRole("button", { name: "Older lines" }));
    await screen.findByText("the oldest");
    expect(queries(fetch).at(-1)!.searchParams.get("before")).toBe("2");
    expect(screen.queryByRole("button", { name: "Older lines" })).toBeNull();
  });

  it("tails: adds the lines written after the newest, every two seconds", async () => {
    let written = [line(5, "first")];
    const fetch = stubApi({
      "GET /api/applications": () => answer(200, []),
      "GET /api/logs": (request) => {
        const after = Number(new URL(request.url).searchParams.get("after") ?? 0);
        return answer(200, { items: written.filter((l) => l.id > after).reverse(), nextBefore: null });
      },
    });
    renderAt("/logs?q=anything", "/logs", <Logs />);
    await screen.findByText("first");
    vi.useFakeTimers({ shouldAdvanceTime: true });
    fireEvent.click(screen.getByRole("button", { name: "Live tail" }));
    written = [...written, line(6, "second"), line(7, "third")];
    await act(() => vi.advanceTimersByTimeAsync(2100));
    await vi.waitFor(() =>
      expect(
        within(screen.getByRole("list", { name: "log lines" }))
          .getAllByRole("listitem")
          .map((item) => item.getAttribute("data-log-line")),
      ).toEqual(["7", "6", "5"]),
    );
    const tails = queries(fetch).filter((url) => url.searchParams.has("after"));
    expect(tails[0]!.searchParams.get("after")).toBe("5");
    expect(tails[0]!.searchParams.get("q")).toBe("anything");
  });
});
