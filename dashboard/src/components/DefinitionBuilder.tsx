// The pipeline builder: the definition's stages as a graph (drag a stage onto another to make
// the second wait for the first), each stage's form (a template's input as fields from its
// schema, `{{ params.x }}` allowed; a handler's as JSON), the params as a table, stages added
// from the template registry or by handler name. Every edit is made to the text (see
// builder.ts), which the API checks as it changes.
import { useQuery } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";

import { api, call, type Schemas } from "../api/client";
import {
  addStage,
  type BuilderParam,
  type BuilderStage,
  connect,
  type Definition,
  edit,
  effectiveDependencies,
  fieldText,
  fieldValue,
  type Format,
  inputFields,
  type ParamType,
  readDefinition,
  removeParam,
  removeStage,
  renameStage,
  setParam,
} from "../builder";
import { layoutDag, NODE } from "../dag";
import { GraphCanvas } from "./GraphCanvas";
import { buttonClass, Card, inputClass } from "./ui";

type Template = Schemas["TemplateEntryView"];
type Props = { content: string; format: Format; onChange: (content: string) => void };

export function DefinitionBuilder({ content, format, onChange }: Props) {
  const read = readDefinition(content, format);
  const templates = useQuery({
    queryKey: ["templates"],
    queryFn: () => call(() => api.GET("/api/templates")),
    staleTime: 60_000,
  });
  if ("error" in read) {
    return (
      <p role="alert" className="text-sm text-red-700 dark:text-red-300">
        The text does not read as {format === "yaml" ? "YAML" : "JSON"} ({read.error}): mend it in the text
        editor first.
      </p>
    );
  }
  const definition = read;
  const change = (next: string) => next !== content && onChange(next);
  const byName = new Map((templates.data?.items ?? []).map((t) => [t.name, t]));
  return (
    <div className="grid gap-4 xl:grid-cols-[1fr_24rem]">
      <div className="min-w-0 space-y-4">
        <Card title="Stages">
          <BuilderGraph
            definition={definition}
            onConnect={(from, to) => change(connect(content, format, definition, from, to))}
          />
          <p className="mt-1 text-xs text-muted">
            Drag a stage onto another to make the second wait for the first; or tick what a stage waits for in
            its form.
          </p>
          <ol aria-label="stages" className="mt-3 space-y-3">
            {definition.stages.map((stage, index) => (
              <StageForm
                key={`${index}:${stage.name}`}
                stage={stage}
                index={index}
                definition={definition}
                template={stage.template ? byName.get(stage.template) : undefined}
                content={content}
                format={format}
                onChange={change}
              />
            ))}
          </ol>
          <AddStage
            templates={templates.data?.items ?? []}
            onAdd={(kind, what) => change(addStage(content, format, definition, kind, what))}
          />
        </Card>
      </div>
      <div className="space-y-4">
        <Card title="Definition">
          <div className="space-y-2 text-sm">
            <TextField
              label="Name"
              value={definition.name}
              onCommit={(name) => change(edit(content, format, [[["name"], name]]))}
            />
            <TextField
              label="Description"
              placeholder="What it does, for whoever runs it"
              value={definition.description}
              onCommit={(text) => change(edit(content, format, [[["description"], text || undefined]]))}
            />
          </div>
        </Card>
        <ParamsTable definition={definition} content={content} format={format} onChange={change} />
      </div>
    </div>
  );
}

/** A field's text while it is edited: `value` until typed over, and `value` again once the
 * document changes elsewhere (the text editor, another field). */
function useEdited(value: string): [string, (text: string) => void] {
  const [text, setText] = useState(value);
  const [was, setWas] = useState(value);
  if (value !== was) {
    setWas(value);
    setText(value);
  }
  return [text, setText];
}

/** A text field that edits the document when left or Enter is pressed, not at each key. */
function TextField({
  label,
  value,
  onCommit,
  mono,
  placeholder,
}: {
  label: string;
  value: string;
  onCommit: (value: string) => void;
  mono?: boolean;
  placeholder?: string;
}) {
  const [text, setText] = useEdited(value);
  const commit = () => text !== value && onCommit(text);
  return (
    <label className="block">
      {label}
      <input
        value={text}
        onChange={(e) => setText(e.target.value)}
        onBlur={commit}
        onKeyDown={(e) => e.key === "Enter" && (e.preventDefault(), commit())}
        placeholder={placeholder}
        className={`${inputClass} mt-1 block w-full ${mono ? "font-mono text-xs" : ""}`}
      />
    </label>
  );
}

