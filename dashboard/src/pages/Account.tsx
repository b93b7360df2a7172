// One's own account: change the password (every other session ends), and the sessions one is
// logged in with, each of which can be ended from here.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";

import { api, call, type Schemas } from "../api/client";
import { NewPasswordFields, newPasswordProblem, PasswordField } from "../components/NewPassword";
import { buttonClass, Card, ConfirmButton, ErrorText, Loaded, PageHeader } from "../components/ui";
import { ago, dateTime } from "../format";
import { useNow } from "../now";
import { useMe } from "../session";
import { THEMES, useTheme } from "../theme";

type LiveSession = Schemas["LiveSessionView"];

export function Account() {
  const me = useMe().data;
  return (
    <section>
      <PageHeader title="Account" />
      <p className="mb-4 text-sm text-muted">
        {me?.name} · {me?.email} · {me?.role}
      </p>
      <div className="grid gap-4 lg:grid-cols-2">
        <PasswordForm />
        <Sessions />
        <ThemeChoice />
      </div>
    </section>
  );
}

type PasswordFormProps = {
  // What the current password is called: "Current password", or the one someone gave you.
  currentLabel?: string;
  // After the change: the first login's screen lets the user in.
  onChanged?: () => void;
};

export function PasswordForm({ currentLabel = "Current password", onChanged }: PasswordFormProps) {
  const client = useQueryClient();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const change = useMutation({
    mutationFn: (body: Schemas["PasswordChange"]) => call(() => api.POST("/api/auth/password", { body })),
    onSuccess: () => {
      setCurrent("");
      setNext("");
      setAgain("");
      onChanged?.();
      return client.invalidateQueries({ queryKey: ["sessions"] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    change.reset();
    const wrong = newPasswordProblem(next, again);
    setProblem(wrong);
    if (!wrong) change.mutate({ currentPassword: current, newPassword: next });
  };
  const ended = change.data?.sessionsEnded;
  return (
    <Card title="Password">
      <form onSubmit={submit} className="space-y-3 text-sm" aria-label="change password">
        <PasswordField
          label={currentLabel}
          autoComplete="current-password"
          value={current}
          onChange={setCurrent}
        />
        <NewPasswordFields next={next} again={again} onNext={setNext} onAgain={setAgain} />
        <ErrorText error={problem ?? change.error} />
        {ended !== undefined && (
          <p role="status" className="text-emerald-700 dark:text-emerald-300">
            Password changed.{" "}
            {ended === 0
              ? "You were logged in nowhere else."
              : `${ended === 1 ? "1 other session" : `${ended} other sessions`} ended.`}
          </p>
        )}
        <button type="submit" className={buttonClass("primary")} disabled={change.isPending}>
          Change password
        </button>
      </form>
    </Card>
  );
}

function Sessions() {
  const client = useQueryClient();
  const now = useNow(30_000);
  const sessions = useQuery({
    queryKey: ["sessions"],
    queryFn: () => call(() => api.GET("/api/auth/sessions")),
  });
  const end = useMutation({
    mutationFn: (session: LiveSession) =>
      call(() =>
        api.DELETE("/api/auth/sessions/{session_id}", { params: { path: { session_id: session.id } } }),
      ),
    onSuccess: (_, session) => {
      if (session.current) {
        // This session ended: back to the login page.
        client.clear();
        client.setQueryData(["me"], null);
        return;
      }
      return client.invalidateQueries({ queryKey: ["sessions"] });
    },
  });
  return (
    <Card title="Sessions">
      <ErrorText error={end.error} className="mb-2" />
      <Loaded query={sessions} what="sessions" rows={2}>
        {(page) => (
          <ul aria-label="sessions" className="divide-y divide-slate-100 text-sm dark:divide-slate-800">
            {page.items.map((session) => (
              <li key={session.id} data-session={session.id} className="flex items-center gap-3 py-2">
                <span className="min-w-0 flex-1">
                  <span className="flex items-baseline gap-2">
                    {session.current && (
                      <span className="shrink-0 rounded bg-sky-100 px-1.5 text-xs font-medium text-sky-800 dark:bg-sky-900 dark:text-sky-100">
                        this one
                      </span>
                    )}
                    <span className="truncate" title={session.userAgent ?? ""}>
                      {session.userAgent || "an unnamed client"}
                    </span>
                  </span>
                  <span className="text-xs text-muted">
                    {session.client ?? "unknown address"} · used {ago(session.refreshedAt, now)} · since{" "}
                    {dateTime(session.createdAt)}
                  </span>
                </span>
                <ConfirmButton
                  label={session.current ? "Log out" : "End"}
                  title={session.current ? "Log out here?" : "End this session?"}
                  description={
                    session.current
                      ? "You will be logged out of this browser."
                      : "That browser is logged out at once, and has to log in again."
                  }
                  kind="danger"
                  small
                  disabled={end.isPending}
                  onConfirm={() => end.mutate(session)}
                />
              </li>
            ))}
          </ul>
        )}
      </Loaded>
    </Card>
  );
}

/** The same choice as in the menu under one's name; kept in this browser. */
function ThemeChoice() {
  const [theme, setTheme] = useTheme();
  return (
    <Card title="Theme">
      <fieldset className="flex flex-wrap gap-4 text-sm">
        <legend className="sr-only">Theme</legend>
        {THEMES.map(([value, label]) => (
          <label key={value} className="flex items-center gap-2">
            <input
              type="radio"
              name="theme"
              value={value}
              checked={theme === value}
              onChange={() => setTheme(value)}
            />
            {label}
          </label>
        ))}
      </fieldset>
      <p className="mt-2 text-xs text-muted">Kept in this browser.</p>
    </Card>
  );
}
