import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi, users } from "../test/render";
import { Schedules } from "./Schedules";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const application = { id: "a1", name: "billing", displayName: "Billing", createdAt: "2026-01-01T00:00:00Z" };
const base = {
  applicationId: "a1",
  applicationName: "billing",
  definitionId: "d1",
  definition: "nightly-orders",
  version: null,
  timezone: "Europe/Oslo",
  params: { day: "2026-12-01", limit: 100 },
  catchUp: "skip",
  lastFiredAt: null,
  createdAt: "2026-01-01T00:00:00Z",
  updatedAt: "2026-01-01T00:00:00Z",
};
const mornings = {
  ...base,
  id: "s1",
  name: "mornings",
  cron: "30 6 * * 1-5",
  intervalSeconds: null,
  status: "active",
  nextFireAt: "2026-12-02T05:30:00Z",
  nextRuns: ["2026-12-02T05:30:00Z"],
  lastFire: {
    id: 7,
    dueAt: "2026-12-01T05:30:00Z",
    kind: "scheduled",
    missed: 0,
    pipelineId: "p9",
    pipelineStatus: "failed",
    error: null,
    actor: null,
    firedAt: "2026-12-01T05:30:01Z",
  },
};
const hourly = {
  ...base,
  id: "s2",
  name: "hourly",
  cron: null,
  intervalSeconds: 3600,
  status: "paused",
  nextFireAt: null,
  nextRuns: [],
  lastFire: null,
};
const version = {
  definitionId: "d1",
  name: "nightly-orders",
  version: 1,
  status: "published",
  document: {
    params: {
      type: "object",
      properties: { day: { type: "string", format: "date" }, limit: { type: "integer", default: 10 } },
      required: ["day"],
    },
  },
};

function api(role: keyof typeof users) {
  return stubApi({
    "GET /api/auth/me": () => answer(200, users[role]),
    "GET /api/applications": () => answer(200, [application]),
    "GET /api/schedules": () => answer(200, { items: [hourly, mornings] }),
    "GET /api/definitions/d1": () => answer(200, { definition: { id: "d1" }, versions: [version] }),
    "POST /api/schedules/s1/pause": () => answer(200, { ...mornings, status: "paused" }),
    "POST /api/schedules/s1/run": () => answer(200, { ...mornings.lastFire, kind: "manual" }),
    "PATCH /api/schedules/s1": async (request) =>
      answer(200, { ...mornings, ...(await request.clone().json()) }),
  });
}

const row = async (name: string) =>
  (await screen.findByText(name, { selector: "td span" })).closest("tr") as HTMLElement;
const sent = (fetch: ReturnType<typeof api>, method: string) =>
  fetch.mock.calls.map(([request]) => request).filter((request) => request.method === method);

describe("Schedules", () => {
  it("lists every schedule with its timing, next fire and last result, its run linked", async () => {
    api("operator");
    renderAt("/schedules", "/schedules", <Schedules />);
    const first = await row("mornings");
    expect(within(first).getByText("30 6 * * 1-5 (Europe/Oslo)")).toBeTruthy();
    expect(within(first).getByRole("link", { name: "nightly-orders" }).getAttribute("href")).toBe(
      "/definitions/d1",
    );
    expect(within(first).getByRole("link", { name: "the run" }).getAttribute("href")).toBe("/pipelines/p9");
    expect(within(first).getByText("failed").dataset.status).toBe("failed");
    const second = await row("hourly");
    expect(within(second).getByText("every 1 h")).toBeTruthy();
    expect(within(second).getByText("not fired yet")).toBeTruthy();
    expect(within(second).getByRole("button", { name: "Resume" })).toBeTruthy();
  });

  it("asks for what the filters say", async () => {
    const fetch = api("operator");
    renderAt("/schedules?status=paused&search=hour", "/schedules", <Schedules />);
    await row("hourly");
    const asked = new URL(sent(fetch, "GET").find((r) => r.url.includes("/api/schedules"))!.url);
    expect(asked.searchParams.get("status")).toBe("paused");
    expect(asked.searchParams.get("search")).toBe("hour");
  });

  it("lets an operator pause a schedule and run one now, once confirmed, but not change one", async () => {
    const fetch = api("operator");
    renderAt("/schedules", "/schedules", <Schedules />);
    const first = await row("mornings");
    expect(within(first).queryByRole("button", { name: "Edit" })).toBeNull();
    expect(within(first).queryByRole("button", { name: "Delete" })).toBeNull();

    fireEvent.click(within(first).getByRole("button", { name: "Pause" }));
    await vi.waitFor(() =>
      expect(sent(fetch, "POST").map((r) => new URL(r.url).pathname)).toEqual(["/api/schedules/s1/pause"]),
    );

    fireEvent.click(within(first).getByRole("button", { name: "Run now" }));
    const asking = await screen.findByRole("alertdialog", { name: "Run mornings now?" });
    expect(sent(fetch, "POST")).toHaveLength(1); // nothing runs before it is confirmed
    fireEvent.click(within(asking).getByRole("button", { name: "Run now" }));
    await vi.waitFor(() =>
      expect(sent(fetch, "POST").map((r) => new URL(r.url).pathname)).toContain("/api/schedules/s1/run"),
    );
  });

  it("lets a developer change a schedule in its row, sending only the timing it has", async () => {
    const fetch = api("developer");
    renderAt("/schedules", "/schedules", <Schedules />);
    fireEvent.click(within(await row("mornings")).getByRole("button", { name: "Edit" }));
    const form = await screen.findByRole("form", { name: "change mornings" });
    expect((within(form).getByLabelText(/^day/) as HTMLInputElement).value).toBe("2026-12-01");
    fireEvent.change(within(form).getByLabelText("Cron expression"), { target: { value: "0 7 * * *" } });
    fireEvent.change(within(form).getByLabelText(/^day/), { target: { value: "" } });
    fireEvent.submit(form);
    expect((await within(form).findByRole("alert")).textContent).toBe("day is required");
    expect(sent(fetch, "PATCH")).toHaveLength(0);

    fireEvent.change(within(form).getByLabelText(/^day/), { target: { value: "2026-12-24" } });
    fireEvent.submit(form);
    await vi.waitFor(() => expect(screen.queryByRole("form", { name: "change mornings" })).toBeNull());
    expect(await sent(fetch, "PATCH")[0]?.json()).toEqual({
      name: "mornings",
      cron: "0 7 * * *",
      timezone: "Europe/Oslo",
      version: null,
      params: { day: "2026-12-24", limit: 100 },
      catchUp: "skip",
    });
  });
});
