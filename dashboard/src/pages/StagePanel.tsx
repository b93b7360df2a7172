// The chosen stage: what went in and came out, each attempt and its worker, its log (tailed
// while it runs), and a rerun with an edited input.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";

import { api, call, type Schemas } from "../api/client";
import { ConfirmButton, ErrorText, inputClass } from "../components/ui";
import { duration, secondsBetween } from "../format";
import { StatusBadge, Time } from "../status";

type Props = {
  pipelineId: string;
  stage: Schemas["StageView"];
  attempts: Schemas["AttemptView"][];
  operate: boolean;
  // Whether the user may give the stage a new input when rerunning it (for an operator, only
  // where an operator_input policy allows it).
  inputEditable: boolean;
  // The pipeline page runs the rerun, and shows what the API answers.
  onRerun: (rerun: Schemas["StageRerun"]) => void;
};

export function Json({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <p className="text-sm text-muted">—</p>;
  return (
    <pre className="max-h-64 overflow-auto rounded bg-slate-50 p-2 text-xs dark:bg-slate-900">
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** The edited text as JSON, or why it is not. */
export function parseJson(text: string): { value: unknown } | { problem: string } {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (error) {
    return { problem: `Not JSON: ${(error as Error).message}` };
  }
}

const LEVEL: Record<string, string> = {
  error: "text-red-300",
  warning: "text-amber-300",
  debug: "text-slate-400",
};

export function StagePanel({ pipelineId, stage, attempts, operate, inputEditable, onRerun }: Props) {
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
  const parsed = parseJson(input);
  const finished = ["completed", "failed", "cancelled", "skipped"].includes(stage.status);
  const latest = attempts.at(-1);
  return (
    <aside
      aria-label={`stage ${stage.name}`}
      className="grid gap-4 rounded-lg border border-slate-200 p-4 md:grid-cols-2 dark:border-slate-800"
    >
      <div className="min-w-0">
        <h2 className="mb-1 flex items-center gap-2 font-semibold">
          {stage.name} <StatusBadge status={stage.status} />
        </h2>
        <p className="mb-3 text-xs text-muted">
          <span className="font-mono">{stage.handler}</span> · attempt {stage.attempt}
          {stage.maxRetries > 0 && <> · retried up to {stage.maxRetries} times</>}
          {latest?.workerName && <> · worker {latest.workerName}</>}
          {stage.timeoutSeconds !== null && <> · timeout {duration(stage.timeoutSeconds)}</>}
        </p>
        <h3 className="text-sm text-muted">Input</h3>
        <Json value={stage.input} />
        <h3 className="mt-2 text-sm text-muted">Output</h3>
        <Json value={stage.output} />
        {stage.error !== null && (
          <>
            <h3 className="mt-2 text-sm text-muted">Error</h3>
            <Json value={stage.error} />
          </>
        )}
      </div>
      <div className="min-w-0">
        <h3 className="text-sm text-muted">Attempts</h3>
        {attempts.length === 0 ? (
          <p className="mb-3 text-sm text-muted">None yet.</p>
        ) : (
          <table className="mb-3 w-full text-left text-xs">
            <thead className="sr-only">
              <tr>
                <th>Attempt</th>
                <th>Outcome</th>
                <th>Worker</th>
                <th>Started</th>
                <th>Took</th>
              </tr>
            </thead>
            <tbody>
              {attempts.map((a) => (
                <tr key={a.jobId} data-attempt={a.attempt}>
                  <td className="py-1">#{a.attempt}</td>
                  <td>
                    <StatusBadge status={a.outcome} />
                  </td>
                  <td>{a.workerName ?? "—"}</td>
                  <td>
                    <Time at={a.startedAt} />
                  </td>
                  <td className="tabular-nums">
                    {a.finishedAt ? duration(secondsBetween(a.startedAt, a.finishedAt)) : "running"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <h3 className="flex items-baseline justify-between text-sm text-muted">
          Log{running ? " (live)" : ""}
          <Link to={`/logs?pipelineId=${pipelineId}&window=all`} className="text-xs underline">
            Search the pipeline's logs
          </Link>
        </h3>
        <pre
          className="max-h-64 min-h-12 overflow-auto rounded bg-slate-950 p-2 text-xs text-slate-100"
          data-logs
          aria-live={running ? "polite" : "off"}
        >
          {logs.data?.lines.length
            ? logs.data.lines.map((line, i) => (
                <div key={i} className={LEVEL[line.level] ?? ""}>
                  #{line.attempt} {line.level} {line.message}
                </div>
              ))
            : "(empty)"}
        </pre>
        {operate && finished && inputEditable && (
          <div className="mt-4 space-y-2 text-sm">
            <label className="block">
              <span className="text-muted">Input for a rerun</span>
              <textarea
                value={input}
                onChange={(e) => setInput(e.target.value)}
                rows={5}
                aria-invalid={"problem" in parsed}
                className={`${inputClass} mt-1 block w-full font-mono text-xs`}
              />
            </label>
            <ErrorText error={"problem" in parsed ? parsed.problem : null} />
            <div className="flex flex-wrap items-center gap-3">
              <label>
                <input
                  type="checkbox"
                  checked={downstream}
                  onChange={(e) => setDownstream(e.target.checked)}
                />{" "}
                with everything downstream
              </label>
              <ConfirmButton
                label="Rerun with this input"
                disabled={"problem" in parsed}
                title={`Rerun ${stage.name}${downstream ? " and what depends on it" : ""}?`}
                description="The stage is queued again with the input above."
                confirmLabel="Rerun"
                onConfirm={() => "value" in parsed && onRerun({ downstream, input: parsed.value })}
              />
            </div>
          </div>
        )}
        {operate && finished && !inputEditable && (
          <div className="mt-4 flex flex-wrap items-center gap-3 text-sm">
            <label>
              <input type="checkbox" checked={downstream} onChange={(e) => setDownstream(e.target.checked)} />{" "}
              with everything downstream
            </label>
            <ConfirmButton
              label="Rerun"
              title={`Rerun ${stage.name}${downstream ? " and what depends on it" : ""}?`}
              description="The stage is queued again with its input as it was (a new input needs an operator_input policy)."
              confirmLabel="Rerun"
              onConfirm={() => onRerun({ downstream })}
            />
          </div>
        )}
      </div>
    </aside>
  );
}
