// A pipeline's attempts on one time axis: one row per stage, one bar per attempt, its wait in
// the queue drawn lighter before it. Positions are percentages of the axis, so the chart
// stretches to any width.

export type GanttAttempt = {
  stageId: string;
  attempt: number;
  outcome: string;
  queuedAt: string | null;
  startedAt: string;
  finishedAt: string | null;
};
export type Bar = {
  attempt: number;
  outcome: string;
  waitFrom: number;
  from: number;
  to: number;
  seconds: number;
};
export type GanttRow = { stageId: string; name: string; bars: Bar[] };
export type Gantt = { rows: GanttRow[]; start: number; seconds: number };

export function gantt(
  stages: Array<{ id: string; name: string }>,
  attempts: GanttAttempt[],
  now: number,
): Gantt {
  const time = (at: string | null, otherwise: number) => (at ? new Date(at).getTime() : otherwise);
  const starts = attempts.map((a) => time(a.queuedAt, time(a.startedAt, now)));
  const ends = attempts.map((a) => time(a.finishedAt, now));
  const start = starts.length ? Math.min(...starts) : now;
  const end = Math.max(start + 1, ...ends);
  const span = end - start;
  const at = (ms: number) => (100 * (ms - start)) / span;
  const rows = stages.map((stage) => ({
    stageId: stage.id,
    name: stage.name,
    bars: attempts
      .filter((a) => a.stageId === stage.id)
      .sort((a, b) => a.attempt - b.attempt)
      .map((a) => {
        const began = time(a.startedAt, now);
        const ended = time(a.finishedAt, now);
        return {
          attempt: a.attempt,
          outcome: a.outcome,
          waitFrom: at(time(a.queuedAt, began)),
          from: at(began),
          to: at(ended),
          seconds: (ended - began) / 1000,
        };
      }),
  }));
  return { rows, start, seconds: span / 1000 };
}
