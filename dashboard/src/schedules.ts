// What the Schedules page and a definition's schedules share: the timing in words, and the
// actions on one schedule.
import { useMutation, useQueryClient } from "@tanstack/react-query";

import { api, call, type Schemas } from "./api/client";

type Schedule = Schemas["ScheduleView"];

export function describeTiming(schedule: Pick<Schedule, "cron" | "intervalSeconds" | "timezone">): string {
  if (schedule.cron) return `${schedule.cron} (${schedule.timezone})`;
  const seconds = schedule.intervalSeconds ?? 0;
  if (seconds % 3600 === 0) return `every ${seconds / 3600} h`;
  if (seconds % 60 === 0) return `every ${seconds / 60} min`;
  return `every ${seconds} s`;
}

export type ScheduleAction = "pause" | "resume" | "run" | "delete";

/** Pause, resume, run now or delete a schedule; the lists, its fires and the runs are then
 * refetched (a run now starts a pipeline). */
export function useScheduleAction() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ schedule, action }: { schedule: Schedule; action: ScheduleAction }): Promise<unknown> => {
      const path = { params: { path: { schedule_id: schedule.id } } };
      switch (action) {
        case "pause":
          return call(() => api.POST("/api/schedules/{schedule_id}/pause", path));
        case "resume":
          return call(() => api.POST("/api/schedules/{schedule_id}/resume", path));
        case "run":
          return call(() => api.POST("/api/schedules/{schedule_id}/run", path));
        case "delete":
          return call(() => api.DELETE("/api/schedules/{schedule_id}", path));
      }
    },
    onSettled: () => {
      void client.invalidateQueries({ queryKey: ["schedules"] });
      void client.invalidateQueries({ queryKey: ["schedule"] });
      void client.invalidateQueries({ queryKey: ["pipelines"] });
    },
  });
}
