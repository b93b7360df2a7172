// Stages waiting for someone to approve or reject them (the `approval` template), and the
// decisions taken. Deciding asks for a comment, kept with the decision and shown to the stage.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useSearchParams } from "react-router";

import { api, call, type Schemas } from "../api/client";
import {
  buttonClass,
  Empty,
  ErrorText,
  inputClass,
  Loaded,
  Modal,
  PageHeader,
  Table,
} from "../components/ui";
import { until } from "../format";
import { useNow } from "../now";
import { usePendingApprovals } from "../queries";
import { StatusBadge, Time } from "../status";
import { Json } from "./StagePanel";

type Approval = Schemas["Approval"];
type Decision = "approve" | "reject";

function useAllApprovals(enabled: boolean) {
  return useQuery({
    queryKey: ["approvals", "all"],
    queryFn: () => call(() => api.GET("/api/approvals")),
    enabled,
  });
}

export function Approvals() {
  const [params, setParams] = useSearchParams();
  const all = params.get("show") === "all";
  const waiting = usePendingApprovals();
  const everything = useAllApprovals(all);
  const [deciding, setDeciding] = useState<{ approval: Approval; decision: Decision } | null>(null);
  const now = useNow(1000);
  const show = (value: "waiting" | "all") =>
    setParams(value === "all" ? { show: "all" } : {}, { replace: true });
  return (
    <>
      <PageHeader title="Approvals">
        <div role="group" aria-label="which approvals" className="flex gap-1">
          <button
            className={buttonClass(all ? "default" : "primary")}
            aria-pressed={!all}
            onClick={() => show("waiting")}
          >
            Waiting
          </button>
          <button
            className={buttonClass(all ? "primary" : "default")}
            aria-pressed={all}
            onClick={() => show("all")}
          >
            All
          </button>
        </div>
      </PageHeader>
      <Loaded query={all ? everything : waiting} what="the approvals" rows={4}>
        {({ items }) =>
          items.length ? (
            <Table
              columns={[
                "Asked",
                "Pipeline · stage",
                "Question",
                "Deadline",
                "Status",
                "Decision",
                { label: "Actions", hidden: true },
              ]}
              minWidth="60rem"
            >
              <tbody>
                {items.map((item) => (
                  <tr
                    key={item.id}
                    data-approval={item.stageName}
                    className="border-b border-slate-100 align-top dark:border-slate-800"
                  >
                    <td className="py-2 whitespace-nowrap">
                      <Time at={item.createdAt} />
                    </td>
                    <td className="py-2">
                      <Link
                        to={`/pipelines/${item.pipelineId}?stage=${encodeURIComponent(item.stageName)}`}
                        className="underline-offset-2 hover:underline"
                      >
                        {item.pipelineName} · {item.stageName}
                      </Link>
                    </td>
                    <td className="max-w-md py-2">
                      <p>{item.message}</p>
                      {item.details != null && (
                        <details className="mt-1">
                          <summary className="cursor-pointer text-xs text-muted">Details</summary>
                          <Json value={item.details} />
                        </details>
                      )}
                    </td>
                    <td className="py-2 whitespace-nowrap">
                      {item.status === "pending" ? until(item.deadline, now) : <Time at={item.deadline} />}
                    </td>
                    <td className="py-2">
                      <StatusBadge status={item.status} />
                    </td>
                    <td className="py-2 text-sm">
                      {item.decidedBy ? (
                        <>
                          {item.decidedBy}
                          {item.comment && <span className="block text-muted">“{item.comment}”</span>}
                        </>
                      ) : (
                        <span className="text-muted">—</span>
                      )}
                    </td>
                    <td className="space-x-2 py-2 text-right whitespace-nowrap">
                      {item.status === "pending" && (
                        <>
                          <button
                            className={buttonClass("primary", true)}
                            onClick={() => setDeciding({ approval: item, decision: "approve" })}
                          >
                            Approve
                          </button>
                          <button
                            className={buttonClass("danger", true)}
                            onClick={() => setDeciding({ approval: item, decision: "reject" })}
                          >
                            Reject
                          </button>
                        </>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          ) : (
            <Empty>
              {all
                ? "No approval has been asked for yet."
                : "Nothing waits for a decision. Stages running the approval template show up here."}
            </Empty>
          )
        }
      </Loaded>
      {deciding && (
        <DecisionDialog
          approval={deciding.approval}
          decision={deciding.decision}
          onClose={() => setDeciding(null)}
        />
      )}
    </>
  );
}

function DecisionDialog({
  approval,
  decision,
  onClose,
}: {
  approval: Approval;
  decision: Decision;
  onClose: () => void;
}) {
  const client = useQueryClient();
  const [comment, setComment] = useState("");
  const decide = useMutation({
    mutationFn: () =>
      call(() =>
        api.POST(
          decision === "approve"
            ? "/api/approvals/{approval_id}/approve"
            : "/api/approvals/{approval_id}/reject",
          {
            params: { path: { approval_id: approval.id } },
            body: { comment: comment.trim() || null },
          },
        ),
      ),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["approvals"] });
      onClose();
    },
  });
  const verb = decision === "approve" ? "Approve" : "Reject";
  return (
    <Modal open onOpenChange={(open) => !open && onClose()} title={`${verb} ${approval.stageName}?`}>
      <p className="mb-3 text-sm">{approval.message}</p>
      <p className="mb-3 text-sm text-muted">
        {decision === "approve"
          ? "The stage completes, and the pipeline goes on."
          : "The stage fails for good, and the pipeline with it."}
      </p>
      <label className="mb-3 block text-sm">
        Comment (kept with the decision)
        <textarea
          className={`${inputClass} mt-1 block w-full`}
          rows={3}
          maxLength={2000}
          value={comment}
          onChange={(event) => setComment(event.target.value)}
        />
      </label>
      <ErrorText error={decide.error} className="mb-3" />
      <div className="flex justify-end gap-2">
        <button className={buttonClass()} onClick={onClose}>
          Cancel
        </button>
        <button
          className={buttonClass(decision === "approve" ? "primary" : "danger")}
          disabled={decide.isPending}
          onClick={() => decide.mutate()}
        >
          {verb}
        </button>
      </div>
    </Modal>
  );
}
