// Statuses as people see them: a word and a colour that reads in light and dark.
const COLOURS: Record<string, string> = {
  running: "bg-blue-100 text-blue-900 dark:bg-blue-900 dark:text-blue-100",
  queued: "bg-sky-100 text-sky-900 dark:bg-sky-900 dark:text-sky-100",
  not_started: "bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-200",
  completed: "bg-green-100 text-green-900 dark:bg-green-900 dark:text-green-100",
  failed: "bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100",
  retry_scheduled: "bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100",
  skipped: "bg-violet-100 text-violet-900 dark:bg-violet-900 dark:text-violet-100",
  cancelled: "bg-zinc-200 text-zinc-800 dark:bg-zinc-700 dark:text-zinc-100",
  // Attempts.
  lease_lost: "bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100",
  // Approvals.
  pending: "bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100",
  approved: "bg-green-100 text-green-900 dark:bg-green-900 dark:text-green-100",
  rejected: "bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100",
  expired: "bg-zinc-200 text-zinc-800 dark:bg-zinc-700 dark:text-zinc-100",
  closed: "bg-zinc-200 text-zinc-800 dark:bg-zinc-700 dark:text-zinc-100",
  // Definition versions.
  draft: "bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-200",
  in_review: "bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100",
  published: "bg-green-100 text-green-900 dark:bg-green-900 dark:text-green-100",
  archived: "bg-zinc-200 text-zinc-800 dark:bg-zinc-700 dark:text-zinc-100",
  // Workers and policies.
  active: "bg-green-100 text-green-900 dark:bg-green-900 dark:text-green-100",
  paused: "bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100",
  disabled: "bg-zinc-200 text-zinc-800 dark:bg-zinc-700 dark:text-zinc-100",
  online: "bg-green-100 text-green-900 dark:bg-green-900 dark:text-green-100",
  degraded: "bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100",
  draining: "bg-sky-100 text-sky-900 dark:bg-sky-900 dark:text-sky-100",
  offline: "bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100",
  stopped: "bg-zinc-200 text-zinc-800 dark:bg-zinc-700 dark:text-zinc-100",
  // Alerts, and their notifications.
  firing: "bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100",
  acknowledged: "bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100",
  resolved: "bg-green-100 text-green-900 dark:bg-green-900 dark:text-green-100",
  sending: "bg-sky-100 text-sky-900 dark:bg-sky-900 dark:text-sky-100",
  delivered: "bg-green-100 text-green-900 dark:bg-green-900 dark:text-green-100",
  digested: "bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-200",
};

const SEVERITIES: Record<string, string> = {
  info: "border-sky-300 text-sky-900 dark:border-sky-700 dark:text-sky-100",
  warning: "border-amber-400 text-amber-900 dark:border-amber-600 dark:text-amber-100",
  critical: "border-red-500 bg-red-600 text-white dark:border-red-500 dark:bg-red-700",
};

/** An alert's or a rule's severity: info, warning, critical (filled, to stand out). */
export function SeverityBadge({ severity }: { severity: string }) {
  const colour = SEVERITIES[severity] ?? SEVERITIES.info;
  return (
    <span
      data-severity={severity}
      className={`inline-block rounded border px-2 py-0.5 text-xs font-medium ${colour}`}
    >
      {severity}
    </span>
  );
}

export function StatusBadge({ status }: { status: string }) {
  const colour = COLOURS[status] ?? COLOURS.not_started;
  return (
    <span data-status={status} className={`inline-block rounded px-2 py-0.5 text-xs font-medium ${colour}`}>
      {status.replaceAll("_", " ")}
    </span>
  );
}

const FORMAT = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function Time({ at }: { at: string | null | undefined }) {
  if (!at) return <span className="text-muted">—</span>;
  return <time dateTime={at}>{FORMAT.format(new Date(at))}</time>;
}
