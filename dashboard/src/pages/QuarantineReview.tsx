// Quarantine review: the rows a quality check set aside, with the rules each failed. A person
// with write access releases rows (as they are, or fixed in a form) into the next version of
// the dataset the check kept, or discards them. Each row is decided once; the API audits it.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Link } from "react-router";

import { api, call, type Schemas } from "../api/client";
import { computed, Pending, type PendingComputation, show } from "../components/Computed";
import {
  buttonClass,
  Card,
  ConfirmButton,
  ErrorNote,
  ErrorText,
  inputClass,
  Loading,
  Modal,
  Table,
} from "../components/ui";
import { count } from "../format";
import { StatusBadge } from "../status";

type Review = Schemas["QuarantineReview"];
type Row = Schemas["QuarantineRow"];
type Decision = Schemas["RowDecision"];

// A release still on its way: the page asks again until it lands.
const MOVING = new Set(["not_started", "running"]);

export function QuarantineReview({
  datasetId,
  version,
  mayDecide,
}: {
  datasetId: string;
  version: number;
  mayDecide: boolean;
}) {
  const [offsets, setOffsets] = useState<number[]>([0]);
  const offset = offsets[offsets.length - 1] ?? 0;
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [fixing, setFixing] = useState<Row | null>(null);
  const [note, setNote] = useState("");
  const client = useQueryClient();
  const review = useQuery({
    queryKey: ["dataset", datasetId, "quarantine", version, offset],
    queryFn: async () =>
      (await computed(() =>
        api.GET("/api/datasets/{dataset_id}/quarantine", {
          params: { path: { dataset_id: datasetId }, query: { version, offset, wait: 5 } },
        }),
      )) as Review | { pending: PendingComputation },
    refetchInterval: (query) => {
      const data = query.state.data;
      if (!data) return false;
      if ("pending" in data) return 1000;
      return data.rows.some((r) => r.decision && MOVING.has(r.decision.outcome)) ? 1500 : false;
    },
    retry: false,
  });
  const decide = useMutation({
    mutationFn: (decisions: Decision[]) =>
      call(() =>
        api.POST("/api/datasets/{dataset_id}/quarantine/decisions", {
          params: { path: { dataset_id: datasetId } },
          body: { version, decisions, note: note.trim() || null },
        }),
      ),
    onSuccess: () => {
      setSelected(new Set());
      setFixing(null);
      void client.invalidateQueries({ queryKey: ["dataset", datasetId] });
    },
  });
  const data = review.data;
  return (
    <Card title="Quarantine review">
      {review.isError ? (
        <ErrorNote what="the quarantined rows" error={review.error} />
      ) : !data ? (
        <Loading rows={3} label="Loading the quarantined rows" />
      ) : "pending" in data ? (
        <Pending what="quarantined rows" pending={data.pending} />
      ) : (
        <div className="space-y-3">
          <Summary review={data} />
          {mayDecide && data.rows.length > 0 && (
            <div
              className="flex flex-wrap items-end gap-2"
              role="group"
              aria-label="decide on the selected rows"
            >
              <label className="text-sm">
                Note{" "}
                <input
                  value={note}
                  onChange={(e) => setNote(e.target.value)}
                  maxLength={1000}
                  className={inputClass}
                  placeholder="why (kept in the audit log)"
                />
              </label>
              <ConfirmButton
                label={`Release ${selected.size || ""} as they are`}
                title={`Release ${selected.size} rows?`}
                description={`They are appended, as they are, to ${data.target?.name ?? "the checked dataset"} as its next version.`}
                kind="primary"
                disabled={selected.size === 0 || !data.target || decide.isPending}
                onConfirm={() => decide.mutate([...selected].map((row) => ({ row, action: "release" })))}
              />
              <ConfirmButton
                label={`Discard ${selected.size || ""}`}
                title={`Discard ${selected.size} rows?`}
                description="They stay in the quarantine, marked discarded, and never reach the checked dataset."
                kind="danger"
                disabled={selected.size === 0 || decide.isPending}
                onConfirm={() => decide.mutate([...selected].map((row) => ({ row, action: "discard" })))}
              />
              {decide.error && <ErrorText error={decide.error} />}
            </div>
          )}
          <div
            className="max-h-[32rem] overflow-auto"
            tabIndex={0}
            role="region"
            aria-label="quarantined rows"
          >
            <Table
              columns={[
                ...(mayDecide ? [{ label: <span className="sr-only">select</span> }] : []),
                "Row",
                "Failed rules",
                "Decision",
                ...data.columns.map((c) => c.name),
                ...(mayDecide ? [{ label: <span className="sr-only">fix</span> }] : []),
              ]}
              minWidth="48rem"
              className="text-xs"
            >
              <tbody aria-label="quarantined rows">
                {data.rows.map((row) => {
                  const open =
                    !row.decision ||
                    row.decision.outcome === "failed" ||
                    row.decision.outcome === "cancelled";
                  return (
                    <tr
                      key={row.row}
                      data-row={row.row}
                      className="border-b border-slate-100 dark:border-slate-800"
                    >
                      {mayDecide && (
                        <td className="py-1 pr-2">
                          <input
                            type="checkbox"
                            aria-label={`select row ${row.row}`}
                            disabled={!open}
                            checked={selected.has(row.row)}
                            onChange={(e) => {
                              const next = new Set(selected);
                              if (e.target.checked) next.add(row.row);
                              else next.delete(row.row);
                              setSelected(next);
                            }}
                          />
                        </td>
                      )}
                      <td className="py-1 pr-3 tabular-nums">{row.row}</td>
                      <td className="pr-3">
                        {row.failedRules.map((rule) => (
                          <span
                            key={rule}
                            className="mr-1 inline-block rounded bg-red-50 px-1.5 font-mono text-red-900 dark:bg-red-950 dark:text-red-100"
                          >
                            {rule}
                          </span>
                        ))}
                      </td>
                      <td className="pr-3 whitespace-nowrap">
                        {row.decision ? (
                          <DecisionNote decision={row.decision} />
                        ) : (
                          <span className="text-muted">open</span>
                        )}
                      </td>
                      {data.columns.map((c) => (
                        <td key={c.name} className="pr-3 font-mono whitespace-nowrap">
                          {show(row.decision?.values?.[c.name] ?? row.values[c.name])}
                        </td>
                      ))}
                      {mayDecide && (
                        <td>
                          {open && data.target && (
                            <button
                              type="button"
                              className={buttonClass("default", true)}
                              onClick={() => setFixing(row)}
                            >
                              Fix…
                            </button>
                          )}
                        </td>
                      )}
                    </tr>
                  );
                })}
              </tbody>
            </Table>
          </div>
          <nav className="flex items-center gap-2 text-sm" aria-label="quarantine pages">
            <button
              type="button"
              className={buttonClass("default", true)}
              disabled={offsets.length === 1}
              onClick={() => setOffsets(offsets.slice(0, -1))}
            >
              Previous rows
            </button>
            <span className="text-muted">
              rows {count(offset)}–{count(offset + Math.max(data.rows.length - 1, 0))} of{" "}
              {count(data.rowsTotal)}
            </span>
            <button
              type="button"
              className={buttonClass("default", true)}
              disabled={data.nextOffset == null}
              onClick={() => data.nextOffset != null && setOffsets([...offsets, data.nextOffset])}
            >
              Next rows
            </button>
          </nav>
          {fixing && (
            <FixForm
              row={fixing}
              columns={data.columns}
              target={data.target?.name ?? ""}
              busy={decide.isPending}
              error={decide.error}
              onClose={() => setFixing(null)}
              onRelease={(values) => decide.mutate([{ row: fixing.row, action: "release", values }])}
            />
          )}
        </div>
      )}
    </Card>
  );
}

