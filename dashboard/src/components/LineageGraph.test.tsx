import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { LineageGraph, lineageNodes } from "./LineageGraph";

afterEach(cleanup);

const lineage = {
  pipelineId: "p",
  datasets: [
    {
      id: "/in/orders.csv",
      uri: "/in/orders.csv",
      version: null,
      name: "orders.csv",
      kind: "file" as const,
      rows: null,
    },
    {
      id: "/lake/bronze.lance@1",
      uri: "/lake/bronze.lance",
      version: 1,
      name: "bronze",
      kind: "dataset" as const,
      rows: 1200,
    },
  ],
  stages: [{ id: "s1", name: "ingest", handler: "dataset.ingest", status: "completed" }],
  edges: [
    { from: "/in/orders.csv", to: "s1", kind: "read" as const },
    { from: "s1", to: "/lake/bronze.lance@1", kind: "write" as const },
  ],
};

describe("LineageGraph", () => {
  it("lays a stage after what it read and before what it wrote", () => {
    expect(lineageNodes(lineage)).toEqual([
      { name: "/in/orders.csv", dependsOn: [] },
      { name: "/lake/bronze.lance@1", dependsOn: ["s1"] },
      { name: "s1", dependsOn: ["/in/orders.csv"] },
    ]);
  });

  it("draws datasets with version and rows, files dashed, and an edge per read and write", () => {
    const { container } = render(<LineageGraph lineage={lineage} onChoose={vi.fn()} />);
    const bronze = screen.getByRole("img", { name: "dataset bronze: v1 · 1,200 rows" });
    expect(bronze.querySelector("title")?.textContent).toBe("/lake/bronze.lance");
    const file = screen.getByRole("img", { name: "file orders.csv: file" });
    expect(file.querySelector("rect")?.getAttribute("stroke-dasharray")).toBe("4 3");
    expect(container.querySelectorAll("path[marker-end]")).toHaveLength(2);
  });

  it("opens a stage by click or from the keyboard", () => {
    const onChoose = vi.fn();
    render(<LineageGraph lineage={lineage} onChoose={onChoose} />);
    const stage = screen.getByRole("button", { name: "stage ingest: completed" });
    fireEvent.click(stage);
    fireEvent.keyDown(stage, { key: "Enter" });
    expect(onChoose.mock.calls).toEqual([["ingest"], ["ingest"]]);
  });
});
