import { cleanup, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi } from "../test/render";
import { DatasetDetail } from "./DatasetDetail";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const now = new Date().toISOString();
const version = (n: number, rows: number) => ({
  version: n,
  rows,
  bytes: 2048,
  schema: [
    { name: "country", type: "string" },
    { name: "amount", type: "double" },
  ],
  reads: [],
  writtenAt: now,
  pipelineId: "p1",
  pipelineName: "medallion",
  stageId: "s1",
  stageName: "silver",
  attempt: 1,
  removedAt: null,
});
const dataset = {
  id: "d2",
  applicationId: "a1",
  applicationName: "shop",
  name: "silver/orders",
  layer: "silver",
  uri: "/lake/silver/orders.lance",
  createdAt: now,
  lastWrittenAt: now,
  schema: version(2, 0).schema,
  versions: [version(2, 990), version(1, 900)],
  upstream: [{ id: "d1", name: "bronze", layer: "bronze", uri: "/lake/bronze.lance", depth: 1 }],
  downstream: [{ id: "d3", name: "gold/revenue", layer: "gold", uri: "/lake/gold.lance", depth: 1 }],
  edges: [
    { from: "d1", to: "d2" },
    { from: "d2", to: "d3" },
  ],
};

describe("DatasetDetail", () => {
  it("shows the schema, versions and lineage, and the sample once a worker has computed it", async () => {
    let asked = 0;
    stubApi({
      "GET /api/datasets/d2": () => answer(200, dataset),
      "GET /api/datasets/d2/sample": () =>
        ++asked === 1
          ? answer(202, { status: "queued", pipelineId: "p9" })
          : answer(200, {
              version: 2,
              columns: version(2, 0).schema,
              rows: [{ amount: 12.5, country: "DE" }],
            }),
      "GET /api/datasets/d2/profile": () =>
        answer(200, {
          version: 2,
          rows: 990,
          columns: [
            {
              name: "amount",
              type: "double",
              nulls: 10,
              distinct: 400,
              min: 0,
              max: 99,
              mean: 50,
              stddev: 3,
              top: [],
              histogram: [
                { lower: 0, upper: 50, count: 500 },
                { lower: 50, upper: 99, count: 480 },
              ],
            },
          ],
        }),
    });
    renderAt("/datasets/d2", "/datasets/:id", <DatasetDetail />);
    expect(await screen.findByRole("heading", { name: "silver/orders" })).toBeTruthy();
    expect(screen.getByRole("link", { name: "dataset bronze (bronze)" })).toBeTruthy();
    expect(screen.getByRole("link", { name: "dataset gold/revenue (gold)" })).toBeTruthy();
    expect(screen.getByRole("img", { name: "rows per version, oldest first" })).toBeTruthy();
    // First a note that a worker is on it, then the rows, in the columns' order.
    expect(await screen.findByText(/A dataset worker is computing the sample/)).toBeTruthy();
    const rows = await screen.findByRole("rowgroup", { name: "sample rows" }, { timeout: 3000 });
    expect(
      within(rows)
        .getAllByRole("cell")
        .map((c) => c.textContent),
    ).toEqual(["DE", "12.5"]);
    expect(await screen.findByRole("img", { name: "histogram of amount" })).toBeTruthy();
    expect(screen.getByText("10 (1.0%)")).toBeTruthy();
  });

  it("says why there is no sample when no worker can compute it", async () => {
    stubApi({
      "GET /api/datasets/d2": () => answer(200, dataset),
      "GET /api/datasets/d2/sample": () =>
        answer(409, { code: "no_dataset_worker", detail: "no online worker of shop serves dataset.sample" }),
      "GET /api/datasets/d2/profile": () =>
        answer(410, { code: "dataset_files_missing", detail: "files gone" }),
    });
    renderAt("/datasets/d2", "/datasets/:id", <DatasetDetail />);
    expect(await screen.findByText(/no online worker of shop serves dataset.sample/)).toBeTruthy();
    expect(await screen.findByText(/files gone/)).toBeTruthy();
  });
});
