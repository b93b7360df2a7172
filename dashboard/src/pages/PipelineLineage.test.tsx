import { cleanup, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi } from "../test/render";
import { PipelineLineage } from "./PipelineLineage";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const PATH = "GET /api/pipelines/p1/lineage";

describe("PipelineLineage", () => {
  it("fetches the pipeline's lineage and draws it", async () => {
    const fetch = stubApi({
      [PATH]: () =>
        answer(200, {
          pipelineId: "p1",
          datasets: [{ id: "u@2", uri: "u", version: 2, name: "silver", kind: "dataset", rows: 5 }],
          stages: [{ id: "s1", name: "clean", handler: "dataset.clean", status: "running" }],
          edges: [{ from: "s1", to: "u@2", kind: "write" }],
        }),
    });
    renderAt("/", "/", <PipelineLineage pipelineId="p1" onChoose={vi.fn()} />);
    expect(await screen.findByRole("img", { name: "dataset silver: v2 · 5 rows" })).toBeTruthy();
    expect(screen.getByRole("button", { name: "stage clean: running" })).toBeTruthy();
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it("says how a stage gets into the lineage when none has", async () => {
    stubApi({ [PATH]: () => answer(200, { pipelineId: "p1", datasets: [], stages: [], edges: [] }) });
    renderAt("/", "/", <PipelineLineage pipelineId="p1" onChoose={vi.fn()} />);
    expect(await screen.findByText(/No stage has reported datasets yet/)).toBeTruthy();
  });
});
