// One worker: what it reports, the jobs it holds now, and its events, newest first.
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router";

import { api, call } from "../api/client";
import { Card, Empty, ErrorNote, Loaded, Loading, OlderButton, Table } from "../components/ui";
import { ago, bytes, count, cpu, dateTime } from "../format";
import { useNow } from "../now";
import { StatusBadge, Time } from "../status";
import { metric } from "./Workers";

export function WorkerDetail() {
  const { id = "" } = useParams();
  const now = useNow(1000);
  const path = { worker_id: id };
  // Keyed under ["worker", id], which the worker's live events invalidate.
  const detail = useQuery({
    queryKey: ["worker", id],
    queryFn: () => call(() => api.GET("/api/workers/{worker_id}", { params: { path } })),
  });
  const events = useInfiniteQuery({
    queryKey: ["worker", id, "events"],
    queryFn: ({ pageParam }) =>
      call(() =>
        api.GET("/api/workers/{worker_id}/events", {
          params: { path, query: { limit: 50, before: pageParam } },
        }),
      ),
    initialPageParam: undefined as number | undefined,
    getNextPageParam: (page) => page.nextBefore ?? undefined,
  });
  if (detail.isError) return <ErrorNote what="the worker" error={detail.error} />;
  if (detail.isPending) return <Loading rows={6} label="Loading the worker" />;
  const { worker, jobs } = detail.data;
  const facts: Array<[string, string]> = [
    ["Application", worker.applicationName],
    ["Handlers", worker.handlers.join(", ") || "—"],
    ["Last heartbeat", ago(worker.lastHeartbeatAt, now)],
    ["Started", dateTime(worker.startedAt)],
    ["Host", `${worker.hostName ?? "—"}${worker.pid ? ` (pid ${worker.pid})` : ""}`],
    ["Version", worker.version ?? "—"],
    ["CPU", cpu(metric(worker.metrics, "cpuPercent"))],
    ["Memory", bytes(metric(worker.metrics, "memoryBytes"))],
    [
      "Completed / failed",
      `${count(metric(worker.metrics, "completed") ?? 0)} / ${count(metric(worker.metrics, "failed") ?? 0)}`,
    ],
  ];
  return (
    <div className="space-y-4">
      <header className="flex flex-wrap items-center gap-3">
        <h1 className="text-xl font-semibold">{worker.name}</h1>
        <StatusBadge status={worker.state} />
        <Link to="/workers" className="ml-auto text-sm hover:underline">
          All workers
        </Link>
      </header>
      <dl className="grid grid-cols-2 gap-x-6 gap-y-2 text-sm sm:grid-cols-3">
        {facts.map(([label, value]) => (
          <div key={label}>
            <dt className="text-xs text-muted">{label}</dt>
            <dd className="tabular-nums">{value}</dd>
          </div>
        ))}
      </dl>
      <Card title={`Jobs it holds (${jobs.length})`}>
        {jobs.length === 0 ? (
          <Empty>None right now.</Empty>
        ) : (
          <Table
            columns={[
              { label: "Pipeline", className: "py-1" },
              "Stage",
              "Attempt",
              "Running for",
              "Lease until",
            ]}
          >
            <tbody>
              {jobs.map((job) => (
                <tr key={job.jobId} data-held-job={job.stageName}>
                  <td className="py-1">
                    <Link
                      to={`/pipelines/${job.pipelineId}?stage=${encodeURIComponent(job.stageName)}`}
                      className="hover:underline"
                    >
                      {job.pipelineName}
                    </Link>
                  </td>
                  <td>{job.stageName}</td>
                  <td>{job.attempt}</td>
                  <td>{ago(job.startedAt, now).replace(" ago", "")}</td>
                  <td>
                    <Time at={job.leaseExpiresAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </Card>
      <Card title="Events">
        <Loaded query={events} what="events">
          {(data) => {
            const all = data.pages.flatMap((page) => page.events);
            if (all.length === 0) return <Empty>No events.</Empty>;
            return (
              <>
                <ol className="divide-y divide-slate-100 text-sm dark:divide-slate-800">
                  {all.map((event) => (
                    <li key={event.id} className="flex gap-3 py-1.5">
                      <span className="w-44 shrink-0 text-xs text-muted">{dateTime(event.at)}</span>
                      <span className="w-28 shrink-0 font-mono text-xs">{event.kind}</span>
                      <span>{event.message}</span>
                    </li>
                  ))}
                </ol>
                <OlderButton query={events} label="Older events" />
              </>
            );
          }}
        </Loaded>
      </Card>
    </div>
  );
}
