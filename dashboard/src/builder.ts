// The pipeline builder's edits, made to the definition's text itself: the builder and the
// text editor edit one document, so switching between them loses nothing. YAML is edited as
// a YAML document (its comments and layout kept where nothing changed), JSON as JSON.
import { parseDocument, stringify } from "yaml";

export type Format = "yaml" | "json";
export type Path = Array<string | number>;
export type ParamType = "string" | "integer" | "number" | "boolean";

export type BuilderStage = {
  name: string;
  handler?: string;
  template?: string;
  // As written: undefined means "after the stage before" (the API's rule).
  dependsOn?: string[];
  input: Record<string, unknown>;
};

export type BuilderParam = { name: string; type: ParamType; required: boolean; default?: unknown };

export type Definition = {
  name: string;
  description: string;
  stages: BuilderStage[];
  params: BuilderParam[];
};

// A name is needed to save; the rest is the user's to write.
export const NEW_DEFINITION = `apiVersion: pipelogiq/v1
kind: PipelineDefinition
name: a-new-pipeline
stages: []
`;

/** The document in the other format (its comments, which JSON cannot hold, dropped); the
 * text as it is when it does not read in its own. */
export function convert(content: string, from: Format, to: Format): string {
  if (from === to || !content.trim()) return content;
  try {
    const value = parse(content, from);
    return to === "json" ? `${JSON.stringify(value, null, 2)}\n` : stringify(value);
  } catch {
    return content;
  }
}

/** The document as the builder reads it; an error when the text is not YAML or JSON. */
export function readDefinition(content: string, format: Format): Definition | { error: string } {
  let raw: unknown;
  try {
    raw = parse(content, format);
  } catch (error) {
    return { error: (error as Error).message };
  }
  const root = (raw ?? {}) as Record<string, unknown>;
  if (typeof root !== "object" || Array.isArray(root)) return { error: "the document is not a mapping" };
  const stages = Array.isArray(root.stages) ? (root.stages as Array<Record<string, unknown>>) : [];
  const params = (root.params ?? {}) as {
    properties?: Record<string, Record<string, unknown>>;
    required?: unknown;
  };
  const required = Array.isArray(params.required) ? (params.required as string[]) : [];
  return {
    name: typeof root.name === "string" ? root.name : "",
    description: typeof root.description === "string" ? root.description : "",
    stages: stages
      .filter((stage) => stage && typeof stage === "object")
      .map((stage) => ({
        name: String(stage.name ?? ""),
        handler: typeof stage.handler === "string" ? stage.handler : undefined,
        template: typeof stage.template === "string" ? stage.template : undefined,
        dependsOn: Array.isArray(stage.dependsOn) ? stage.dependsOn.map(String) : undefined,
        input: stage.input && typeof stage.input === "object" ? (stage.input as Record<string, unknown>) : {},
      })),
    params: Object.entries(params.properties ?? {}).map(([name, schema]) => ({
      name,
      type: (["string", "integer", "number", "boolean"].includes(String(schema?.type))
        ? schema.type
        : "string") as ParamType,
      required: required.includes(name),
      default: schema?.default,
    })),
  };
}

/** The stages each stage waits for, `dependsOn` left out meaning the stage before. */
export function effectiveDependencies(stages: BuilderStage[]): string[][] {
  return stages.map((stage, i) => stage.dependsOn ?? (i > 0 ? [stages[i - 1]!.name] : []));
}

function parse(content: string, format: Format): unknown {
  if (format === "json") return content.trim() ? JSON.parse(content) : {};
  const document = parseDocument(content);
  if (document.errors.length) throw new Error(document.errors[0]!.message);
  return document.toJS();
}

/**
 * The text with these changes made: each sets the value at a path (undefined deletes it).
 * A change the document cannot take (the text does not parse) leaves it as it is.
 */
export function edit(content: string, format: Format, changes: Array<[Path, unknown]>): string {
  if (format === "json") {
    const root = (content.trim() ? JSON.parse(content) : {}) as Record<string, unknown>;
    for (const [path, value] of changes) setIn(root, path, value);
    return `${JSON.stringify(root, null, 2)}\n`;
  }
  const document = parseDocument(content);
  if (document.errors.length) return content;
  for (const [path, value] of changes) {
    if (value === undefined) document.deleteIn(path);
    else document.setIn(path, document.createNode(value));
  }
  return document.toString();
}

function setIn(root: Record<string, unknown>, path: Path, value: unknown): void {
  let node: Record<string | number, unknown> = root;
  for (const [i, key] of path.slice(0, -1).entries()) {
    if (node[key] === undefined || node[key] === null || typeof node[key] !== "object")
      node[key] = typeof path[i + 1] === "number" ? [] : {};
    node = node[key] as Record<string | number, unknown>;
  }
  const last = path[path.length - 1]!;
  if (value !== undefined) node[last] = value;
  else if (Array.isArray(node) && typeof last === "number") node.splice(last, 1);
  else delete node[last];
}

// -- the builder's edits -----------------------------------------------------------------

/** A new stage at the end, after the one before it (as the API reads a stage without
 * dependsOn): named after its handler or template, made unique. */
