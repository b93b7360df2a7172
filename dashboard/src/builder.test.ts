import { describe, expect, it } from "vitest";

import {
  addStage,
  connect,
  convert,
  type Definition,
  edit,
  fieldValue,
  inputFields,
  readDefinition,
  removeParam,
  removeStage,
  renameStage,
  setParam,
} from "./builder";

const YAML_TEXT = `# Loads a day of orders.
apiVersion: pipelogiq/v1
kind: PipelineDefinition
name: nightly
stages:
  - name: extract # from the shop
    handler: ex
  - name: load
    handler: ld
`;

const read = (content: string, format: "yaml" | "json" = "yaml") =>
  readDefinition(content, format) as Definition;

describe("the builder's edits", () => {
  it("keep the YAML's comments and add a stage after the last", () => {
    const next = addStage(YAML_TEXT, "yaml", read(YAML_TEXT), "template", "dataset.quality");
    expect(next).toContain("# Loads a day of orders.");
    expect(next).toContain("# from the shop");
    expect(read(next).stages.map((s) => [s.name, s.template ?? s.handler])).toEqual([
      ["extract", "ex"],
      ["load", "ld"],
      ["quality", "dataset.quality"],
    ]);
    // A second of the same is named apart.
    const again = addStage(next, "yaml", read(next), "template", "dataset.quality");
    expect(read(again).stages.at(-1)!.name).toBe("quality-2");
  });

  it("connect by adding to what a stage waits for, the stage before included", () => {
    const three = addStage(YAML_TEXT, "yaml", read(YAML_TEXT), "handler", "report");
    const next = connect(three, "yaml", read(three), "extract", "report");
    expect(read(next).stages[2]!.dependsOn).toEqual(["load", "extract"]);
    expect(connect(next, "yaml", read(next), "load", "report")).toBe(next); // already
  });

  it("rename a stage everywhere, and remove one so the next waits for what it waited for", () => {
    const explicit = edit(YAML_TEXT, "yaml", [[["stages", 1, "dependsOn"], ["extract"]]]);
    const renamed = renameStage(explicit, "yaml", read(explicit), 0, "pull");
    expect(read(renamed).stages.map((s) => [s.name, s.dependsOn])).toEqual([
      ["pull", undefined],
      ["load", ["pull"]],
    ]);
    const three = addStage(YAML_TEXT, "yaml", read(YAML_TEXT), "handler", "report");
    const removed = removeStage(three, "yaml", read(three), 1);
    expect(read(removed).stages.map((s) => [s.name, s.dependsOn])).toEqual([
      ["extract", undefined],
      ["report", ["extract"]],
    ]);
  });

  it("write the params schema: types, defaults, required", () => {
    let text = setParam(YAML_TEXT, "yaml", read(YAML_TEXT), null, {
      name: "day",
      type: "string",
      required: true,
    });
    text = setParam(text, "yaml", read(text), null, {
      name: "limit",
      type: "integer",
      required: false,
      default: 10,
    });
    expect(read(text).params).toEqual([
      { name: "day", type: "string", required: true, default: undefined },
      { name: "limit", type: "integer", required: false, default: 10 },
    ]);
    text = setParam(text, "yaml", read(text), "day", { name: "date", type: "string", required: true });
    text = removeParam(text, "yaml", read(text), "limit");
    expect(read(text).params.map((p) => [p.name, p.required])).toEqual([["date", true]]);
    expect(text).toContain("required:\n    - date");
  });

  it("edit JSON as JSON", () => {
    const json = JSON.stringify({ name: "n", stages: [{ name: "a", handler: "h" }] });
    const next = addStage(json, "json", read(json, "json"), "handler", "b");
    expect(JSON.parse(next).stages).toEqual([
      { name: "a", handler: "h" },
      { name: "b", handler: "b" },
    ]);
    const input = edit(next, "json", [[["stages", 1, "input", "n"], 2]]);
    expect(JSON.parse(input).stages[1].input).toEqual({ n: 2 });
  });

  it("convert the document between YAML and JSON, and leave text that does not read", () => {
    const json = convert(YAML_TEXT, "yaml", "json");
    expect(JSON.parse(json).stages[1]).toEqual({ name: "load", handler: "ld" });
    expect(read(convert(json, "json", "yaml"))).toEqual(read(YAML_TEXT));
    expect(convert("stages: [", "yaml", "json")).toBe("stages: [");
  });

  it("say what does not parse", () => {
    expect(readDefinition("stages: [", "yaml")).toHaveProperty("error");
    expect(readDefinition("{", "json")).toHaveProperty("error");
  });
});

describe("a template's input form", () => {
  it("reads the fields of its schema through $ref, and keeps {{ params.x }} as text", () => {
    const schema = {
      $defs: {
        Delay: {
          type: "object",
          properties: {
            seconds: { type: "number" },
            note: { anyOf: [{ type: "string" }, { type: "null" }] },
          },
          required: ["seconds"],
        },
      },
      $ref: "#/$defs/Delay",
    };
    expect(inputFields(schema)).toEqual([
      { name: "seconds", type: "number", required: true, description: undefined },
      { name: "note", type: "string", required: false, description: undefined },
    ]);
    expect(fieldValue("5", "number")).toBe(5);
    expect(fieldValue("{{ params.wait }}", "number")).toBe("{{ params.wait }}");
    expect(fieldValue("5", "string")).toBe("5");
    expect(fieldValue("", "number")).toBeUndefined();
  });
});
