import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import type { Schemas } from "../api/client";
import { answer, renderAt, stubApi } from "../test/render";
import { StagePanel } from "./StagePanel";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const stage: Schemas["StageView"] = {
  id: "s1",
  name: "fetch",
  handler: "http.request",
  status: "failed",
  attempt: 1,
  dependsOn: [],
  maxRetries: 0,
  timeoutSeconds: null,
  input: { url: "https://example.com" },
  output: null,
  error: { message: "boom", code: null },
  queuedAt: null,
  startedAt: null,
  finishedAt: null,
  retryAt: null,
};

function panel(inputEditable: boolean, onRerun = vi.fn()) {
  stubApi({
    "GET /api/pipelines/p1/stages/s1/logs": () => answer(200, { lines: [], next: 0 }),
  });
  renderAt(
    "/pipelines/p1",
    "/pipelines/:id",
    <StagePanel
      pipelineId="p1"
      stage={stage}
      attempts={[]}
      operate
      inputEditable={inputEditable}
      onRerun={onRerun}
    />,
  );
  return onRerun;
}

describe("StagePanel", () => {
  it("offers a new input to those who may give one", () => {
    panel(true);
    expect(screen.getByLabelText("Input for a rerun")).toBeTruthy();
    expect(screen.getByRole("button", { name: "Rerun with this input" })).toBeTruthy();
  });

  it("reruns as it was, with no input to edit, where a new one is not allowed", async () => {
    const onRerun = panel(false);
    expect(screen.queryByLabelText("Input for a rerun")).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Rerun" }));
    const dialog = await screen.findByRole("alertdialog", { name: "Rerun fetch?" });
    fireEvent.click(within(dialog).getByRole("button", { name: "Rerun" }));
    expect(onRerun).toHaveBeenCalledWith({ downstream: false });
  });
});
