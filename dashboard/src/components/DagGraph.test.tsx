import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { DagGraph } from "./DagGraph";

afterEach(cleanup);

const stages = [
  { id: "1", name: "fetch", handler: "http", status: "completed", dependsOn: [] },
  { id: "2", name: "parse", handler: "json", status: "running", dependsOn: ["fetch"] },
  { id: "3", name: "store", handler: "db", status: "not_started", dependsOn: ["parse"] },
];

describe("DagGraph", () => {
  it("draws each stage with its status and an edge per dependency", () => {
    const { container } = render(<DagGraph stages={stages} onChoose={vi.fn()} />);
    expect(screen.getByRole("button", { name: "parse: running" }).getAttribute("data-status")).toBe(
      "running",
    );
    expect(screen.getByRole("button", { name: "store: not started" })).toBeTruthy();
    expect(container.querySelectorAll("path[marker-end]")).toHaveLength(2);
  });

  it("chooses a stage by click or from the keyboard, and marks the chosen one", () => {
    const onChoose = vi.fn();
    render(<DagGraph stages={stages} chosen="fetch" onChoose={onChoose} />);
    expect(screen.getByRole("button", { name: "fetch: completed" }).getAttribute("aria-pressed")).toBe(
      "true",
    );
    fireEvent.click(screen.getByRole("button", { name: "parse: running" }));
    fireEvent.keyDown(screen.getByRole("button", { name: "store: not started" }), { key: "Enter" });
    fireEvent.keyDown(screen.getByRole("button", { name: "store: not started" }), { key: "a" });
    expect(onChoose.mock.calls).toEqual([["parse"], ["store"]]);
  });

  it("redraws a stage in its new colour when its status changes", () => {
    const { rerender } = render(<DagGraph stages={stages} onChoose={vi.fn()} />);
    rerender(
      <DagGraph
        stages={stages.map((s) => (s.name === "parse" ? { ...s, status: "failed" } : s))}
        onChoose={vi.fn()}
      />,
    );
    const node = screen.getByRole("button", { name: "parse: failed" });
    expect(node.querySelector("rect")?.getAttribute("class")).toContain("stroke-red-600");
  });
});
