// One pipeline: its stages, each with why it is where it is, and the actions on them.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useParams, useSearchParams } from "react-router";

import { api, call, Problem, type Schemas } from "../api/client";
import { StatusBadge, Time } from "../status";
import { StagePanel } from "./StagePanel";

const RERUNNABLE = new Set(["completed", "failed", "cancelled", "skipped"]);
const SKIPPABLE = new Set(["not_started", "queued", "running", "retry_scheduled", "failed", "cancelled"]);

type Action = {
  action: "rerun" | "skip" | "cancel";
  stage?: string;
  // A rerun's options (default: the stage alone, with its input as it was).
  rerun?: Schemas["StageRerun"];
};

export function PipelineDetail() {
  const { id = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const client = useQueryClient();
  const detail = useQuery({
    queryKey: ["pipeline", id],
    queryFn: () =>
      call(() => api.GET("/api/pipelines/{pipeline_id}", { params: { path: { pipeline_id: id } } })),
  });
  const act = useMutation({
    mutationFn: ({ stage, action, rerun }: Action) => {
      if (action === "cancel") {
        return call(() =>
          api.POST("/api/pipelines/{pipeline_id}/cancel", { params: { path: { pipeline_id: id } } }),
        );
      }
      const path = { pipeline_id: id, stage_id: stage ?? "" };
      return action === "rerun"
        ? call(() =>
            api.POST("/api/pipelines/{pipeline_id}/stages/{stage_id}/rerun", {
              params: { path },
              body: rerun ?? { downstream: false },
            }),
          )
        : call(() =>
            api.POST("/api/pipelines/{pipeline_id}/stages/{stage_id}/skip", {
              params: { path },
              body: {},
            }),
          );
    },
    onSuccess: (fresh) => client.setQueryData(["pipeline", id], fresh),
  });
  if (detail.isPending) return <p className="text-slate-500">Loading…</p>;
  if (detail.isError) return <p role="alert">Could not load the pipeline: {detail.error.message}</p>;
  const { pipeline, why, applicationName, attempts } = detail.data;
  const chosen = pipeline.stages.find((s) => s.name === params.get("stage"));
  const reasons = new Map(why.map((w) => [w.stageId, w.message]));
  const confirmThen = (question: string, run: () => void) => {
    if (window.confirm(question)) run();
  };
  return (
    <section>
      <header className="mb-4 flex flex-wrap items-center gap-3">
        <h1 className="text-xl font-semibold">{pipeline.name}</h1>
        <StatusBadge status={pipeline.status} />
        <span className="text-sm text-slate-500">{applicationName}</span>
        <span className="ml-auto text-sm text-slate-500">
          created <Time at={pipeline.createdAt} />
        </span>
        {pipeline.status === "running" && (
          <button
            onClick={() => confirmThen(`Cancel ${pipeline.name}?`, () => act.mutate({ action: "cancel" }))}
            className="rounded border border-red-300 px-3 py-1 text-sm text-red-800 dark:text-red-200"
          >
            Cancel pipeline
          </button>
        )}
      </header>
      {act.error instanceof Problem && (
        <p role="alert" className="mb-3 text-sm text-red-700 dark:text-red-300">
          {act.error.message}
        </p>
      )}
      <table className="w-full text-left text-sm">
        <thead className="border-b border-slate-300 text-slate-500">
          <tr>
            <th className="py-2">Stage</th>
            <th>Handler</th>
            <th>Status</th>
            <th>Attempt</th>
            <th>Why</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {pipeline.stages.map((stage) => (
            <tr key={stage.id} data-stage={stage.name} className="border-b border-slate-100 dark:border-slate-800">
              <td className="py-2 font-medium">
                <button onClick={() => setParams({ stage: stage.name })} className="underline-offset-2 hover:underline">
                  {stage.name}
                </button>
              </td>
              <td className="font-mono text-xs">{stage.handler}</td>
              <td>
                <StatusBadge status={stage.status} />
              </td>
              <td>{stage.attempt}</td>
              <td className="text-slate-600 dark:text-slate-300">{reasons.get(stage.id)}</td>
              <td className="space-x-2 text-right">
                {RERUNNABLE.has(stage.status) && (
                  <button
                    onClick={() =>
                      confirmThen(`Rerun ${stage.name}?`, () => act.mutate({ stage: stage.id, action: "rerun" }))
                    }
                    className="rounded border px-2 py-0.5"
                  >
                    Rerun
                  </button>
                )}
                {SKIPPABLE.has(stage.status) && (
                  <button
                    onClick={() =>
                      confirmThen(`Skip ${stage.name}?`, () => act.mutate({ stage: stage.id, action: "skip" }))
                    }
                    className="rounded border px-2 py-0.5"
                  >
                    Skip
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {chosen && (
        <StagePanel
          key={chosen.id}
          pipelineId={pipeline.id}
          stage={chosen}
          attempts={attempts.filter((a) => a.stageId === chosen.id)}
          onRerun={(rerun) => act.mutate({ stage: chosen.id, action: "rerun", rerun })}
        />
      )}
    </section>
  );
}
