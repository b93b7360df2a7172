// Users, for admins: create them, change their role, disable them, and choose the
// applications a developer or operator sees.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";

import { api, call, type Schemas } from "../api/client";
import {
  buttonClass,
  ConfirmButton,
  ErrorText,
  inputClass,
  Loaded,
  Modal,
  PageHeader,
  Table,
} from "../components/ui";
import { dateTime } from "../format";
import type { Role } from "../permissions";
import { useApplications } from "../queries";
import { useMe } from "../session";

type User = Schemas["UserDetail"];
const ROLES: Role[] = ["admin", "developer", "operator"];

export function Users() {
  const me = useMe().data;
  const client = useQueryClient();
  const users = useQuery({ queryKey: ["users"], queryFn: () => call(() => api.GET("/api/users")) });
  const applications = useApplications();
  const [creating, setCreating] = useState(false);
  const [members, setMembers] = useState<User | null>(null);
  const change = useMutation({
    mutationFn: ({ user, body }: { user: User; body: Schemas["UserChange"] }) =>
      call(() => api.PATCH("/api/users/{user_id}", { params: { path: { user_id: user.id } }, body })),
    onSettled: () => client.invalidateQueries({ queryKey: ["users"] }),
  });
  const reset = useMutation({
    mutationFn: (user: User) =>
      call(() =>
        api.POST("/api/users/{user_id}/password-reset", { params: { path: { user_id: user.id } } }),
      ).then((link) => ({ user, link })),
  });
  const names = new Map(applications.data?.map((a) => [a.id, a.displayName ?? a.name]));
  return (
    <section>
      <PageHeader title="Users">
        <button className={buttonClass("primary")} onClick={() => setCreating(true)}>
          New user
        </button>
      </PageHeader>
      <ErrorText error={change.error ?? reset.error} className="mb-2" />
      <Loaded query={users} what="users">
        {(list) => (
          <Table
            columns={["Name", "Email", "Role", "Applications", { label: "Actions", hidden: true }]}
            minWidth="48rem"
          >
            <tbody>
              {list.map((user) => (
                <tr
                  key={user.id}
                  data-user={user.email}
                  className={`border-b border-slate-100 dark:border-slate-800 ${user.disabled ? "text-muted" : ""}`}
                >
                  <td className="py-2 font-medium">
                    {user.name}
                    {user.disabled && <span className="ml-2 text-xs">(disabled)</span>}
                    {user.mustChangePassword && (
                      <span
                        className="ml-2 rounded bg-amber-100 px-1.5 text-xs font-normal text-amber-900 dark:bg-amber-900 dark:text-amber-100"
                        title="They log in with a password someone else chose, and must choose their own"
                      >
                        password not yet chosen
                      </span>
                    )}
                  </td>
                  <td>{user.email}</td>
                  <td>
                    <select
                      aria-label={`role of ${user.email}`}
                      value={user.role}
                      disabled={change.isPending}
                      onChange={(e) => change.mutate({ user, body: { role: e.target.value as Role } })}
                      className={inputClass}
                    >
                      {ROLES.map((role) => (
                        <option key={role}>{role}</option>
                      ))}
                    </select>
                  </td>
                  <td className="text-xs">
                    {user.role === "admin"
                      ? "all"
                      : user.applicationIds.map((id) => names.get(id) ?? id).join(", ") || "none"}
                  </td>
                  <td className="space-x-2 text-right whitespace-nowrap">
                    {user.role !== "admin" && (
                      <button className={buttonClass("default", true)} onClick={() => setMembers(user)}>
                        Applications
                      </button>
                    )}
                    {user.id !== me?.id && (
                      <ConfirmButton
                        label="Reset password"
                        title={`A reset link for ${user.email}?`}
                        description="A link that sets a new password, once, within 24 hours; a link made before stops working. Their password works until the link is used."
                        confirmLabel="Make the link"
                        small
                        disabled={reset.isPending}
                        onConfirm={() => reset.mutate(user)}
                      />
                    )}
                    {user.id !== me?.id && (
                      <button
                        className={buttonClass(user.disabled ? "default" : "danger", true)}
                        disabled={change.isPending}
                        onClick={() => change.mutate({ user, body: { disabled: !user.disabled } })}
                      >
                        {user.disabled ? "Enable" : "Disable"}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </Loaded>
      {reset.data && <ResetLink {...reset.data} onClose={() => reset.reset()} />}
      {creating && <NewUser onClose={() => setCreating(false)} />}
      {members && (
        <Memberships user={members} applications={applications.data ?? []} onClose={() => setMembers(null)} />
      )}
    </section>
  );
}

function NewUser({ onClose }: { onClose: () => void }) {
  const client = useQueryClient();
  // A password the admin chose is known to two people: by default it only serves to choose
  // one's own at the first login.
  const [form, setForm] = useState({
    email: "",
    name: "",
    role: "operator" as Role,
    password: "",
    mustChangePassword: true,
  });
  const create = useMutation({
    mutationFn: () => call(() => api.POST("/api/users", { body: form })),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["users"] });
      onClose();
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  const field = (key: "email" | "name" | "password", label: string, type = "text") => (
    <label className="block text-sm">
      {label}
      <input
        type={type}
        required
        minLength={key === "password" ? 12 : 1}
        autoComplete={key === "password" ? "new-password" : "off"}
        value={form[key]}
        onChange={(e) => setForm({ ...form, [key]: e.target.value })}
        className={`${inputClass} mt-1 block w-full`}
      />
    </label>
  );
  return (
    <Modal open onOpenChange={(open) => !open && onClose()} title="New user">
      <form onSubmit={submit} className="space-y-3">
        {field("email", "Email", "email")}
        {field("name", "Name")}
        <label className="block text-sm">
          Role
          <select
            value={form.role}
            onChange={(e) => setForm({ ...form, role: e.target.value as Role })}
            className={`${inputClass} mt-1 block w-full`}
          >
            {ROLES.map((role) => (
              <option key={role}>{role}</option>
            ))}
          </select>
        </label>
        {field("password", "Password (12 characters or more)", "password")}
        <label className="flex items-center gap-2 text-sm">
          <input
            type="checkbox"
            checked={form.mustChangePassword}
            onChange={(e) => setForm({ ...form, mustChangePassword: e.target.checked })}
          />
          They choose their own password at the first login
        </label>
        <ErrorText error={create.error} />
        <div className="flex justify-end gap-2">
          <button type="button" className={buttonClass()} onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className={buttonClass("primary")} disabled={create.isPending}>
            Create user
          </button>
        </div>
      </form>
    </Modal>
  );
}

function Memberships({
  user,
  applications,
  onClose,
}: {
  user: User;
  applications: Schemas["ApplicationView"][];
  onClose: () => void;
}) {
  const client = useQueryClient();
  const [chosen, setChosen] = useState(() => new Set(user.applicationIds));
  const save = useMutation({
    mutationFn: () =>
      call(() =>
        api.PUT("/api/users/{user_id}/applications", {
          params: { path: { user_id: user.id } },
          body: { applicationIds: [...chosen] },
        }),
      ),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["users"] });
      onClose();
    },
  });
  return (
    <Modal open onOpenChange={(open) => !open && onClose()} title={`Applications ${user.name} sees`}>
      <fieldset className="max-h-72 space-y-1 overflow-auto text-sm">
        <legend className="sr-only">Applications</legend>
        {applications.map((a) => (
          <label key={a.id} className="flex items-center gap-2">
            <input
              type="checkbox"
              checked={chosen.has(a.id)}
              onChange={() => {
                const next = new Set(chosen);
                if (next.has(a.id)) next.delete(a.id);
                else next.add(a.id);
                setChosen(next);
              }}
            />
            {a.displayName ?? a.name}
          </label>
        ))}
      </fieldset>
      <ErrorText error={save.error} className="mt-2" />
      <div className="mt-4 flex justify-end gap-2">
        <button type="button" className={buttonClass()} onClick={onClose}>
          Cancel
        </button>
        <button className={buttonClass("primary")} disabled={save.isPending} onClick={() => save.mutate()}>
          Save
        </button>
      </div>
    </Modal>
  );
}

/** The link, shown once: only its hash is kept. The admin hands it to the user. */
function ResetLink({
  user,
  link,
  onClose,
}: {
  user: User;
  link: Schemas["ResetLinkView"];
  onClose: () => void;
}) {
  const address = link.url ?? `${window.location.origin}${link.path}`;
  const [copied, setCopied] = useState(false);
  return (
    <Modal open onOpenChange={(open) => !open && onClose()} title={`Reset link for ${user.email}`}>
      <p className="mb-2 text-sm">
        Give this link to {user.name} by a way you trust. It is shown only now, works once, and until{" "}
        {dateTime(link.expiresAt)}.
      </p>
      <input
        readOnly
        aria-label="reset link"
        value={address}
        onFocus={(e) => e.target.select()}
        className={`${inputClass} w-full font-mono text-xs`}
      />
      <div className="mt-4 flex justify-end gap-2">
        <button
          className={buttonClass()}
          onClick={() => void navigator.clipboard?.writeText(address).then(() => setCopied(true))}
        >
          {copied ? "Copied" : "Copy"}
        </button>
        <button className={buttonClass("primary")} onClick={onClose}>
          Done
        </button>
      </div>
    </Modal>
  );
}
