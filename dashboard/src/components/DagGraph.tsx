// A pipeline's DAG: each stage a box in its status's colour, edges from what it depends on.
// Every box is a button (Tab to it, Enter to choose it).
import type { KeyboardEvent } from "react";

import { layoutDag, NODE } from "../dag";
import { GraphCanvas } from "./GraphCanvas";

export const FILL: Record<string, string> = {
  completed: "fill-green-50 stroke-green-600 dark:fill-green-950 dark:stroke-green-500",
  failed: "fill-red-50 stroke-red-600 dark:fill-red-950 dark:stroke-red-500",
  running: "fill-blue-50 stroke-blue-600 dark:fill-blue-950 dark:stroke-blue-400",
  queued: "fill-sky-50 stroke-sky-500 dark:fill-sky-950 dark:stroke-sky-400",
  retry_scheduled: "fill-amber-50 stroke-amber-500 dark:fill-amber-950 dark:stroke-amber-400",
  skipped: "fill-violet-50 stroke-violet-500 dark:fill-violet-950 dark:stroke-violet-400",
  cancelled: "fill-zinc-100 stroke-zinc-500 dark:fill-zinc-800 dark:stroke-zinc-400",
  not_started: "fill-white stroke-slate-300 dark:fill-slate-900 dark:stroke-slate-600",
};

type Stage = { id: string; name: string; status: string; handler: string; dependsOn: string[] };

export function DagGraph({
  stages,
  chosen,
  onChoose,
}: {
  stages: Stage[];
  chosen?: string;
  // Without it the graph is a picture: no stage is a button (a definition's, before runs).
  onChoose?: (name: string) => void;
}) {
  const layout = layoutDag(stages);
  const byName = new Map(stages.map((s) => [s.name, s]));
  return (
    <GraphCanvas layout={layout} label="stages as a graph" marker="arrow">
      {layout.nodes.map((node) => {
        const stage = byName.get(node.name);
        if (!stage) return null;
        const picked = chosen === stage.name;
        return (
          <g
            key={stage.id}
            transform={`translate(${node.x},${node.y})`}
            aria-label={`${stage.name}: ${stage.status.replace("_", " ")}`}
            data-node={stage.name}
            data-status={stage.status}
            role={onChoose ? "button" : "img"}
            {...(onChoose && {
              tabIndex: 0,
              "aria-pressed": picked,
              onClick: () => onChoose(stage.name),
              onKeyDown: (event: KeyboardEvent<SVGGElement>) => {
                if (event.key === "Enter" || event.key === " ") {
                  event.preventDefault();
                  onChoose(stage.name);
                }
              },
              className:
                "cursor-pointer outline-none [&:focus-visible>rect]:stroke-sky-500 [&:focus-visible>rect]:stroke-[3]",
            })}
          >
            <rect
              width={NODE.width}
              height={NODE.height}
              rx={6}
              strokeWidth={picked ? 3 : 1.5}
              className={`${FILL[stage.status] ?? FILL.not_started} transition-colors duration-300`}
            />
            <text x={10} y={19} className="fill-slate-900 text-[13px] font-medium dark:fill-slate-100">
              {stage.name.length > 20 ? `${stage.name.slice(0, 19)}…` : stage.name}
            </text>
            <text x={10} y={36} className="fill-slate-500 text-[11px] dark:fill-slate-400">
              {stage.status.replace("_", " ")} ·{" "}
              {stage.handler.length > 14 ? `${stage.handler.slice(0, 13)}…` : stage.handler}
            </text>
          </g>
        );
      })}
    </GraphCanvas>
  );
}