function Summary({ review }: { review: Review }) {
  const tally = review.tally;
  const released = (tally.completed ?? 0) + (tally.running ?? 0) + (tally.not_started ?? 0);
  return (
    <p className="text-sm" aria-label="quarantine summary">
      {count(review.rowsTotal)} rows set aside: <strong>{count(tally.open ?? 0)}</strong> open,{" "}
      {count(released)} released, {count(tally.discarded ?? 0)} discarded
      {(tally.failed ?? 0) + (tally.cancelled ?? 0) > 0 &&
        `, ${count((tally.failed ?? 0) + (tally.cancelled ?? 0))} whose release failed`}
      .{" "}
      {review.target ? (
        <>
          Released rows go to{" "}
          <Link to={`/datasets/${review.target.id}`} className="underline">
            {review.target.name}
          </Link>
          .
        </>
      ) : (
        <span className="text-muted">
          The catalog does not know the checked dataset: rows can only be discarded.
        </span>
      )}
    </p>
  );
}

function DecisionNote({ decision }: { decision: Schemas["RowDecisionView"] }) {
  const label =
    decision.action === "discard" ? "discarded" : decision.values ? "fixed, released" : "released";
  return (
    <span title={`${decision.decidedBy}${decision.note ? `: ${decision.note}` : ""}`}>
      {label}{" "}
      {decision.action === "release" &&
        (decision.pipelineId ? (
          <Link to={`/pipelines/${decision.pipelineId}`}>
            <StatusBadge status={decision.outcome} />
          </Link>
        ) : (
          <StatusBadge status={decision.outcome} />
        ))}
    </span>
  );
}

