import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi } from "../test/render";
import { Approvals } from "./Approvals";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const item = {
  id: "a1",
  applicationId: "app",
  pipelineId: "p1",
  pipelineName: "release",
  stageId: "s1",
  stageName: "sign-off",
  message: "Ship the November report?",
  details: { rows: 240 },
  deadline: new Date(Date.now() + 3 * 3600 * 1000).toISOString(),
  status: "pending",
  decidedBy: null,
  comment: null,
  decidedAt: null,
  createdAt: new Date().toISOString(),
};

describe("Approvals", () => {
  it("lists what waits, and approves it with a comment", async () => {
    let decided: unknown;
    const fetch = stubApi({
      "GET /api/approvals": () => answer(200, { items: decided ? [] : [item] }),
      "POST /api/approvals/a1/approve": async (request) => {
        decided = await request.json();
        return answer(200, { ...item, status: "approved", decidedBy: "op@example.com" });
      },
    });
    renderAt("/approvals", "/approvals", <Approvals />);
    const row = await screen.findByText("Ship the November report?");
    const line = row.closest("tr") as HTMLElement;
    expect(within(line).getByText("in 3 h")).toBeTruthy();
    expect(within(line).getByRole("link", { name: "release · sign-off" }).getAttribute("href")).toBe(
      "/pipelines/p1?stage=sign-off",
    );
    fireEvent.click(within(line).getByRole("button", { name: "Approve" }));
    const dialog = await screen.findByRole("dialog", { name: "Approve sign-off?" });
    fireEvent.change(within(dialog).getByLabelText(/Comment/), { target: { value: " numbers checked " } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Approve" }));
    await waitFor(() => expect(decided).toEqual({ comment: "numbers checked" }));
    expect(await screen.findByText(/Nothing waits for a decision/)).toBeTruthy();
    const asked = fetch.mock.calls.map(([request]) => new URL((request as Request).url).search);
    expect(asked[0]).toBe("?status=pending");
  });

  it("says why a decision was refused, in the dialog", async () => {
    stubApi({
      "GET /api/approvals": () => answer(200, { items: [item] }),
      "POST /api/approvals/a1/reject": () =>
        answer(409, { code: "approval_expired", detail: "the approval's deadline has passed" }),
    });
    renderAt("/approvals", "/approvals", <Approvals />);
    fireEvent.click(await screen.findByRole("button", { name: "Reject" }));
    const dialog = await screen.findByRole("dialog", { name: "Reject sign-off?" });
    fireEvent.click(within(dialog).getByRole("button", { name: "Reject" }));
    expect((await within(dialog).findByRole("alert")).textContent).toBe("the approval's deadline has passed");
  });

  it("shows decided ones, with who and why, under All", async () => {
    stubApi({
      "GET /api/approvals": () =>
        answer(200, {
          items: [{ ...item, status: "rejected", decidedBy: "op@example.com", comment: "totals are off" }],
        }),
    });
    renderAt("/approvals?show=all", "/approvals", <Approvals />);
    expect(await screen.findByText("“totals are off”")).toBeTruthy();
    expect(screen.getByText("rejected").getAttribute("data-status")).toBe("rejected");
    expect(screen.queryByRole("button", { name: "Approve" })).toBeNull();
  });
});
