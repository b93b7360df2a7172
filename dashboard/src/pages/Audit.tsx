// The audit log, for admins: who did what to which, newest first, an older page at a time.
import { useInfiniteQuery } from "@tanstack/react-query";

import { api, call } from "../api/client";
import { Empty, Loaded, OlderButton, PageHeader, Table } from "../components/ui";
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
      <PageHeader title="Audit log" />
      <Loaded query={audit} what="the audit log">
        {(data) => {
          const entries = data.pages.flatMap((page) => page.entries);
          if (entries.length === 0) return <Empty>Nothing recorded yet.</Empty>;
          return (
            <>
              <Table columns={["When", "Who", "Did", "To", "Details"]} minWidth="48rem">
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
              </Table>
              <OlderButton query={audit} label="Older entries" />
            </>
          );
        }}
      </Loaded>
    </section>
  );
}
