// The audit log, for admins: who did what to which, newest first, an older page at a time.
import { useInfiniteQuery } from "@tanstack/react-query";

import { api, call } from "../api/client";
import { buttonClass, Empty, Loaded } from "../components/ui";
import { dateTime } from "../format";

export function Audit() {
  const audit = useInfiniteQuery({
    queryKey: ["audit"],
    queryFn: ({ pageParam }) =>
      call(() => api.GET("/api/audit", { params: { query: { limit: 100, before: pageParam } } })),
    initialPageParam: undefined as number | undefined,
    getNextPageParam: (page) => page.nextBefore ?? undefined,
  });
  return (
    <section>
      <h1 className="mb-4 text-xl font-semibold">Audit log</h1>
      <Loaded query={audit} what="the audit log">
        {(data) => {
          const entries = data.pages.flatMap((page) => page.entries);
          if (entries.length === 0) return <Empty>Nothing recorded yet.</Empty>;
          return (
            <>
              <div className="overflow-x-auto">
                <table className="w-full min-w-[48rem] text-left text-sm">
                  <thead className="border-b border-slate-300 text-muted dark:border-slate-700">
                    <tr>
                      <th className="py-2">When</th>
                      <th>Who</th>
                      <th>Did</th>
                      <th>To</th>
                      <th>Details</th>
                    </tr>
                  </thead>
                  <tbody>
                    {entries.map((entry) => (
                      <tr
                        key={entry.id}
                        data-audit={entry.action}
                        className="border-b border-slate-100 align-top dark:border-slate-800"
                      >
                        <td className="py-1.5 text-xs whitespace-nowrap">{dateTime(entry.at)}</td>
                        <td>
                          {entry.actor ?? "—"}
                          {entry.client && <div className="text-xs text-muted">{entry.client}</div>}
                        </td>
                        <td className="font-mono text-xs">{entry.action}</td>
                        <td className="text-xs">
                          {entry.targetType}{" "}
                          <span className="font-mono text-muted">{entry.targetId?.slice(0, 8)}</span>
                        </td>
                        <td
                          className="max-w-md truncate font-mono text-xs text-muted"
                          title={JSON.stringify(entry.details)}
                        >
                          {Object.keys(entry.details).length ? JSON.stringify(entry.details) : ""}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              {audit.hasNextPage && (
                <button
                  className={`${buttonClass()} mt-3`}
                  disabled={audit.isFetchingNextPage}
                  onClick={() => void audit.fetchNextPage()}
                >
                  Older entries
                </button>
              )}
            </>
          );
        }}
      </Loaded>
    </section>
  );
}