export function addStage(
  content: string,
  format: Format,
  definition: Definition,
  kind: "handler" | "template",
  what: string,
): string {
  const taken = new Set(definition.stages.map((s) => s.name));
  const base =
    what
      .split(".")
      .pop()!
      .replace(/[^A-Za-z0-9_-]/g, "-") || "stage";
  let name = base;
  for (let n = 2; taken.has(name); n++) name = `${base}-${n}`;
  const stages = definition.stages.length;
  // An empty list written in flow style ([]) is replaced, so that stages are written as a block.
  if (stages === 0) return edit(content, format, [[["stages"], [{ name, [kind]: what }]]]);
  return edit(content, format, [[["stages", stages], { name, [kind]: what }]]);
}

/** Remove a stage, and its name from every dependsOn; a stage that relied on "the one
 * before" keeps waiting for what it waited for. */
export function removeStage(content: string, format: Format, definition: Definition, index: number): string {
  const gone = definition.stages[index]!.name;
  const waits = effectiveDependencies(definition.stages);
  const changes: Array<[Path, unknown]> = [];
  definition.stages.forEach((stage, i) => {
    if (i === index) return;
    const next = stage.dependsOn ?? (i === index + 1 ? waits[index]! : undefined);
    if (next !== undefined) changes.push([["stages", i, "dependsOn"], next.filter((n) => n !== gone)]);
  });
  changes.push([["stages", index], undefined]);
  return edit(content, format, changes);
}

/** Rename a stage, and every dependsOn that names it. */
export function renameStage(
  content: string,
  format: Format,
  definition: Definition,
  index: number,
  name: string,
): string {
  const old = definition.stages[index]!.name;
  const changes: Array<[Path, unknown]> = [[["stages", index, "name"], name]];
  definition.stages.forEach((stage, i) => {
    if (stage.dependsOn?.includes(old))
      changes.push([["stages", i, "dependsOn"], stage.dependsOn.map((n) => (n === old ? name : n))]);
  });
  return edit(content, format, changes);
}

/** `to` waits for `from` too (dragging `from` onto `to`); nothing if it already does. */
export function connect(
  content: string,
  format: Format,
  definition: Definition,
  from: string,
  to: string,
): string {
  const index = definition.stages.findIndex((s) => s.name === to);
  if (index < 0 || from === to) return content;
  const waits = effectiveDependencies(definition.stages)[index]!;
  if (waits.includes(from)) return content;
  return edit(content, format, [
    [
      ["stages", index, "dependsOn"],
      [...waits, from],
    ],
  ]);
}

/** Add, change or rename a param of the params schema (an object schema). */
export function setParam(
  content: string,
  format: Format,
  definition: Definition,
  old: string | null,
  param: BuilderParam,
): string {
  const changes: Array<[Path, unknown]> = [[["params", "type"], "object"]];
  if (old !== null && old !== param.name) changes.push([["params", "properties", old], undefined]);
  const schema: Record<string, unknown> = { type: param.type };
  if (param.default !== undefined && param.default !== "") schema.default = param.default;
  changes.push([["params", "properties", param.name], schema]);
  const required = definition.params.filter((p) => p.required && p.name !== old && p.name !== param.name);
  const names = [...required.map((p) => p.name), ...(param.required ? [param.name] : [])];
  changes.push([["params", "required"], names.length ? names : undefined]);
  return edit(content, format, changes);
}

export function removeParam(content: string, format: Format, definition: Definition, name: string): string {
  const required = definition.params.filter((p) => p.required && p.name !== name).map((p) => p.name);
  return edit(content, format, [
    [["params", "properties", name], undefined],
    [["params", "required"], required.length ? required : undefined],
  ]);
}

// -- a template's input, as a form ------------------------------------------------------

export type InputField = { name: string; type: string; required: boolean; description?: string };

/** The fields of a template's input schema (its object, `$ref` followed once). */
export function inputFields(schema: Record<string, unknown> | null | undefined): InputField[] {
  if (!schema) return [];
  let object = schema as {
    $ref?: string;
    $defs?: Record<string, unknown>;
    properties?: Record<string, unknown>;
    required?: string[];
  };
  const ref = object.$ref;
  if (ref?.startsWith("#/$defs/"))
    object = (object.$defs?.[ref.slice("#/$defs/".length)] ?? {}) as typeof object;
  const required = new Set(object.required ?? []);
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const p = property as { type?: unknown; anyOf?: Array<{ type?: string }>; description?: string };
    const type =
      typeof p.type === "string"
        ? p.type
        : (p.anyOf?.find((a) => a.type && a.type !== "null")?.type ?? "value");
    return { name, type, required: required.has(name), description: p.description };
  });
}

/** A field's text as the input's value: `{{ params.x }}` and other text stay text; numbers,
 * booleans, lists and objects are read as JSON when the field takes them. */
export function fieldValue(text: string, type: string): unknown {
  if (text === "") return undefined;
  if (/^\s*\{\{.*\}\}\s*$/.test(text) || type === "string") return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function fieldText(value: unknown): string {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}
