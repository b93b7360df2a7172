// Applications and their API keys (admins). A new key is shown once, with a copy button.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";

import { api, call, type Schemas } from "../api/client";
import {
  buttonClass,
  Card,
  ConfirmButton,
  Empty,
  ErrorText,
  inputClass,
  Loaded,
  PageHeader,
  Table,
} from "../components/ui";
import { useApplications } from "../queries";
import { Time } from "../status";

export function Applications() {
  const applications = useApplications();
  return (
    <section className="space-y-6">
      <PageHeader title="Applications and API keys">
        <NewApplication />
      </PageHeader>
      <Loaded query={applications} what="applications">
        {(list) =>
          list.length === 0 ? (
            <Empty>
              No applications yet. Create one, then a key for its workers and the services that submit.
            </Empty>
          ) : (
            list.map((application) => <Keys key={application.id} application={application} />)
          )
        }
      </Loaded>
    </section>
  );
}

function NewApplication() {
  const client = useQueryClient();
  const [name, setName] = useState("");
  const create = useMutation({
    mutationFn: () => call(() => api.POST("/api/applications", { body: { name } })),
    onSuccess: () => {
      setName("");
      void client.invalidateQueries({ queryKey: ["applications"] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <form onSubmit={submit} className="flex flex-wrap items-center gap-2 text-sm">
      <label>
        New application{" "}
        <input
          required
          pattern="[a-z0-9][a-z0-9_\-]{0,62}"
          title="lower-case letters, digits, - and _"
          placeholder="billing"
          value={name}
          onChange={(e) => setName(e.target.value)}
          className={`${inputClass} font-mono`}
        />
      </label>
      <button type="submit" disabled={create.isPending} className={buttonClass()}>
        Create application
      </button>
      <ErrorText error={create.error} />
    </form>
  );
}

function CopyButton({ text }: { text: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      onClick={() => {
        void navigator.clipboard?.writeText(text).then(() => setCopied(true));
      }}
      className={buttonClass("default", true)}
    >
      {copied ? "Copied" : "Copy"}
    </button>
  );
}

function Keys({ application }: { application: Schemas["ApplicationView"] }) {
  const client = useQueryClient();
  const queryKey = ["keys", application.id];
  const [name, setName] = useState("");
  const [shown, setShown] = useState<string | null>(null);
  const path = { application_id: application.id };
  const keys = useQuery({
    queryKey,
    queryFn: () => call(() => api.GET("/api/applications/{application_id}/keys", { params: { path } })),
  });
  const create = useMutation({
    mutationFn: () =>
      call(() => api.POST("/api/applications/{application_id}/keys", { params: { path }, body: { name } })),
    onSuccess: (created) => {
      setShown(created.key);
      setName("");
      void client.invalidateQueries({ queryKey });
    },
  });
  const revoke = useMutation({
    mutationFn: (keyId: string) =>
      call(() =>
        api.POST("/api/applications/{application_id}/keys/{key_id}/revoke", {
          params: { path: { ...path, key_id: keyId } },
        }),
      ),
    onSuccess: () => void client.invalidateQueries({ queryKey }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <article aria-label={application.name}>
      <Card>
        <h2 className="mb-2 font-semibold">
          {application.displayName} <span className="font-mono text-xs text-muted">{application.name}</span>
        </h2>
        {shown && (
          <div
            role="status"
            className="mb-3 rounded border border-amber-300 bg-amber-50 p-3 text-sm dark:border-amber-700 dark:bg-amber-950"
          >
            <p className="mb-1">This key is shown only now. Store it somewhere safe:</p>
            <code data-key className="mr-2 break-all">
              {shown}
            </code>
            <CopyButton text={shown} />
          </div>
        )}
        <Loaded query={keys} what="keys" rows={2}>
          {(list) =>
            list.length === 0 ? (
              <p className="mb-3 text-sm text-muted">No keys yet.</p>
            ) : (
              <Table
                columns={[
                  "Key",
                  "Prefix",
                  "Scopes",
                  "Last used",
                  "State",
                  { label: "Actions", hidden: true },
                ]}
                minWidth="40rem"
                className="mb-3"
              >
                <tbody>
                  {list.map((key) => (
                    <tr
                      key={key.id}
                      data-key-name={key.name}
                      className="border-b border-slate-100 dark:border-slate-800"
                    >
                      <td className="py-2">{key.name}</td>
                      <td className="font-mono text-xs">{key.prefix}…</td>
                      <td>{key.scopes.join(", ")}</td>
                      <td>
                        <Time at={key.lastUsedAt} />
                      </td>
                      <td>{key.revokedAt ? "revoked" : "active"}</td>
                      <td className="py-1 text-right">
                        {!key.revokedAt && (
                          <ConfirmButton
                            small
                            kind="danger"
                            label="Revoke"
                            title={`Revoke ${key.name}?`}
                            description="Workers and services using it are refused within 10 seconds."
                            onConfirm={() => revoke.mutate(key.id)}
                          />
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </Table>
            )
          }
        </Loaded>
        <form onSubmit={submit} className="flex flex-wrap items-center gap-2 text-sm">
          <label>
            New key named{" "}
            <input required value={name} onChange={(e) => setName(e.target.value)} className={inputClass} />
          </label>
          <button type="submit" disabled={create.isPending} className={buttonClass()}>
            Create key
          </button>
          <ErrorText error={create.error} />
        </form>
      </Card>
    </article>
  );
}
