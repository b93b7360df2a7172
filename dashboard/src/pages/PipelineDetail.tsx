// One pipeline: its DAG, its stages with why each is where it is, the attempts over time, its
// context, and the actions on it. The chosen stage (in the URL) opens in a panel below.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Tabs } from "radix-ui";
import { Link, useParams, useSearchParams } from "react-router";

import { api, call, type Schemas } from "../api/client";
import { DagGraph } from "../components/DagGraph";
import { PipelineRisks } from "../components/Risks";
import { Timeline } from "../components/Timeline";
import { TraceLink } from "../components/TraceLink";
import { Card, ConfirmButton, ErrorNote, ErrorText, Loading, TAB, Table } from "../components/ui";
import { duration, secondsBetween } from "../format";
import { may } from "../permissions";
import { useMe } from "../session";
import { StatusBadge, Time } from "../status";
import { PipelineArtifacts } from "./PipelineArtifacts";
import { PipelineLineage } from "./PipelineLineage";
import { Json, StagePanel } from "./StagePanel";

const RERUNNABLE = new Set(["completed", "failed", "cancelled", "skipped"]);
const SKIPPABLE = new Set(["not_started", "queued", "running", "retry_scheduled", "failed", "cancelled"]);

type Action =
  | { action: "cancel" | "resume" }
  | { action: "skip"; stage: string }
  // A rerun's options default to the stage alone, with its input as it was.
  | { action: "rerun"; stage: string; rerun?: Schemas["StageRerun"] };

function usePipelineAction(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (act: Action) => {
      const pipeline = { pipeline_id: id };
      switch (act.action) {
        case "cancel":
          return call(() => api.POST("/api/pipelines/{pipeline_id}/cancel", { params: { path: pipeline } }));
        case "resume":
          return call(() => api.POST("/api/pipelines/{pipeline_id}/rerun", { params: { path: pipeline } }));
        case "skip":
          return call(() =>
            api.POST("/api/pipelines/{pipeline_id}/stages/{stage_id}/skip", {
              params: { path: { ...pipeline, stage_id: act.stage } },
              body: {},
            }),
          );
        case "rerun":
          return call(() =>
            api.POST("/api/pipelines/{pipeline_id}/stages/{stage_id}/rerun", {
              params: { path: { ...pipeline, stage_id: act.stage } },
              body: act.rerun ?? { downstream: false },
            }),
          );
      }
    },
    onSuccess: (fresh) => client.setQueryData(["pipeline", id], fresh),
  });
}

