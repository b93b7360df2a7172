// One alert (notifications link here: {publicUrl}/alerts/{id}): what happened, its details,
// its history with who acted and their notes, each notification with its channel, attempts
// and last error, and the sources (failures, fires, workers) that counted towards it.
import { useQuery } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { Link, useParams } from "react-router";

import { api, call, type Schemas } from "../api/client";
import { Card, Empty, Loaded, Table } from "../components/ui";
import { count } from "../format";
import { SeverityBadge, StatusBadge, Time } from "../status";
import { AlertActions } from "./Alerts";
import { Sentence } from "../components/Sentence";

type Detail = Schemas["AlertDetail"];
// A notification still on its way.
const UNDER_WAY = new Set(["pending", "sending"]);

export function AlertDetail() {
  const { id = "" } = useParams();
  const alert = useQuery({
    queryKey: ["alert", id],
    // Read again on the live "alert" update, sent when the alert changes and when one of its
    // notifications is sent, put off or given up.
    queryFn: () => call(() => api.GET("/api/alerts/{alert_id}", { params: { path: { alert_id: id } } })),
  });
  return (
    <section>
      <Link to="/alerts" className="text-sm text-muted underline-offset-2 hover:underline">
        ← Alerts
      </Link>
      <Loaded query={alert} what="the alert">
        {(detail) => <AlertPage detail={detail} />}
      </Loaded>
    </section>
  );
}

