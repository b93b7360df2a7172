// Applications and their API keys (admins). A new key is shown once, with a copy button.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";

import { api, call, Problem, type Schemas } from "../api/client";
import { Time } from "../status";

export function Applications() {
  const applications = useQuery({
    queryKey: ["applications"],
    queryFn: () => call(() => api.GET("/api/applications")),
  });
  return (
    <section className="space-y-8">
      <h1 className="text-xl font-semibold">Applications and API keys</h1>
      {applications.isError && <p role="alert">{applications.error.message}</p>}
      {applications.data?.map((application) => (
        <Keys key={application.id} application={application} />
      ))}
    </section>
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
      <h2 className="mb-2 font-semibold">
        {application.displayName} <span className="font-mono text-xs text-slate-500">{application.name}</span>
      </h2>
      {shown && (
        <div role="status" className="mb-3 rounded border border-amber-300 p-3 text-sm">
          <p className="mb-1">This key is shown only now. Store it somewhere safe:</p>
          <code data-key className="mr-2 break-all">
            {shown}
          </code>
          <button onClick={() => void navigator.clipboard?.writeText(shown)} className="rounded border px-2 py-0.5">
            Copy
          </button>
        </div>
      )}
      <table className="mb-3 w-full text-left text-sm">
        <thead className="border-b border-slate-300 text-slate-500">
          <tr>
            <th className="py-2">Key</th>
            <th>Prefix</th>
            <th>Scopes</th>
            <th>Last used</th>
            <th>State</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {keys.data?.map((key) => (
            <tr key={key.id} data-key-name={key.name} className="border-b border-slate-100 dark:border-slate-800">
              <td className="py-2">{key.name}</td>
              <td className="font-mono text-xs">{key.prefix}…</td>
              <td>{key.scopes.join(", ")}</td>
              <td>
                <Time at={key.lastUsedAt} />
              </td>
              <td>{key.revokedAt ? "revoked" : "active"}</td>
              <td className="text-right">
                {!key.revokedAt && (
                  <button
                    onClick={() => {
                      if (window.confirm(`Revoke ${key.name}? Workers using it stop within 10 s.`))
                        revoke.mutate(key.id);
                    }}
                    className="rounded border border-red-300 px-2 py-0.5 text-red-800 dark:text-red-200"
                  >
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form onSubmit={submit} className="flex gap-2 text-sm">
        <label>
          New key named{" "}
          <input
            required
            value={name}
            onChange={(e) => setName(e.target.value)}
            className="rounded border border-slate-300 bg-transparent px-2 py-1"
          />
        </label>
        <button type="submit" disabled={create.isPending} className="rounded border px-3 py-1">
          Create key
        </button>
        {create.error instanceof Problem && <span role="alert">{create.error.message}</span>}
      </form>
    </article>
  );
}
