// Workers with their live state; worker events from /api/ws keep the list current, and the
// heartbeat's age is counted here, so it ticks between events.
import { Link } from "react-router";

import { Empty, Loaded, PageHeader, Table } from "../components/ui";
import { ago, bytes, cpu } from "../format";
import { useNow } from "../now";
import { useWorkers } from "../queries";
import { StatusBadge } from "../status";

/** A figure the worker reported with its heartbeat, if it is a number. */
export function metric(metrics: Record<string, unknown> | null | undefined, name: string): number | null {
  const value = metrics?.[name];
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

export function Workers() {
  const now = useNow(1000);
  const workers = useWorkers();
  return (
    <section>
      <PageHeader title="Workers" />
      <Loaded query={workers} what="workers">
        {(list) =>
          list.items.length === 0 ? (
            <Empty>
              No worker has connected lately. Start one with the SDK (docs/sdk.md) and it appears here.
            </Empty>
          ) : (
            <Table
              columns={[
                "Worker",
                "Application",
                "State",
                "Handlers",
                { label: "In flight", className: "text-right" },
                { label: "CPU", className: "text-right" },
                { label: "Memory", className: "text-right" },
                { label: "Last heartbeat", className: "pl-4" },
                "Host",
              ]}
              minWidth="56rem"
            >
              <tbody>
                {list.items.map((w) => {
                  return (
                    <tr
                      key={w.id}
                      data-worker={w.name}
                      className="border-b border-slate-100 dark:border-slate-800"
                    >
                      <td className="py-2 font-medium">
                        <Link to={`/workers/${w.id}`} className="hover:underline">
                          {w.name}
                        </Link>
                      </td>
                      <td>{w.applicationName}</td>
                      <td>
                        <StatusBadge status={w.state} />
                      </td>
                      <td className="font-mono text-xs">{w.handlers.join(", ")}</td>
                      <td className="text-right tabular-nums">{w.inFlightJobs}</td>
                      <td className="text-right tabular-nums">{cpu(metric(w.metrics, "cpuPercent"))}</td>
                      <td className="text-right tabular-nums">{bytes(metric(w.metrics, "memoryBytes"))}</td>
                      <td className="pl-4 tabular-nums">{ago(w.lastHeartbeatAt, now)}</td>
                      <td className="text-muted">
                        {w.hostName ?? "—"}
                        {w.pid ? ` (${w.pid})` : ""}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </Table>
          )
        }
      </Loaded>
    </section>
  );
}
