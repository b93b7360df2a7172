// A pipeline's lineage, left to right: the datasets (one node per version) and files its
// stages read and wrote. Stages are buttons that open the stage, as in the DAG; datasets show
// their version and rows, with the full URI on hover.
import type { Schemas } from "../api/client";
import { layoutDag, NODE } from "../dag";
import { count } from "../format";
import { FILL } from "./DagGraph";
import { GraphCanvas } from "./GraphCanvas";

type Lineage = Schemas["Lineage"];

/** The graph as the DAG layout takes it: each node depends on the sources of its edges in. */
export function lineageNodes(lineage: Lineage): { name: string; dependsOn: string[] }[] {
  const into = new Map<string, string[]>();
  for (const edge of lineage.edges) into.set(edge.to, [...(into.get(edge.to) ?? []), edge.from]);
  const ids = [...lineage.datasets.map((d) => d.id), ...lineage.stages.map((s) => s.id)];
  return ids.map((id) => ({ name: id, dependsOn: into.get(id) ?? [] }));
}

const clip = (text: string, length: number) =>
  text.length > length ? `${text.slice(0, length - 1)}…` : text;

export function LineageGraph({
  lineage,
  onChoose,
}: {
  lineage: Lineage;
  onChoose: (stageName: string) => void;
}) {
  const layout = layoutDag(lineageNodes(lineage));
  const datasets = new Map(lineage.datasets.map((d) => [d.id, d]));
  const stages = new Map(lineage.stages.map((s) => [s.id, s]));
  return (
    <GraphCanvas layout={layout} label="datasets and stages as a graph" marker="lineage-arrow">
      {layout.nodes.map((node) => {
        const stage = stages.get(node.name);
        if (stage) {
          const choose = () => onChoose(stage.name);
          return (
            <g
              key={node.name}
              transform={`translate(${node.x},${node.y})`}
              role="button"
              tabIndex={0}
              aria-label={`stage ${stage.name}: ${stage.status.replace("_", " ")}`}
              data-stage={stage.name}
              onClick={choose}
              onKeyDown={(event) => {
                if (event.key === "Enter" || event.key === " ") {
                  event.preventDefault();
                  choose();
                }
              }}
              className="cursor-pointer outline-none [&:focus-visible>rect]:stroke-sky-500 [&:focus-visible>rect]:stroke-[3]"
            >
              <rect
                width={NODE.width}
                height={NODE.height}
                rx={6}
                strokeWidth={1.5}
                className={FILL[stage.status] ?? FILL.not_started}
              />
              <text x={10} y={19} className="fill-slate-900 text-[13px] font-medium dark:fill-slate-100">
                {clip(stage.name, 20)}
              </text>
              <text x={10} y={36} className="fill-slate-500 text-[11px] dark:fill-slate-400">
                {clip(stage.handler, 24)}
              </text>
            </g>
          );
        }
        const dataset = datasets.get(node.name);
        if (!dataset) return null;
        const file = dataset.kind === "file";
        const detail = file
          ? "file"
          : `v${dataset.version}${dataset.rows != null ? ` · ${count(dataset.rows)} rows` : ""}`;
        return (
          <g
            key={node.name}
            transform={`translate(${node.x},${node.y})`}
            role="img"
            aria-label={`${file ? "file" : "dataset"} ${dataset.name}: ${detail}`}
            data-dataset={dataset.id}
          >
            <title>{dataset.uri}</title>
            <rect
              width={NODE.width}
              height={NODE.height}
              rx={NODE.height / 2}
              strokeWidth={1.5}
              strokeDasharray={file ? "4 3" : undefined}
              className="fill-indigo-50 stroke-indigo-500 dark:fill-indigo-950 dark:stroke-indigo-400"
            />
            <text x={16} y={19} className="fill-slate-900 text-[13px] font-medium dark:fill-slate-100">
              {clip(dataset.name, 19)}
            </text>
            <text x={16} y={36} className="fill-slate-600 text-[11px] dark:fill-slate-300">
              {detail}
            </text>
          </g>
        );
      })}
    </GraphCanvas>
  );
}