function BuilderGraph({
  definition,
  onConnect,
}: {
  definition: Definition;
  onConnect: (from: string, to: string) => void;
}) {
  const [dragging, setDragging] = useState<string | null>(null);
  const waits = effectiveDependencies(definition.stages);
  const layout = layoutDag(definition.stages.map((stage, i) => ({ name: stage.name, dependsOn: waits[i]! })));
  if (!definition.stages.length) return <p className="text-sm text-muted">No stage yet: add one below.</p>;
  return (
    <div onPointerUp={() => setDragging(null)} onPointerLeave={() => setDragging(null)}>
      <GraphCanvas layout={layout} label="the definition's stages as a graph" marker="builder-arrow">
        {layout.nodes.map((node) => {
          const stage = definition.stages.find((s) => s.name === node.name);
          if (!stage) return null;
          const target = dragging !== null && dragging !== stage.name;
          return (
            <g
              key={node.name}
              transform={`translate(${node.x},${node.y})`}
              role="img"
              aria-label={`${stage.name}: ${stage.template ? `template ${stage.template}` : stage.handler}`}
              data-builder-node={stage.name}
              className="cursor-grab select-none"
              onPointerDown={(event) => {
                event.preventDefault();
                setDragging(stage.name);
              }}
              onPointerUp={(event) => {
                event.stopPropagation();
                if (dragging && dragging !== stage.name) onConnect(dragging, stage.name);
                setDragging(null);
              }}
            >
              <rect
                width={NODE.width}
                height={NODE.height}
                rx={6}
                strokeWidth={target ? 2.5 : 1.5}
                strokeDasharray={target ? "4 3" : undefined}
                className={
                  dragging === stage.name
                    ? "fill-sky-50 stroke-sky-600 dark:fill-sky-950"
                    : "fill-white stroke-slate-400 dark:fill-slate-900 dark:stroke-slate-500"
                }
              />
              <text x={10} y={19} className="fill-slate-900 text-[13px] font-medium dark:fill-slate-100">
                {stage.name.length > 20 ? `${stage.name.slice(0, 19)}…` : stage.name}
              </text>
              <text x={10} y={36} className="fill-slate-500 text-[11px] dark:fill-slate-400">
                {(stage.template ?? stage.handler ?? "").slice(0, 24)}
              </text>
            </g>
          );
        })}
      </GraphCanvas>
    </div>
  );
}

function StageForm({
  stage,
  index,
  definition,
  template,
  content,
  format,
  onChange,
}: {
  stage: BuilderStage;
  index: number;
  definition: Definition;
  template: Template | undefined;
  content: string;
  format: Format;
  onChange: (content: string) => void;
}) {
  const waits = effectiveDependencies(definition.stages)[index]!;
  const others = definition.stages.filter((_, i) => i !== index);
  const setWaits = (names: string[]) =>
    onChange(edit(content, format, [[["stages", index, "dependsOn"], names]]));
  return (
    <li
      data-builder-stage={stage.name}
      className="rounded border border-slate-200 p-3 text-sm dark:border-slate-700"
    >
      <div className="flex flex-wrap items-end gap-2">
        <div className="w-48">
          <TextField
            label="Stage name"
            value={stage.name}
            onCommit={(name) => onChange(renameStage(content, format, definition, index, name))}
          />
        </div>
        <div className="w-56">
          <TextField
            label={stage.template !== undefined ? "Template" : "Handler"}
            value={stage.template ?? stage.handler ?? ""}
            mono
            onCommit={(what) =>
              onChange(
                edit(content, format, [
                  [["stages", index, stage.template !== undefined ? "template" : "handler"], what],
                ]),
              )
            }
          />
        </div>
        <button
          type="button"
          className={`${buttonClass("danger", true)} ml-auto`}
          onClick={() => onChange(removeStage(content, format, definition, index))}
        >
          Remove {stage.name}
        </button>
      </div>
      {template?.summary && <p className="mt-1 text-xs text-muted">{template.summary}</p>}
      {template && !template.workers && (
        <p className="mt-1 text-xs text-amber-700 dark:text-amber-300">
          No live worker of your applications serves {template.name} now: a run would wait for one.
        </p>
      )}
      {others.length > 0 && (
        <fieldset className="mt-2">
          <legend className="text-xs text-muted">
            Waits for
            {stage.dependsOn === undefined && index > 0 ? " (the stage before, as nothing is written)" : ""}
          </legend>
          <div className="flex flex-wrap gap-3">
            {others.map((other) => (
              <label key={other.name} className="flex items-center gap-1">
                <input
                  type="checkbox"
                  checked={waits.includes(other.name)}
                  onChange={(e) =>
                    setWaits(
                      e.target.checked ? [...waits, other.name] : waits.filter((n) => n !== other.name),
                    )
                  }
                />
                {other.name}
              </label>
            ))}
          </div>
        </fieldset>
      )}
      {template?.inputSchema ? (
        <TemplateInput
          stage={stage}
          index={index}
          template={template}
          content={content}
          format={format}
          onChange={onChange}
        />
      ) : (
        <JsonInput stage={stage} index={index} content={content} format={format} onChange={onChange} />
      )}
    </li>
  );
}

