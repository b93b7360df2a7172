import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi, users } from "../test/render";
import { DefinitionDetail } from "./DefinitionDetail";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const at = "2026-12-04T10:00:00Z";
const version = (n: number) => ({
  archivedAt: null,
  authors: ["dev@example.com"],
  createdAt: at,
  definitionId: "d1",
  document: { params: null },
  name: "nightly",
  publishedAt: null,
  reviewComment: null,
  reviewedAt: null,
  reviewedBy: null,
  status: "draft",
  submittedAt: null,
  updatedAt: at,
  version: n,
});
const definition = (runs: number) => ({
  applicationId: "a1",
  applicationName: "shop",
  createdAt: at,
  description: null,
  id: "d1",
  lastRunAt: null,
  latestStatus: "draft",
  latestVersion: 2,
  name: "nightly",
  publishedVersion: null,
  runs,
  updatedAt: at,
});

function api(who: keyof typeof users, runs: number, extra: Parameters<typeof stubApi>[0] = {}) {
  let reads = 0;
  const fetch = stubApi({
    "GET /api/auth/me": () => answer(200, users[who]),
    // Read again after a refusal: by then a run was started from it.
    "GET /api/definitions/d1": () =>
      answer(200, { definition: definition(reads++ === 0 ? runs : 1), versions: [version(2), version(1)] }),
    "GET /api/definitions/d1/history": () => answer(200, []),
    "GET /api/definitions/d1/versions/2/export": () => new Response("name: nightly\n"),
    "GET /api/schedules": () => answer(200, { items: [] }),
    "GET /api/pipelines": () => answer(200, { items: [], hasMore: false }),
    "GET /api/insights/runs": () =>
      answer(200, {
        applicationId: "a1",
        name: "nightly",
        start: "2026-11-27T00:00:00Z",
        end: "2026-12-04T00:00:00Z",
        bucketSeconds: 86400,
        completed: 0,
        failed: 0,
        cancelled: 0,
        successRate: null,
        p50Seconds: null,
        p95Seconds: null,
        series: [],
        latest: [],
        stages: [],
      }),
    ...extra,
  });
  return fetch;
}

const deleteButton = () => screen.queryByRole("button", { name: "Delete definition" });

async function confirmDeletion() {
  fireEvent.click(await screen.findByRole("button", { name: "Delete definition" }));
  const dialog = await screen.findByRole("alertdialog");
  expect(dialog.textContent).toContain("Its 2 versions go with it, and its schedules.");
  fireEvent.click(within(dialog).getByRole("button", { name: "Delete" }));
}

describe("Deleting a definition", () => {
  it("is offered while nothing ran from it, confirmed, then goes back to the definitions", async () => {
    const fetch = api("developer", 0, { "DELETE /api/definitions/d1": () => answer(204, null) });
    renderAt("/definitions/d1", "/definitions/:id", <DefinitionDetail />);
    await confirmDeletion();
    expect(await screen.findByText("elsewhere")).toBeTruthy();
    const sent = fetch.mock.calls.map(([r]) => r).filter((r) => r.method === "DELETE");
    expect(sent.map((r) => new URL(r.url).pathname)).toEqual(["/api/definitions/d1"]);
  });

  it("says why a definition that has been run since stays", async () => {
    api("admin", 0, {
      "DELETE /api/definitions/d1": () =>
        answer(409, { code: "definition_has_runs", detail: "1 pipeline was run from it", status: 409 }),
    });
    renderAt("/definitions/d1", "/definitions/:id", <DefinitionDetail />);
    await confirmDeletion();
    expect((await screen.findByRole("alert")).textContent).toMatch(
      /not deleted: a pipeline has been run from it since this page was loaded/,
    );
    // Read again: it has a run now, and deleting is no longer offered.
    await vi.waitFor(() => expect(deleteButton()).toBeNull());
    expect(screen.queryByText("elsewhere")).toBeNull();
  });

  it("is not offered once a pipeline ran from it, nor to operators", async () => {
    api("developer", 3);
    renderAt("/definitions/d1", "/definitions/:id", <DefinitionDetail />);
    await screen.findByRole("heading", { name: "nightly" });
    expect(deleteButton()).toBeNull();
    cleanup();
    api("operator", 0);
    renderAt("/definitions/d1", "/definitions/:id", <DefinitionDetail />);
    await screen.findByRole("heading", { name: "nightly" });
    expect(deleteButton()).toBeNull();
  });
});
