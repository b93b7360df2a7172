// The live updates of /api/ws turned into query invalidations: each event marks exactly the
// queries it may have changed as stale; a gap in the sequence, or a reconnect, marks them all.
import type { QueryClient, QueryKey } from "@tanstack/react-query";
import { useEffect, useState } from "react";

export type LiveEvent =
  | { type: "hello" | "resync"; seq: number }
  | {
      type: "pipeline" | "stage" | "worker" | "alert";
      seq: number;
      items: Array<{ id: string; pipelineId?: string; applicationId: string; status?: string }>;
    };

/** The queries an event makes stale, or "all" when anything may have been missed. */
export function staleQueries(event: LiveEvent, lastSeq: number): QueryKey[] | "all" {
  if (event.type === "resync" || event.seq !== lastSeq + 1) return "all";
  switch (event.type) {
    case "hello":
      return [];
    case "pipeline":
      // A schedule's last result shows the status of the run it started.
      return [
        ["pipelines"],
        ["insights"],
        ["schedules"],
        ...event.items.map((item) => ["pipeline", item.id]),
      ];
    case "stage": {
      const pipelines = new Set(event.items.map((item) => item.pipelineId ?? ""));
      // A stage that starts or stops waiting for approval changes the approvals too; one that
      // ends may have written dataset versions, and counts towards its stage's risk.
      return [
        ["pipelines"],
        ["insights"],
        ["risks"],
        ["approvals"],
        ["datasets"],
        ["dataset"],
        ...[...pipelines].map((id) => ["pipeline", id]),
      ];
    }
    case "worker":
      return [["workers"], ...event.items.map((item) => ["worker", item.id])];
    case "alert":
      // An alert opened, acknowledged or resolved: the lists, the count in the navigation, and
      // each alert's page.
      return [["alerts"], ...event.items.map((item) => ["alert", item.id])];
  }
}

/**
 * `run` at most once per `everyMs`: a call inside the interval is put off to its end, and any
 * further calls until then join it. For queries too costly to refetch on every event.
 */
export function throttle(run: () => void, everyMs: number): () => void {
  let last = -Infinity;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const fire = () => {
    timer = undefined;
    last = Date.now();
    run();
  };
  return () => {
    if (timer !== undefined) return;
    const wait = last + everyMs - Date.now();
    if (wait <= 0) fire();
    else timer = setTimeout(fire, wait);
  };
}

/**
 * `run` once, `afterMs` after the first call; the calls until then join it. For a query whose
 * source lags the events: at most once per `afterMs` too, like `throttle`, but never at once.
 */
export function gather(run: () => void, afterMs: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    if (timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      run();
    }, afterMs);
  };
}

// Insights aggregate over many rows, any stage may write a dataset, and every run of a schedule
// changes its last result: under a stream of events they refresh every few seconds.
export const THROTTLED: Record<string, number> = {
  insights: 3000,
  datasets: 2000,
  dataset: 2000,
  schedules: 3000,
};
// Risk reads only the rollups, which the built-in worker folds the ended attempts into every 2
// seconds: refetched at once, it would miss the attempt whose end the event tells of.
export const GATHERED: Record<string, number> = { risks: 3000 };

export type Connection = "connecting" | "live" | "offline";

/** One WebSocket per tab, reconnecting with backoff, invalidating what each event names. */
export function useLiveUpdates(client: QueryClient, enabled: boolean): Connection {
  const [state, setState] = useState<Connection>("connecting");
  useEffect(() => {
    if (!enabled) return;
    let socket: WebSocket | null = null;
    let closed = false;
    let attempt = 0;
    let connectedBefore = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const refresh = (key: string) => () => void client.invalidateQueries({ queryKey: [key] });
    const throttled = new Map([
      ...Object.entries(THROTTLED).map(([key, everyMs]) => [key, throttle(refresh(key), everyMs)] as const),
      ...Object.entries(GATHERED).map(([key, afterMs]) => [key, gather(refresh(key), afterMs)] as const),
    ]);
    const invalidate = (key: QueryKey) => {
      const slow = throttled.get(String(key[0]));
      if (slow) slow();
      else void client.invalidateQueries({ queryKey: key });
    };
    const connect = () => {
      const scheme = window.location.protocol === "https:" ? "wss" : "ws";
      socket = new WebSocket(`${scheme}://${window.location.host}/api/ws`);
      let lastSeq = -1;
      socket.onmessage = (message) => {
        const event = JSON.parse(String(message.data)) as LiveEvent;
        const stale = event.type === "hello" ? [] : staleQueries(event, lastSeq);
        lastSeq = event.seq;
        if (event.type === "hello") {
          attempt = 0;
          setState("live");
          // After a reconnect, whatever changed while we were away is refetched.
          if (connectedBefore) void client.invalidateQueries();
          connectedBefore = true;
        } else if (stale === "all") {
          void client.invalidateQueries();
        } else {
          for (const key of stale) invalidate(key);
        }
      };
      socket.onclose = () => {
        if (closed) return;
        setState("offline");
        attempt += 1;
        timer = setTimeout(connect, Math.min(30_000, 500 * 2 ** attempt));
      };
    };
    connect();
    return () => {
      closed = true;
      clearTimeout(timer);
      socket?.close();
    };
  }, [client, enabled]);
  return state;
}
