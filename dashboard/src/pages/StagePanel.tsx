// The chosen stage: what went in and came out, each attempt, its log (tailed while it runs),
// and a rerun with an edited input.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";

import { api, call, type Schemas } from "../api/client";
import { StatusBadge, Time } from "../status";

type Props = {
  pipelineId: string;
  stage: Schemas["StageView"];
  attempts: Schemas["AttemptView"][];
  // The pipeline page runs the rerun, and shows what the API answers.
  onRerun: (rerun: Schemas["StageRerun"]) => void;
};

function Json({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <p className="text-slate-400">—</p>;
  return (
    <pre className="max-h-64 overflow-auto rounded bg-slate-50 p-2 text-xs dark:bg-slate-900">
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

function seconds(from: string, to: string | null): string {
  if (!to) return "running";
  return `${((new Date(to).getTime() - new Date(from).getTime()) / 1000).toFixed(2)} s`;
}

export function StagePanel({ pipelineId, stage, attempts, onRerun }: Props) {
  const running = stage.status === "running";
  const path = { pipeline_id: pipelineId, stage_id: stage.id };
  const logs = useQuery({
    queryKey: ["logs", stage.id],
    queryFn: () =>
      call(() =>
        api.GET("/api/pipelines/{pipeline_id}/stages/{stage_id}/logs", {
          params: { path, query: { limit: 1000 } },
        }),
      ),
    // Log lines are not live events: while the stage runs, the tail is read every second.
    refetchInterval: running ? 1000 : false,
  });
  const [input, setInput] = useState(() => JSON.stringify(stage.input ?? null, null, 2));
  const [downstream, setDownstream] = useState(false);
  const [invalid, setInvalid] = useState<string | null>(null);
  const submit = () => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(input);
    } catch (error) {
      setInvalid(`Not JSON: ${(error as Error).message}`);
      return;
    }
    setInvalid(null);
    if (window.confirm(`Rerun ${stage.name} with this input?`)) onRerun({ downstream, input: parsed });
  };
  const finished = ["completed", "failed", "cancelled", "skipped"].includes(stage.status);
  return (
    <aside aria-label={`stage ${stage.name}`} className="mt-6 grid gap-4 md:grid-cols-2">
      <div>
        <h2 className="mb-2 font-semibold">
          {stage.name} <StatusBadge status={stage.status} />
        </h2>
        <h3 className="text-sm text-slate-500">Input</h3>
        <Json value={stage.input} />
        <h3 className="mt-2 text-sm text-slate-500">Output</h3>
        <Json value={stage.output} />
        {stage.error !== null && (
          <>
            <h3 className="mt-2 text-sm text-slate-500">Error</h3>
            <Json value={stage.error} />
          </>
        )}
      </div>
      <div>
        <h3 className="text-sm text-slate-500">Attempts</h3>
        <table className="mb-3 w-full text-left text-xs">
          <tbody>
            {attempts.map((a) => (
              <tr key={a.jobId} data-attempt={a.attempt}>
                <td className="py-1">#{a.attempt}</td>
                <td>
                  <StatusBadge status={a.outcome === "running" ? "running" : a.outcome} />
                </td>
                <td>{a.workerName ?? "—"}</td>
                <td>
                  <Time at={a.startedAt} />
                </td>
                <td>{seconds(a.startedAt, a.finishedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <h3 className="text-sm text-slate-500">Log{running ? " (live)" : ""}</h3>
        <pre className="max-h-64 overflow-auto rounded bg-slate-950 p-2 text-xs text-slate-100" data-logs>
          {logs.data?.lines.map((line) => `#${line.attempt} ${line.level} ${line.message}`).join("\n") || "(empty)"}
        </pre>
        {finished && (
          <div className="mt-4 space-y-2 text-sm">
            <label className="block">
              <span className="text-slate-500">Input for a rerun</span>
              <textarea
                value={input}
                onChange={(e) => setInput(e.target.value)}
                rows={5}
                className="mt-1 block w-full rounded border border-slate-300 bg-transparent p-2 font-mono text-xs"
              />
            </label>
            <label className="mr-3">
              <input type="checkbox" checked={downstream} onChange={(e) => setDownstream(e.target.checked)} /> with
              everything downstream
            </label>
            <button onClick={submit} className="rounded border px-3 py-1">
              Rerun with this input
            </button>
            {invalid && (
              <p role="alert" className="text-red-700 dark:text-red-300">
                {invalid}
              </p>
            )}
          </div>
        )}
      </div>
    </aside>
  );
}
