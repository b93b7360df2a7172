import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi, users } from "../test/render";
import { QuarantineReview, typed } from "./QuarantineReview";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const now = new Date().toISOString();
const review = (decided: boolean) => ({
  version: 3,
  rowsTotal: 2,
  tally: decided ? { completed: 1, open: 1 } : { open: 2 },
  columns: [
    { name: "order_id", type: "int64" },
    { name: "country", type: "string" },
    { name: "amount", type: "double" },
  ],
  offset: 0,
  rows: [
    {
      row: 0,
      failedRules: ["not_null(country)", "range(amount)"],
      values: { order_id: 7, country: null, amount: -3 },
      decision: decided
        ? {
            action: "release",
            values: { country: "DE", amount: 3 },
            note: null,
            decidedBy: "dev@example.com",
            decidedAt: now,
            pipelineId: "p5",
            outcome: "completed",
          }
        : null,
    },
    {
      row: 1,
      failedRules: ["allowed(country)"],
      values: { order_id: 8, country: "XX", amount: 1 },
      decision: null,
    },
  ],
  nextOffset: null,
  target: { id: "d2", name: "silver/checked", layer: "silver" },
});

describe("QuarantineReview", () => {
  it("lists rows with their failed rules, and releases a row fixed in the form", async () => {
    const sent: unknown[] = [];
    stubApi({
      "GET /api/auth/me": () => answer(200, users.developer),
      "GET /api/datasets/q1/quarantine": () => answer(200, review(sent.length > 0)),
      "POST /api/datasets/q1/quarantine/decisions": async (request) => {
        sent.push(await request.json());
        return answer(201, {
          batchId: "b1",
          released: 1,
          discarded: 0,
          targetDatasetId: "d2",
          releasePipelineId: "p5",
        });
      },
    });
    renderAt("/datasets/q1", "/datasets/:id", <QuarantineReview datasetId="q1" version={3} mayDecide />);
    const rows = await screen.findByRole("rowgroup", { name: "quarantined rows" });
    const first = within(rows).getAllByRole("row")[0]!;
    expect(within(first).getByText("not_null(country)")).toBeTruthy();
    expect(within(first).getByText("range(amount)")).toBeTruthy();
    expect(screen.getByRole("link", { name: "silver/checked" })).toBeTruthy();
    expect(screen.getByLabelText("quarantine summary").textContent).toMatch(/2 open/);

    fireEvent.click(within(first).getByRole("button", { name: "Fix…" }));
    const form = await screen.findByRole("form", { name: "fix the row" });
    fireEvent.change(within(form).getByLabelText(/^country/), { target: { value: "DE" } });
    fireEvent.change(within(form).getByLabelText(/^amount/), { target: { value: "3" } });
    fireEvent.click(within(form).getByRole("button", { name: "Release the fixed row" }));
    // Only the changed columns, typed as the columns hold them.
    await vi.waitFor(() =>
      expect(sent).toEqual([
        {
          version: 3,
          decisions: [{ row: 0, action: "release", values: { country: "DE", amount: 3 } }],
          note: null,
        },
      ]),
    );
    await screen.findByText("fixed, released", undefined, { timeout: 3000 });
    expect(screen.getByLabelText("select row 0")).toHaveProperty("disabled", true);
  });

  it("shows the rows without actions to those who may not decide", async () => {
    stubApi({ "GET /api/datasets/q1/quarantine": () => answer(200, review(false)) });
    renderAt(
      "/datasets/q1",
      "/datasets/:id",
      <QuarantineReview datasetId="q1" version={3} mayDecide={false} />,
    );
    await screen.findByRole("rowgroup", { name: "quarantined rows" });
    expect(screen.queryByRole("button", { name: "Fix…" })).toBeNull();
    expect(screen.queryByRole("group", { name: "decide on the selected rows" })).toBeNull();
  });

  it("types a fixed value by its column", () => {
    expect(typed("42", "int64")).toBe(42);
    expect(typed("4.5", "double")).toBe(4.5);
    expect(typed("lots", "double")).toBe("lots");
    expect(typed("", "string")).toBeNull();
    expect(typed("true", "bool")).toBe(true);
    expect(typed("2026-01-02", "date32[day]")).toBe("2026-01-02");
  });
});
