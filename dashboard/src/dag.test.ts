import { describe, expect, it } from "vitest";

import { documentStages, layoutDag, NODE } from "./dag";

const column = (layout: ReturnType<typeof layoutDag>, name: string) =>
  layout.nodes.find((n) => n.name === name)?.column;

describe("layoutDag", () => {
  it("puts each stage one column after the last of its dependencies", () => {
    const layout = layoutDag([
      { name: "fetch", dependsOn: [] },
      { name: "parse", dependsOn: ["fetch"] },
      { name: "thumb", dependsOn: ["fetch"] },
      { name: "index", dependsOn: ["parse", "fetch"] },
      { name: "notify", dependsOn: ["index", "thumb"] },
    ]);
    expect(["fetch", "parse", "thumb", "index", "notify"].map((n) => column(layout, n))).toEqual([
      0, 1, 1, 2, 3,
    ]);
    expect(layout.edges).toHaveLength(6);
    expect(layout.width).toBe(4 * NODE.width + 3 * NODE.gapX);
    // fetch → index and thumb → notify skip a column: a lane above the nodes holds them.
    expect(layout.height).toBe(2 * NODE.gapY + 2 * NODE.height + NODE.gapY);
  });

  it("places a stage near what it depends on, so edges cross less", () => {
    // b2 depends on the second root, b1 on the first: submission order would cross them.
    const layout = layoutDag([
      { name: "a1", dependsOn: [] },
      { name: "a2", dependsOn: [] },
      { name: "b2", dependsOn: ["a2"] },
      { name: "b1", dependsOn: ["a1"] },
    ]);
    const row = (name: string) => layout.nodes.find((n) => n.name === name)?.row;
    expect([row("b1"), row("b2")]).toEqual([0, 1]);
  });

  it("draws every edge from the right side of a dependency to the left side of its stage", () => {
    const layout = layoutDag([
      { name: "a", dependsOn: [] },
      { name: "b", dependsOn: ["a"] },
    ]);
    const [edge] = layout.edges;
    expect(edge?.path.startsWith(`M${NODE.width},${NODE.height / 2} `)).toBe(true);
    expect(edge?.path.endsWith(` ${NODE.width + NODE.gapX},${NODE.height / 2}`)).toBe(true);
  });

  it("survives a cycle or an unknown dependency without looping", () => {
    const layout = layoutDag([
      { name: "x", dependsOn: ["y", "ghost"] },
      { name: "y", dependsOn: ["x"] },
    ]);
    expect(layout.nodes).toHaveLength(2);
  });
});

describe("documentStages", () => {
  it("reads a definition's stages, a missing dependsOn meaning the stage before", () => {
    const document = {
      stages: [
        { name: "extract", handler: "ex" },
        { name: "clean", template: "dataset.quality" },
        { name: "a", handler: "h", dependsOn: ["extract"] },
        { name: "b", handler: "h", dependsOn: [] },
        { handler: "nameless" },
      ],
    };
    expect(documentStages(document)).toEqual([
      { name: "extract", dependsOn: [], handler: "ex" },
      { name: "clean", dependsOn: ["extract"], handler: "template dataset.quality" },
      { name: "a", dependsOn: ["extract"], handler: "h" },
      { name: "b", dependsOn: [], handler: "h" },
    ]);
    expect(documentStages({})).toEqual([]);
    expect(documentStages(null)).toEqual([]);
  });
});

describe("edges that skip a column, and cycles", () => {
  it("routes an edge past a column through a lane above the nodes", () => {
    const layout = layoutDag([
      { name: "a", dependsOn: [] },
      { name: "b", dependsOn: ["a"] },
      { name: "c", dependsOn: ["a", "b"] },
    ]);
    const skip = layout.edges.find((e) => e.from === "a" && e.to === "c")!;
    expect(skip.path).toMatch(/V14 H/); // up to the lane, above every node
    expect(Math.min(...layout.nodes.map((n) => n.y))).toBeGreaterThan(14);
    const short = layout.edges.find((e) => e.from === "a" && e.to === "b")!;
    expect(short.path).toMatch(/^M\d+,\d+ C/);
  });

  it("places every node of a cycle somewhere, with no NaN", () => {
    const layout = layoutDag([
      { name: "request", dependsOn: ["load"] },
      { name: "echo", dependsOn: ["request"] },
      { name: "load", dependsOn: ["echo"] },
    ]);
    expect(layout.nodes).toHaveLength(3);
    for (const value of [layout.width, layout.height, ...layout.nodes.flatMap((n) => [n.x, n.y])])
      expect(Number.isFinite(value)).toBe(true);
    expect(layout.edges.every((e) => !e.path.includes("NaN"))).toBe(true);
  });
});
