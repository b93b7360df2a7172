import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi, users } from "../test/render";
import { Housekeeping } from "./Housekeeping";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const at = "2026-12-04T10:00:00Z";

function kind(name: string, fields: Record<string, unknown> = {}) {
  return {
    kind: name,
    description: `the ${name}`,
    setting: null,
    value: null,
    cutoff: null,
    count: 0,
    applications: [],
    contents: {},
    items: [],
    ...fields,
  };
}

const pipelines = kind("pipelines", {
  description: "Finished pipelines, with their stages",
  setting: "PIPELOGIQ_RETAIN_PIPELINES_DAYS",
  value: 30,
  cutoff: "2026-11-04T10:00:00Z",
  count: 3,
  applications: [
    { applicationId: "a1", applicationName: "shop", count: 2 },
    { applicationId: "a2", applicationName: "media", count: 1 },
  ],
  contents: { stages: 6, attempts: 7, logLines: 1, artifacts: 0 },
});
const days = kind("stage_logs_partitions", {
  setting: "PIPELOGIQ_RETAIN_LOGS_DAYS",
  value: 14,
  cutoff: "2026-11-20T00:00:00Z",
  count: 1,
  items: ["stage_logs_20261119"],
});
const audit = kind("audit", { setting: "PIPELOGIQ_RETAIN_AUDIT_DAYS", value: 0 });
const versions = kind("dataset_versions", { setting: "PIPELOGIQ_RETAIN_DATASET_VERSIONS", value: 3 });

function api(extra: Parameters<typeof stubApi>[0] = {}) {
  let previews = 0;
  const fetch = stubApi({
    "GET /api/auth/me": () => answer(200, users.admin),
    "GET /api/retention/preview": () =>
      answer(200, {
        at,
        // After a round, nothing is due.
        kinds: previews++ === 0 ? [pipelines, days, audit, versions] : [{ ...pipelines, count: 0 }],
      }),
    ...extra,
  });
  return { fetch, previews: () => previews };
}

const row = (table: HTMLElement, name: string) =>
  table.querySelector(`tr[data-kind="${name}"]`) as HTMLElement;

describe("Housekeeping", () => {
  it("shows what a round would delete, kind by kind, with the setting that makes it due", async () => {
    api();
    renderAt("/housekeeping", "/housekeeping", <Housekeeping />);
    const due = await screen.findByLabelText("due now");
    expect(screen.getByText("Something is due in 2 of the 4 kinds.")).toBeTruthy();
    const first = row(due, "pipelines");
    expect(first.textContent).toContain("Finished pipelines, with their stages");
    expect(first.textContent).toContain("PIPELOGIQ_RETAIN_PIPELINES_DAYS=30");
    expect(first.textContent).toContain("older than");
    expect(first.textContent).toContain("with 6 stages, 7 attempts, 1 log line");
    expect(first.textContent).not.toContain("artifact");
    expect(first.textContent).toContain("shop: 2, media: 1");
    expect(row(due, "stage_logs_partitions").textContent).toContain("stage_logs_20261119");
    expect(row(due, "audit").textContent).toContain("kept for ever");
    expect(row(due, "dataset_versions").textContent).toContain("past the newest 3");
  });

  it("runs a round once confirmed, shows what it deleted, and counts again", async () => {
    const run = {
      startedAt: at,
      finishedAt: at,
      kinds: [pipelines, days, audit],
      partitionsMade: 2,
      problems: ["/lake/x.lance is not there for this process"],
    };
    const { fetch, previews } = api({ "POST /api/retention/run": () => answer(200, run) });
    renderAt("/housekeeping", "/housekeeping", <Housekeeping />);
    await screen.findByLabelText("due now");
    fireEvent.click(screen.getByRole("button", { name: "Run retention now" }));
    // Nothing is sent before the confirmation.
    expect(fetch.mock.calls.some(([r]) => r.method === "POST")).toBe(false);
    fireEvent.click(within(await screen.findByRole("alertdialog")).getByRole("button", { name: "Run it" }));
    const deleted = await screen.findByLabelText("deleted");
    expect(screen.getByText(/The round deleted what was due of 2 kinds, below\./)).toBeTruthy();
    // Only the kinds of which something went.
    expect([...deleted.querySelectorAll("tr")].map((tr) => tr.dataset.kind)).toEqual([
      "pipelines",
      "stage_logs_partitions",
    ]);
    expect(screen.getByText(/2 day partitions made ahead/)).toBeTruthy();
    expect(within(screen.getByRole("list", { name: "problems" })).getByText(/not there/)).toBeTruthy();
    await vi.waitFor(() => expect(previews()).toBe(2));
    expect(await screen.findByText("Nothing is due.")).toBeTruthy();
  });

  it("says so when another round is running", async () => {
    api({
      "POST /api/retention/run": () =>
        answer(409, { code: "retention_running", detail: "a retention round is running now", status: 409 }),
    });
    renderAt("/housekeeping", "/housekeeping", <Housekeeping />);
    await screen.findByLabelText("due now");
    fireEvent.click(screen.getByRole("button", { name: "Run retention now" }));
    fireEvent.click(within(await screen.findByRole("alertdialog")).getByRole("button", { name: "Run it" }));
    expect((await screen.findByRole("alert")).textContent).toMatch(/A retention round is running now/);
    expect(screen.queryByLabelText("deleted")).toBeNull();
  });
});
