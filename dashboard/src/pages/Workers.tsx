// Workers with their live state; worker events from /api/ws keep the list current, and the
// heartbeat's age is counted here, so it ticks between events.
import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { api, call } from "../api/client";
import { StatusBadge } from "../status";

function useNow(everyMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

function age(since: string, now: number): string {
  const seconds = Math.max(0, Math.round((now - new Date(since).getTime()) / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

export function Workers() {
  const now = useNow(1000);
  const workers = useQuery({
    queryKey: ["workers"],
    queryFn: () => call(() => api.GET("/api/workers")),
  });
  return (
    <section>
      <h1 className="mb-4 text-xl font-semibold">Workers</h1>
      {workers.isError && <p role="alert">Could not load workers: {workers.error.message}</p>}
      <table className="w-full text-left text-sm">
        <thead className="border-b border-slate-300 text-slate-500">
          <tr>
            <th className="py-2">Worker</th>
            <th>Application</th>
            <th>State</th>
            <th>Handlers</th>
            <th>In flight</th>
            <th>Last heartbeat</th>
            <th>Host</th>
          </tr>
        </thead>
        <tbody>
          {workers.data?.items.map((w) => (
            <tr key={w.id} data-worker={w.name} className="border-b border-slate-100 dark:border-slate-800">
              <td className="py-2 font-medium">{w.name}</td>
              <td>{w.applicationName}</td>
              <td>
                <StatusBadge status={w.state} />
              </td>
              <td className="font-mono text-xs">{w.handlers.join(", ")}</td>
              <td>{w.inFlightJobs}</td>
              <td>{age(w.lastHeartbeatAt, now)}</td>
              <td className="text-slate-500">
                {w.hostName ?? "—"}
                {w.pid ? ` (${w.pid})` : ""}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {workers.data && workers.data.items.length === 0 && (
        <p className="py-8 text-center text-slate-500">No worker has connected lately.</p>
      )}
    </section>
  );
}
