// A dataset's lineage across pipelines, left to right: the datasets read to write it, and
// those written from it. Each node links to its dataset's page; this one is outlined.
import { useNavigate } from "react-router";

import type { Schemas } from "../api/client";
import { layoutDag, NODE } from "../dag";
import { GraphCanvas } from "./GraphCanvas";

type Dataset = Schemas["DatasetView"];

/** The graph as the DAG layout takes it: each dataset depends on the datasets read to write it. */
export function datasetLineageNodes(dataset: Dataset): { name: string; dependsOn: string[] }[] {
  const into = new Map<string, string[]>();
  for (const edge of dataset.edges) into.set(edge.to, [...(into.get(edge.to) ?? []), edge.from]);
  const ids = [...dataset.upstream.map((d) => d.id), dataset.id, ...dataset.downstream.map((d) => d.id)];
  return [...new Set(ids)].map((id) => ({ name: id, dependsOn: into.get(id) ?? [] }));
}

const clip = (text: string, length: number) =>
  text.length > length ? `${text.slice(0, length - 1)}…` : text;

export function DatasetLineageGraph({ dataset }: { dataset: Dataset }) {
  const navigate = useNavigate();
  const layout = layoutDag(datasetLineageNodes(dataset));
  const nodes = new Map(
    [...dataset.upstream, ...dataset.downstream].map((n) => [
      n.id,
      { name: n.name, layer: n.layer, uri: n.uri },
    ]),
  );
  nodes.set(dataset.id, { name: dataset.name, layer: dataset.layer, uri: dataset.uri });
  return (
    <GraphCanvas layout={layout} label="datasets read and written, as a graph" marker="dataset-lineage-arrow">
      {layout.nodes.map((node) => {
        const shown = nodes.get(node.name);
        if (!shown) return null;
        const self = node.name === dataset.id;
        const open = () => navigate(`/datasets/${node.name}`);
        return (
          <g
            key={node.name}
            transform={`translate(${node.x},${node.y})`}
            role={self ? "img" : "link"}
            tabIndex={self ? undefined : 0}
            aria-label={`dataset ${shown.name}${shown.layer ? ` (${shown.layer})` : ""}`}
            data-lineage-dataset={shown.name}
            onClick={self ? undefined : open}
            onKeyDown={(event) => {
              if (!self && (event.key === "Enter" || event.key === " ")) {
                event.preventDefault();
                open();
              }
            }}
            className={self ? "" : "cursor-pointer outline-none [&:focus-visible>rect]:stroke-sky-500"}
          >
            <title>{shown.uri}</title>
            <rect
              width={NODE.width}
              height={NODE.height}
              rx={NODE.height / 2}
              strokeWidth={self ? 3 : 1.5}
              className="fill-indigo-50 stroke-indigo-500 dark:fill-indigo-950 dark:stroke-indigo-400"
            />
            <text x={16} y={19} className="fill-slate-900 text-[13px] font-medium dark:fill-slate-100">
              {clip(shown.name, 19)}
            </text>
            <text x={16} y={36} className="fill-slate-600 text-[11px] dark:fill-slate-300">
              {shown.layer ?? "no layer"}
            </text>
          </g>
        );
      })}
    </GraphCanvas>
  );
}
