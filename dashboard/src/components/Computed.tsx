// What a dataset worker computes for the catalog (a sample, a profile, a quarantine page): a
// GET that answers 202 while the worker is at it, asked again each second until it is done.
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";

import { call, type Schemas } from "../api/client";

export type PendingComputation = Schemas["ComputationPending"];

/** A sample or profile: its data, or that a worker is still computing it (asked again each second). */
export function useComputed<T>(
  key: string,
  datasetId: string,
  version: number | undefined,
  ask: () => Promise<unknown>,
) {
  return useQuery({
    queryKey: ["dataset", datasetId, key, version],
    queryFn: async () => (await ask()) as T | { pending: PendingComputation },
    refetchInterval: (query) =>
      query.state.data && "pending" in (query.state.data as object) ? 1000 : false,
    retry: false,
  });
}

/** One GET that may answer 202 while a worker computes: the pending note, or the data. */
export async function computed<T>(request: () => Promise<{ data?: T; error?: unknown; response: Response }>) {
  let pending: PendingComputation | undefined;
  const data = await call(async () => {
    const answer = await request();
    if (answer.response.status === 202) pending = answer.data as unknown as PendingComputation;
    return answer;
  });
  return pending ? { pending } : data;
}

/** The note shown while a worker computes it, with a link to its job. */
export function Pending({ what, pending }: { what: string; pending: PendingComputation }) {
  return (
    <p role="status" className="text-sm text-muted">
      A dataset worker is computing the {what} ({pending.status.replaceAll("_", " ")};{" "}
      <Link to={`/pipelines/${pending.pipelineId}`} className="underline">
        its job
      </Link>
      )…
    </p>
  );
}

/** A value of a row, as a table cell shows it. */
export function show(value: unknown): string {
  if (value === null || value === undefined) return "∅";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}