export function PipelineDetail() {
  const { id = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const role = useMe().data?.role;
  const detail = useQuery({
    queryKey: ["pipeline", id],
    queryFn: () =>
      call(() => api.GET("/api/pipelines/{pipeline_id}", { params: { path: { pipeline_id: id } } })),
  });
  const act = usePipelineAction(id);
  if (detail.isError) return <ErrorNote what="the pipeline" error={detail.error} />;
  if (detail.isPending) return <Loading rows={8} label="Loading the pipeline" />;
  const { pipeline, why, applicationId, applicationName, attempts, traceUrl, inputEditable } = detail.data;
  const chosen = pipeline.stages.find((s) => s.name === params.get("stage"));
  const choose = (name: string) => {
    const next = new URLSearchParams(params);
    next.set("stage", name);
    setParams(next, { replace: true });
  };
  const tab = params.get("tab") ?? "stages";
  const reasons = new Map(why.map((w) => [w.stageId, w.message]));
  const operate = may(role, "operate");
  const took = pipeline.finishedAt ? secondsBetween(pipeline.createdAt, pipeline.finishedAt) : null;
  const hasFailed = pipeline.stages.some((s) => s.status === "failed");
  return (
    <div className="space-y-4">
      <header className="flex flex-wrap items-center gap-x-3 gap-y-2">
        <h1 className="text-xl font-semibold break-all">{pipeline.name}</h1>
        <StatusBadge status={pipeline.status} />
        <span className="text-sm text-muted">{applicationName}</span>
        {pipeline.runOf && (
          <span className="text-sm text-muted">
            run of{" "}
            <Link
              to={`/definitions/${pipeline.runOf.definitionId}?v=${pipeline.runOf.version}`}
              className="text-sky-700 dark:text-sky-400"
            >
              {pipeline.runOf.definition} v{pipeline.runOf.version}
            </Link>
          </span>
        )}
        <span className="text-sm text-muted">
          created <Time at={pipeline.createdAt} />
          {took !== null && <> · took {duration(took)}</>} ·{" "}
          <Link
            to={`/runs?${new URLSearchParams({ application: applicationId, name: pipeline.name })}`}
            className="text-sky-700 underline dark:text-sky-400"
          >
            run history
          </Link>
        </span>
        {pipeline.traceId && <TraceLink traceId={pipeline.traceId} url={traceUrl} />}
        <span className="ml-auto flex gap-2">
          {operate && pipeline.status === "running" && (
            <ConfirmButton
              label="Cancel pipeline"
              kind="danger"
              title={`Cancel ${pipeline.name}?`}
              description="Stages not finished are cancelled; running handlers are told to stop."
              onConfirm={() => act.mutate({ action: "cancel" })}
            />
          )}
          {operate && (pipeline.status === "cancelled" || (pipeline.status === "failed" && hasFailed)) && (
            <ConfirmButton
              label={pipeline.status === "cancelled" ? "Resume pipeline" : "Rerun failed stages"}
              title={
                pipeline.status === "cancelled"
                  ? `Resume ${pipeline.name}?`
                  : `Rerun the failed stages of ${pipeline.name}?`
              }
              description="They are queued again with their inputs as they were."
              onConfirm={() => act.mutate({ action: "resume" })}
            />
          )}
        </span>
      </header>
      <ErrorText error={act.error} />
      <PipelineRisks application={applicationId} pipeline={pipeline.name} />
      <Card>
        <DagGraph stages={pipeline.stages} chosen={chosen?.name} onChoose={choose} />
      </Card>
      <Tabs.Root
        value={tab}
        onValueChange={(value) => {
          const next = new URLSearchParams(params);
          next.set("tab", value);
          setParams(next, { replace: true });
        }}
      >
        <Tabs.List
          aria-label="pipeline views"
          className="mb-2 flex border-b border-slate-200 dark:border-slate-800"
        >
          <Tabs.Trigger value="stages" className={TAB}>
            Stages
          </Tabs.Trigger>
          <Tabs.Trigger value="timeline" className={TAB}>
            Timeline
          </Tabs.Trigger>
          <Tabs.Trigger value="context" className={TAB}>
            Context
          </Tabs.Trigger>
          <Tabs.Trigger value="lineage" className={TAB}>
            Lineage
          </Tabs.Trigger>
          <Tabs.Trigger value="artifacts" className={TAB}>
            Files
          </Tabs.Trigger>
        </Tabs.List>
        <Tabs.Content value="stages">
          <Table
            columns={["Stage", "Handler", "Status", "Attempt", "Why", { label: "Actions", hidden: true }]}
            minWidth="48rem"
          >
            <tbody>
              {pipeline.stages.map((stage) => (
                <tr
                  key={stage.id}
                  data-stage={stage.name}
                  className={`border-b border-slate-100 dark:border-slate-800 ${chosen?.id === stage.id ? "bg-sky-50 dark:bg-sky-950" : ""}`}
                >
                  <td className="py-2 font-medium">
                    <button onClick={() => choose(stage.name)} className="underline-offset-2 hover:underline">
                      {stage.name}
                    </button>
                  </td>
                  <td className="font-mono text-xs">{stage.handler}</td>
                  <td>
                    <StatusBadge status={stage.status} />
                  </td>
                  <td className="tabular-nums">{stage.attempt}</td>
                  <td className="text-slate-600 dark:text-slate-300">{reasons.get(stage.id)}</td>
                  <td className="space-x-2 py-1 text-right whitespace-nowrap">
                    {operate && RERUNNABLE.has(stage.status) && (
                      <ConfirmButton
                        small
                        label="Rerun"
                        title={`Rerun ${stage.name}?`}
                        description="It runs again alone, with its input as it was. Choose the stage to rerun it with what depends on it, or with another input."
                        onConfirm={() => act.mutate({ action: "rerun", stage: stage.id })}
                      />
                    )}
                    {operate && SKIPPABLE.has(stage.status) && (
                      <ConfirmButton
                        small
                        label="Skip"
                        title={`Skip ${stage.name}?`}
                        description="It counts as done without output, and the stages after it go on."
                        onConfirm={() => act.mutate({ action: "skip", stage: stage.id })}
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        </Tabs.Content>
        <Tabs.Content value="timeline">
          <Timeline
            stages={pipeline.stages}
            attempts={attempts}
            running={pipeline.status === "running"}
            onChoose={choose}
          />
        </Tabs.Content>
        <Tabs.Content value="context">
          <p className="mb-2 text-sm text-muted">
            What the stages shared through their context updates, merged.
          </p>
          <Json value={Object.keys(pipeline.context).length ? pipeline.context : null} />
          {pipeline.keywords.length > 0 && (
            <p className="mt-2 text-sm">
              Keywords: <span className="font-mono text-xs">{pipeline.keywords.join(", ")}</span>
            </p>
          )}
        </Tabs.Content>
        <Tabs.Content value="lineage">
          <PipelineLineage pipelineId={pipeline.id} onChoose={choose} />
        </Tabs.Content>
        <Tabs.Content value="artifacts">
          <PipelineArtifacts pipelineId={pipeline.id} />
        </Tabs.Content>
      </Tabs.Root>
      {chosen && (
        <StagePanel
          key={chosen.id}
          pipelineId={pipeline.id}
          stage={chosen}
          attempts={attempts.filter((a) => a.stageId === chosen.id)}
          operate={operate}
          inputEditable={(inputEditable ?? []).includes(chosen.id)}
          onRerun={(rerun) => act.mutate({ action: "rerun", stage: chosen.id, rerun })}
        />
      )}
    </div>
  );
}