function TemplateInput({
  stage,
  index,
  template,
  content,
  format,
  onChange,
}: {
  stage: BuilderStage;
  index: number;
  template: Template;
  content: string;
  format: Format;
  onChange: (content: string) => void;
}) {
  const fields = inputFields(template.inputSchema);
  if (!fields.length) return null;
  return (
    <fieldset className="mt-2">
      <legend className="text-xs text-muted">
        Input of {template.name} (a value, or {"{{ params.x }}"})
      </legend>
      <div className="grid gap-2 sm:grid-cols-2">
        {fields.map((field) => (
          <TextField
            key={field.name}
            label={`${field.name}${field.required ? " *" : ""} (${field.type})`}
            value={fieldText(stage.input[field.name])}
            mono
            onCommit={(text) =>
              onChange(
                edit(content, format, [
                  [["stages", index, "input", field.name], fieldValue(text, field.type)],
                ]),
              )
            }
          />
        ))}
      </div>
    </fieldset>
  );
}

function JsonInput({
  stage,
  index,
  content,
  format,
  onChange,
}: {
  stage: BuilderStage;
  index: number;
  content: string;
  format: Format;
  onChange: (content: string) => void;
}) {
  const shown = Object.keys(stage.input).length ? JSON.stringify(stage.input, null, 1) : "";
  const [text, setText] = useEdited(shown);
  const [problem, setProblem] = useState<string | null>(null);
  const commit = () => {
    if (text === shown) return;
    try {
      const value = text.trim() ? (JSON.parse(text) as unknown) : undefined;
      if (value !== undefined && (typeof value !== "object" || Array.isArray(value) || value === null))
        return setProblem("The input is a JSON object.");
      setProblem(null);
      onChange(edit(content, format, [[["stages", index, "input"], value]]));
    } catch (error) {
      setProblem(`Not JSON: ${(error as Error).message}`);
    }
  };
  return (
    <label className="mt-2 block">
      <span className="text-xs text-muted">Input (a JSON object; {"{{ params.x }}"} in strings)</span>
      <textarea
        value={text}
        rows={Math.min(8, Math.max(2, text.split("\n").length))}
        onChange={(e) => setText(e.target.value)}
        onBlur={commit}
        spellCheck={false}
        aria-invalid={problem !== null}
        className={`${inputClass} mt-1 block w-full font-mono text-xs`}
      />
      {problem && (
        <span role="alert" className="text-xs text-red-700 dark:text-red-300">
          {problem}
        </span>
      )}
    </label>
  );
}