/** A value typed into the form, as the column's type takes it in JSON. */
export function typed(text: string, type: string): unknown {
  if (text === "") return null;
  if (/^u?int(8|16|32|64)$/.test(type)) return /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : text;
  if (/^(halffloat|float|double|float(16|32|64)|decimal)/.test(type)) {
    const number = Number(text.trim());
    return text.trim() !== "" && Number.isFinite(number) ? number : text;
  }
  if (type === "bool") return text === "true" ? true : text === "false" ? false : text;
  return text;
}

function FixForm({
  row,
  columns,
  target,
  busy,
  error,
  onClose,
  onRelease,
}: {
  row: Row;
  columns: Schemas["QuarantineReview"]["columns"];
  target: string;
  busy: boolean;
  error: Error | null;
  onClose: () => void;
  onRelease: (values: Record<string, unknown>) => void;
}) {
  const [texts, setTexts] = useState<Record<string, string>>(() =>
    Object.fromEntries(
      columns.map((c) => [c.name, row.values[c.name] == null ? "" : String(row.values[c.name])]),
    ),
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    // Only what the person changed is sent: the rest is released as it was.
    const changed = Object.fromEntries(
      columns
        .filter((c) => texts[c.name] !== (row.values[c.name] == null ? "" : String(row.values[c.name])))
        .map((c) => [c.name, typed(texts[c.name] ?? "", c.type)]),
    );
    onRelease(changed);
  };
  return (
    <Modal open onOpenChange={(open) => !open && onClose()} title={`Fix row ${row.row} and release it`}>
      <form onSubmit={submit} className="space-y-3" aria-label="fix the row">
        <p className="text-sm text-muted">
          It failed {row.failedRules.join(", ")}. It is appended to {target} with your changes; nothing
          re-checks it.
        </p>
        {columns.map((c) => (
          <label key={c.name} className="block text-sm">
            <span className="font-mono">{c.name}</span> <span className="text-muted">({c.type})</span>
            <input
              name={c.name}
              value={texts[c.name]}
              onChange={(e) => setTexts({ ...texts, [c.name]: e.target.value })}
              className={`${inputClass} mt-1 w-full font-mono`}
            />
          </label>
        ))}
        {error && <ErrorText error={error} />}
        <div className="flex justify-end gap-2">
          <button type="button" className={buttonClass()} onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className={buttonClass("primary")} disabled={busy}>
            Release the fixed row
          </button>
        </div>
      </form>
    </Modal>
  );
}