function AlertPage({ detail }: { detail: Detail }) {
  const { alert, events, deliveries, sources } = detail;
  return (
    <>
      <header className="mt-1 mb-4 flex flex-wrap items-center gap-3">
        <h1 className="text-xl font-semibold break-all">
          {alert.ruleName}: {alert.subjectName}
        </h1>
        <SeverityBadge severity={alert.severity} />
        <StatusBadge status={alert.status} />
        <span className="ml-auto space-x-2">
          <AlertActions alert={alert} />
        </span>
      </header>
      <div className="grid gap-4 lg:grid-cols-2">
        <Card title="Summary">
          <p className="mb-3 break-words">
            <Sentence text={alert.summary} />
          </p>
          <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-sm">
            <Fact label="Rule">
              {alert.ruleName}{" "}
              <span className="text-muted">({alert.conditionType.replaceAll("_", " ")})</span>
              {alert.ruleId === null && <span className="text-muted"> — deleted</span>}
            </Fact>
            <Fact label="Subject">
              {alert.subjectKind} <span className="font-mono">{alert.subjectName}</span>
            </Fact>
            <Fact label="Application">{alert.applicationName}</Fact>
            <Fact label="Occurrences">{count(alert.occurrences)}</Fact>
            <Fact label="Opened">
              <Time at={alert.openedAt} />
            </Fact>
            <Fact label="Last seen">
              <Time at={alert.lastSeenAt} />
            </Fact>
            {alert.acknowledgedAt && (
              <Fact label="Acknowledged">
                <Time at={alert.acknowledgedAt} /> by {alert.acknowledgedBy ?? "—"}
              </Fact>
            )}
            {alert.resolvedAt && (
              <Fact label="Resolved">
                <Time at={alert.resolvedAt} />{" "}
                {alert.resolvedBy ? `by ${alert.resolvedBy}` : "(the condition cleared)"}
              </Fact>
            )}
          </dl>
        </Card>
        <Card title="Details">
          <Details details={alert.details} />
        </Card>
        <Card title="History">
          <ol aria-label="alert history" className="space-y-2 text-sm">
            {events.map((event) => (
              <li
                key={event.id}
                data-event={event.kind}
                className="rounded border border-slate-200 p-2 dark:border-slate-700"
              >
                <div className="flex justify-between gap-2">
                  <StatusBadge status={event.kind === "opened" ? "firing" : event.kind} />
                  <span className="text-xs text-muted">
                    <Time at={event.at} />
                  </span>
                </div>
                <div className="mt-1 text-xs text-muted">
                  {event.kind} by {event.actor ?? "Pipelogiq"}
                </div>
                {event.note && <p className="mt-1 break-words">“{event.note}”</p>}
              </li>
            ))}
          </ol>
        </Card>
        <Card title="Sources">
          {sources.length === 0 ? (
            <p className="text-sm text-muted">None recorded.</p>
          ) : (
            <ul aria-label="alert sources" className="space-y-1 text-sm">
              {sources.map((source) => (
                <li key={source.sourceKey} className="flex justify-between gap-3">
                  <SourceLink sourceKey={source.sourceKey} />
                  <span className="text-xs whitespace-nowrap text-muted">
                    <Time at={source.at} />
                  </span>
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
      <Card title="Notifications" className="mt-4">
        {deliveries.length === 0 ? (
          <Empty>No notification: the rule tells no channel.</Empty>
        ) : (
          <Table
            columns={[
              "Event",
              "Channel",
              "Status",
              { label: "Attempts", className: "text-right" },
              "Last error",
              "Sent",
            ]}
            minWidth="52rem"
            className="[&_td:not(:last-child)]:pr-3 [&_th:not(:last-child)]:pr-3"
          >
            <tbody aria-label="notifications">
              {deliveries.map((delivery) => (
                <tr
                  key={delivery.id}
                  data-delivery={delivery.channelName}
                  data-event={delivery.event}
                  className="border-b border-slate-100 align-top dark:border-slate-800"
                >
                  <td className="py-2">{delivery.event}</td>
                  <td className="py-2">
                    {delivery.channelName} <span className="text-muted">({delivery.channelType})</span>
                  </td>
                  <td className="py-2">
                    <StatusBadge status={delivery.status} />
                  </td>
                  <td className="py-2 text-right tabular-nums">{delivery.attempts}</td>
                  <td className="max-w-sm py-2 font-mono text-xs break-words text-red-800 dark:text-red-300">
                    {delivery.lastError ?? <span className="text-muted">—</span>}
                  </td>
                  <td className="py-2 text-xs whitespace-nowrap">
                    {delivery.deliveredAt ? (
                      <Time at={delivery.deliveredAt} />
                    ) : UNDER_WAY.has(delivery.status) ? (
                      <>
                        next try <Time at={delivery.nextAttemptAt} />
                      </>
                    ) : delivery.status === "digested" ? (
                      "in a digest"
                    ) : (
                      "—"
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </Card>
    </>
  );
}

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <dt className="text-muted">{label}</dt>
      <dd>{children}</dd>
    </>
  );
}

/** A detail's key as words: "oldestQueuedAt" reads "oldest queued at". */
function words(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase();
}

/** The alert's details, a line each; the ids of pipelines and workers lead to their pages. */
function Details({ details }: { details: Record<string, unknown> }) {
  const entries = Object.entries(details).filter(([, value]) => value !== null && value !== undefined);
  if (entries.length === 0) return <p className="text-sm text-muted">None.</p>;
  return (
    <dl className="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-sm">
      {entries.map(([key, value]) => (
        <Fact key={key} label={words(key)}>
          {key === "pipelineId" ? (
            <Link
              to={`/pipelines/${String(value)}`}
              className="font-mono text-xs underline underline-offset-2"
            >
              {String(value)}
            </Link>
          ) : key === "workerId" ? (
            <Link to={`/workers/${String(value)}`} className="font-mono text-xs underline underline-offset-2">
              {String(value)}
            </Link>
          ) : (
            <span className="break-words">
              {typeof value === "object" ? JSON.stringify(value) : String(value)}
            </span>
          )}
        </Fact>
      ))}
    </dl>
  );
}

/** A source key ("pipeline:<id>", "worker:<id>", "stage:<id>", …), linked where it has a page. */
function SourceLink({ sourceKey }: { sourceKey: string }) {
  const [kind, ...rest] = sourceKey.split(":");
  const id = rest.join(":");
  const page = kind === "pipeline" ? "pipelines" : kind === "worker" ? "workers" : null;
  const text = (
    <>
      {kind} <span className="font-mono text-xs">{id}</span>
    </>
  );
  return page ? (
    <Link to={`/${page}/${id}`} className="underline-offset-2 hover:underline">
      {text}
    </Link>
  ) : (
    <span className="break-all">{text}</span>
  );
}