function AddStage({
  templates,
  onAdd,
}: {
  templates: Template[];
  onAdd: (kind: "handler" | "template", what: string) => void;
}) {
  const id = useId();
  const [template, setTemplate] = useState("");
  const [handler, setHandler] = useState("");
  const add = (event: FormEvent, kind: "handler" | "template") => {
    event.preventDefault();
    const what = (kind === "template" ? template : handler).trim();
    if (what) onAdd(kind, what);
    setHandler("");
  };
  return (
    <div className="mt-4 flex flex-wrap items-end gap-4 border-t border-slate-200 pt-3 text-sm dark:border-slate-700">
      <form
        onSubmit={(e) => add(e, "template")}
        className="flex items-end gap-2"
        aria-label="add a template stage"
      >
        <div>
          <label htmlFor={`${id}-template`}>A template</label>
          <select
            id={`${id}-template`}
            value={template}
            onChange={(e) => setTemplate(e.target.value)}
            className={`${inputClass} mt-1 block w-56`}
          >
            <option value="">choose…</option>
            {templates.map((t) => (
              <option key={t.name} value={t.name}>
                {t.name}
                {t.workers ? "" : " (no worker now)"}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" className={buttonClass()} disabled={!template}>
          Add template stage
        </button>
      </form>
      <form
        onSubmit={(e) => add(e, "handler")}
        className="flex items-end gap-2"
        aria-label="add a handler stage"
      >
        <label>
          Or a handler
          <input
            value={handler}
            onChange={(e) => setHandler(e.target.value)}
            placeholder="send-report"
            className={`${inputClass} mt-1 block w-44 font-mono text-xs`}
          />
        </label>
        <button type="submit" className={buttonClass()} disabled={!handler.trim()}>
          Add handler stage
        </button>
      </form>
    </div>
  );
}

const PARAM_TYPES: ParamType[] = ["string", "integer", "number", "boolean"];

function ParamsTable({
  definition,
  content,
  format,
  onChange,
}: {
  definition: Definition;
  content: string;
  format: Format;
  onChange: (content: string) => void;
}) {
  const [adding, setAdding] = useState("");
  const put = (old: string | null, param: BuilderParam) =>
    onChange(setParam(content, format, definition, old, param));
  return (
    <Card title="Params">
      <p className="mb-2 text-xs text-muted">
        What a run is given; a stage's input names one as {"{{ params.x }}"}.
      </p>
      <ul aria-label="params" className="space-y-2 text-sm">
        {definition.params.map((param) => (
          <li key={param.name} data-param={param.name} className="flex flex-wrap items-end gap-2">
            <div className="w-28">
              <TextField
                label="Name"
                value={param.name}
                mono
                onCommit={(name) => put(param.name, { ...param, name })}
              />
            </div>
            <label>
              Type
              <select
                value={param.type}
                onChange={(e) =>
                  put(param.name, { ...param, type: e.target.value as ParamType, default: undefined })
                }
                className={`${inputClass} mt-1 block`}
              >
                {PARAM_TYPES.map((type) => (
                  <option key={type}>{type}</option>
                ))}
              </select>
            </label>
            <div className="w-24">
              <TextField
                label="Default"
                value={fieldText(param.default)}
                mono
                onCommit={(text) => put(param.name, { ...param, default: fieldValue(text, param.type) })}
              />
            </div>
            <label className="flex items-center gap-1 pb-1.5">
              <input
                type="checkbox"
                checked={param.required}
                onChange={(e) => put(param.name, { ...param, required: e.target.checked })}
              />
              required
            </label>
            <button
              type="button"
              className={`${buttonClass("danger", true)} mb-0.5`}
              onClick={() => onChange(removeParam(content, format, definition, param.name))}
            >
              Remove {param.name}
            </button>
          </li>
        ))}
      </ul>
      <form
        className="mt-3 flex items-end gap-2 text-sm"
        aria-label="add a param"
        onSubmit={(event) => {
          event.preventDefault();
          const name = adding.trim();
          if (!name || definition.params.some((p) => p.name === name)) return;
          put(null, { name, type: "string", required: false });
          setAdding("");
        }}
      >
        <label>
          New param
          <input
            value={adding}
            onChange={(e) => setAdding(e.target.value)}
            className={`${inputClass} mt-1 block w-40 font-mono text-xs`}
          />
        </label>
        <button type="submit" className={buttonClass()} disabled={!adding.trim()}>
          Add param
        </button>
      </form>
    </Card>
  );
}
