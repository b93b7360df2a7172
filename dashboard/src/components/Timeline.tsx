// The pipeline's attempts as a Gantt chart: a row per stage, a bar per attempt, the wait in
// the queue drawn faint before it.
import { duration } from "../format";
import { gantt, type GanttAttempt } from "../gantt";
import { useNow } from "../now";

const BAR: Record<string, string> = {
  completed: "bg-green-500",
  failed: "bg-red-500",
  lease_lost: "bg-amber-500",
  cancelled: "bg-zinc-400",
  running: "bg-blue-500 animate-pulse",
};

type Props = {
  stages: Array<{ id: string; name: string }>;
  attempts: GanttAttempt[];
  running: boolean;
  onChoose: (name: string) => void;
};

export function Timeline({ stages, attempts, running, onChoose }: Props) {
  // While something runs its bar grows; once all is done the axis stands still.
  const now = useNow(running ? 1000 : 3_600_000);
  const chart = gantt(stages, attempts, now);
  if (attempts.length === 0)
    return <p className="py-6 text-center text-sm text-muted">No stage has started yet.</p>;
  return (
    <div className="text-sm" aria-label="attempts over time">
      <div className="mb-1 ml-40 flex justify-between text-xs text-muted">
        <span>0</span>
        <span>{duration(chart.seconds / 2)}</span>
        <span>{duration(chart.seconds)}</span>
      </div>
      <ul className="space-y-1">
        {chart.rows.map((row) => (
          <li key={row.stageId} className="flex items-center" data-timeline={row.name}>
            <button
              onClick={() => onChoose(row.name)}
              className="w-40 shrink-0 truncate pr-2 text-left hover:underline"
            >
              {row.name}
            </button>
            <div className="relative h-5 flex-1 rounded bg-slate-50 dark:bg-slate-900">
              {row.bars.map((bar) => (
                <div key={bar.attempt}>
                  <div
                    className="absolute top-1.5 h-2 rounded-l bg-slate-200 dark:bg-slate-700"
                    style={{ left: `${bar.waitFrom}%`, width: `${bar.from - bar.waitFrom}%` }}
                    aria-hidden
                  />
                  <div
                    className={`absolute top-0.5 h-4 min-w-0.5 rounded ${BAR[bar.outcome] ?? "bg-slate-400"}`}
                    style={{ left: `${bar.from}%`, width: `${bar.to - bar.from}%` }}
                    title={`attempt ${bar.attempt}: ${bar.outcome.replace("_", " ")}, ${duration(bar.seconds)}`}
                    data-bar={bar.attempt}
                    data-outcome={bar.outcome}
                  />
                </div>
              ))}
            </div>
          </li>
        ))}
      </ul>
    </div>
  );
}
