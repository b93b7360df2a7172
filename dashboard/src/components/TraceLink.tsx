/** The pipeline's W3C trace: a link into the tracing UI when one is configured. */
export function TraceLink({ traceId, url }: { traceId: string; url?: string | null }) {
  const short = `${traceId.slice(0, 8)}…`;
  if (!url) {
    return (
      <span className="text-sm text-muted" title={`trace ${traceId}`}>
        trace <code>{short}</code>
      </span>
    );
  }
  return (
    <a
      href={url}
      target="_blank"
      rel="noreferrer"
      className="text-sm text-sky-700 dark:text-sky-400"
      title={`trace ${traceId}`}
    >
      trace <code>{short}</code> ↗
    </a>
  );
}
