// Queries more than one page reads. Their keys are the ones live.ts invalidates.
import { useQuery } from "@tanstack/react-query";

import { api, call } from "./api/client";

export const RANGES = { "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400 } as const;
export type Range = keyof typeof RANGES;

export function rangeOf(value: string | null): Range {
  return value !== null && value in RANGES ? (value as Range) : "1h";
}

export function useInsights(range: Range, application?: string) {
  return useQuery({
    queryKey: ["insights", range, application ?? null],
    queryFn: () => {
      // The range ends now, whenever the query runs.
      const to = new Date();
      const from = new Date(to.getTime() - RANGES[range] * 1000);
      return call(() =>
        api.GET("/api/insights", {
          params: { query: { from: from.toISOString(), to: to.toISOString(), application } },
        }),
      );
    },
    placeholderData: (previous) => previous,
    // Events refresh the figures when something happens; on a quiet system the range still
    // moves on, so what left it stops being counted.
    refetchInterval: 60_000,
  });
}

/** The recent windows risk compares against the week before. */
export const RISK_WINDOWS = ["15m", "1h", "6h", "24h"] as const;
export type RiskWindow = (typeof RISK_WINDOWS)[number];

export function riskWindowOf(value: string | null): RiskWindow {
  return RISK_WINDOWS.find((window) => window === value) ?? "1h";
}

/** How each stage does lately against its own week, riskiest first; of one pipeline name or all. */
export function useRisks(
  window: RiskWindow,
  { application, pipeline }: { application?: string; pipeline?: string },
) {
  return useQuery({
    queryKey: ["risks", window, application ?? null, pipeline ?? null],
    queryFn: () =>
      call(() => api.GET("/api/insights/risks", { params: { query: { window, application, pipeline } } })),
    placeholderData: (previous) => previous,
    // Stage events refresh it; the attempts they end are folded into the rollups it reads a few
    // seconds later, and the window moves on on a quiet system too.
    refetchInterval: 30_000,
  });
}

/** What waits for someone's decision; counted in the navigation, listed on its page. */
export function usePendingApprovals() {
  return useQuery({
    queryKey: ["approvals", "waiting"],
    queryFn: () => call(() => api.GET("/api/approvals", { params: { query: { status: ["pending"] } } })),
    // Deadlines pass without an event saying so.
    refetchInterval: 30_000,
  });
}

export function useWorkers() {
  return useQuery({ queryKey: ["workers"], queryFn: () => call(() => api.GET("/api/workers")) });
}

export function useApplications() {
  return useQuery({
    queryKey: ["applications"],
    queryFn: () => call(() => api.GET("/api/applications")),
    staleTime: 60_000,
  });
}

/** Open alerts, firing and acknowledged: the firing ones are counted in the navigation. */
export function useAlertCounts() {
  return useQuery({
    queryKey: ["alerts", "counts"],
    queryFn: () => call(() => api.GET("/api/alerts/counts")),
  });
}

/** Alert channels, without their secrets; the rules name them. */
export function useAlertChannels() {
  return useQuery({
    queryKey: ["alert-channels"],
    queryFn: () => call(() => api.GET("/api/alert-channels")),
  });
}

export function useAlertRules() {
  return useQuery({
    queryKey: ["alert-rules"],
    queryFn: () => call(() => api.GET("/api/alert-rules")),
  });
}
