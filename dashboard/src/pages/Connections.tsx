// The applications' database connections, on the Datasets page: add one, test it, list the
// tables it can read, remove it. No answer of the API holds a password; the form only sends one.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { api, call, type Schemas } from "../api/client";
import { ApplicationSelect } from "../components/ApplicationSelect";
import {
  buttonClass,
  Card,
  ConfirmButton,
  Empty,
  ErrorText,
  inputClass,
  Loaded,
  Modal,
  Table,
} from "../components/ui";
import { count } from "../format";
import { may } from "../permissions";
import { useApplications } from "../queries";
import { useMe } from "../session";

type Connection = Schemas["ConnectionView"];

export function Connections() {
  const role = useMe().data?.role;
  const [adding, setAdding] = useState(false);
  const connections = useQuery({
    queryKey: ["connections"],
    queryFn: () => call(() => api.GET("/api/connections")),
  });
  const writer = may(role, "upload_data");
  return (
    <Card title="Database connections" className="mt-6">
      {writer && (
        <button className={`${buttonClass()} mb-3`} onClick={() => setAdding(true)}>
          Add a connection
        </button>
      )}
      <AddConnection open={adding} onOpenChange={setAdding} />
      <Loaded query={connections} what="the connections" rows={2}>
        {(list) =>
          list.length === 0 ? (
            <Empty>
              No connections. A connection lets dataset.ingest read a PostgreSQL table or query
              (docs/datasets.md).
            </Empty>
          ) : (
            <Table
              columns={[
                "Name",
                "Application",
                "Where",
                "User",
                "Password",
                { label: "Actions", hidden: true },
              ]}
            >
              <tbody>
                {list.map((c) => (
                  <ConnectionRow key={c.id} connection={c} writer={writer} />
                ))}
              </tbody>
            </Table>
          )
        }
      </Loaded>
    </Card>
  );
}

function ConnectionRow({ connection: c, writer }: { connection: Connection; writer: boolean }) {
  const client = useQueryClient();
  const path = { params: { path: { connection_id: c.id } } };
  const test = useMutation({
    mutationFn: () => call(() => api.POST("/api/connections/{connection_id}/test", path)),
  });
  const tables = useMutation({
    mutationFn: () => call(() => api.GET("/api/connections/{connection_id}/tables", path)),
  });
  const remove = useMutation({
    mutationFn: () => call(() => api.DELETE("/api/connections/{connection_id}", path)),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["connections"] }),
  });
  return (
    <>
      <tr data-connection={c.name} className="border-b border-slate-100 dark:border-slate-800">
        <td className="py-2 font-medium">{c.name}</td>
        <td>{c.applicationName}</td>
        <td className="font-mono text-xs">
          {c.host}:{c.port}/{c.database}
        </td>
        <td>{c.username}</td>
        <td>{c.hasPassword ? "set" : "none"}</td>
        <td className="space-x-2 text-right whitespace-nowrap">
          {writer && (
            <button
              className={buttonClass("default", true)}
              onClick={() => test.mutate()}
              disabled={test.isPending}
            >
              Test
            </button>
          )}
          <button
            className={buttonClass("default", true)}
            onClick={() => tables.mutate()}
            disabled={tables.isPending}
          >
            Tables
          </button>
          {writer && (
            <ConfirmButton
              small
              kind="danger"
              label="Remove"
              title={`Remove the connection ${c.name}?`}
              description="Stages that read from it will fail until a connection of that name is added again."
              onConfirm={() => remove.mutate()}
            />
          )}
        </td>
      </tr>
      {(test.data || test.error || tables.data || tables.error || remove.error) && (
        <tr>
          <td colSpan={6} className="pb-3 text-sm">
            {test.data && (
              <p role="status">
                Connected: PostgreSQL {test.data.serverVersion}, in {test.data.latencyMs} ms.
              </p>
            )}
            <ErrorText error={test.error ?? remove.error ?? tables.error} />
            {tables.data && (
              <ul aria-label={`tables of ${c.name}`} className="mt-1 columns-2 font-mono text-xs">
                {tables.data.map((t) => (
                  <li key={`${t.schema}.${t.name}`}>
                    {t.schema}.{t.name}{" "}
                    <span className="text-muted">
                      ({t.kind}, ~{count(t.estimatedRows)} rows)
                    </span>
                  </li>
                ))}
              </ul>
            )}
          </td>
        </tr>
      )}
    </>
  );
}

function AddConnection({ open, onOpenChange }: { open: boolean; onOpenChange: (open: boolean) => void }) {
  const client = useQueryClient();
  const applications = useApplications();
  const [applicationId, setApplicationId] = useState("");
  const chosen = applicationId || applications.data?.[0]?.id || "";
  const [fields, setFields] = useState({
    name: "",
    host: "",
    port: "5432",
    database: "",
    username: "",
    password: "",
  });
  const [sslmode, setSslmode] = useState<Schemas["ConnectionCreate"]["sslmode"]>("prefer");
  const set = (name: keyof typeof fields) => (event: React.ChangeEvent<HTMLInputElement>) =>
    setFields({ ...fields, [name]: event.target.value });
  const add = useMutation({
    mutationFn: () =>
      call(() =>
        api.POST("/api/connections", {
          body: {
            applicationId: chosen,
            kind: "postgresql",
            name: fields.name,
            host: fields.host,
            port: Number(fields.port),
            database: fields.database,
            username: fields.username,
            password: fields.password || null,
            sslmode,
          },
        }),
      ),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["connections"] });
      setFields({ ...fields, password: "" });
      onOpenChange(false);
    },
  });
  const text: Array<[keyof typeof fields, string, string]> = [
    ["name", "Name", "text"],
    ["host", "Host", "text"],
    ["port", "Port", "number"],
    ["database", "Database", "text"],
    ["username", "User", "text"],
    ["password", "Password", "password"],
  ];
  return (
    <Modal open={open} onOpenChange={onOpenChange} title="Add a PostgreSQL connection">
      <form
        className="space-y-3 text-sm"
        onSubmit={(event) => {
          event.preventDefault();
          add.mutate();
        }}
      >
        <label className="block">
          Application <ApplicationSelect value={chosen} onChange={setApplicationId} />
        </label>
        {text.map(([name, label, type]) => (
          <label key={name} className="block">
            {label}{" "}
            <input
              type={type}
              value={fields[name]}
              onChange={set(name)}
              autoComplete={type === "password" ? "new-password" : "off"}
              className={inputClass}
            />
          </label>
        ))}
        <label className="block">
          TLS{" "}
          <select
            value={sslmode}
            onChange={(e) => setSslmode(e.target.value as typeof sslmode)}
            className={inputClass}
          >
            {["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].map((mode) => (
              <option key={mode} value={mode}>
                {mode}
              </option>
            ))}
          </select>
        </label>
        <ErrorText error={add.error} />
        <button type="submit" className={buttonClass("primary")} disabled={add.isPending}>
          Add
        </button>
      </form>
    </Modal>
  );
}
