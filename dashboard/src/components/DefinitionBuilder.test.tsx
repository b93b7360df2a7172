import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { useState } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, stubApi } from "../test/render";
import { DefinitionBuilder } from "./DefinitionBuilder";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const delay = {
  name: "delay",
  group: "core",
  version: "1",
  summary: "Wait a while.",
  inputSchema: {
    $defs: { Delay: { type: "object", properties: { seconds: { type: "number" } }, required: ["seconds"] } },
    $ref: "#/$defs/Delay",
  },
  workers: 0,
};

let latest = "";
function Harness({ start }: { start: string }) {
  const [content, setContent] = useState(start);
  latest = content;
  return <DefinitionBuilder content={content} format="yaml" onChange={setContent} />;
}

function builder(start: string) {
  stubApi({ "GET /api/templates": () => answer(200, { items: [delay] }) });
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <Harness start={start} />
    </QueryClientProvider>,
  );
}

const START = "name: nightly\nstages:\n  - name: extract\n    handler: ex\n";

describe("DefinitionBuilder", () => {
  it("adds a template stage whose input is a form from its schema, into the text", async () => {
    builder(START);
    await screen.findByRole("option", { name: "delay (no worker now)" });
    fireEvent.change(screen.getByLabelText("A template"), { target: { value: "delay" } });
    fireEvent.click(screen.getByRole("button", { name: "Add template stage" }));
    const stage = screen.getByText("Wait a while.").closest("li")!;
    expect(within(stage).getByText(/No live worker of your applications serves delay/)).toBeTruthy();
    const seconds = within(stage).getByLabelText("seconds * (number)");
    fireEvent.change(seconds, { target: { value: "{{ params.wait }}" } });
    fireEvent.blur(seconds);
    expect(latest).toContain("template: delay");
    expect(latest).toContain('seconds: "{{ params.wait }}"');
    // It waits for the stage before, as nothing is written.
    expect(within(stage).getByRole("checkbox", { name: "extract" })).toHaveProperty("checked", true);
  });

  it("connects stages by dragging one onto another, and adds a handler stage and a param", async () => {
    builder(START);
    fireEvent.change(screen.getByLabelText("Or a handler"), { target: { value: "report" } });
    fireEvent.click(screen.getByRole("button", { name: "Add handler stage" }));
    fireEvent.change(screen.getByLabelText("Or a handler"), { target: { value: "notify" } });
    fireEvent.click(screen.getByRole("button", { name: "Add handler stage" }));
    const node = (name: string) => document.querySelector(`[data-builder-node="${name}"]`)!;
    fireEvent.pointerDown(node("extract"));
    fireEvent.pointerUp(node("notify"));
    expect(latest).toMatch(/- name: notify\n\s+handler: notify\n\s+dependsOn:\n\s+- report\n\s+- extract/);
    fireEvent.change(screen.getByLabelText("New param"), { target: { value: "day" } });
    fireEvent.click(screen.getByRole("button", { name: "Add param" }));
    expect(latest).toMatch(/params:\n\s+type: object\n\s+properties:\n\s+day:\n\s+type: string/);
  });

  it("asks for the text to be mended when it does not parse", () => {
    builder("stages: [");
    expect(screen.getByRole("alert").textContent).toMatch(/does not read as YAML/);
  });
});
