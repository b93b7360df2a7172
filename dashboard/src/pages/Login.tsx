import { type FormEvent, useState } from "react";
import { Navigate, useLocation } from "react-router";

import { Problem } from "../api/client";
import { ErrorText } from "../components/ui";
import { useLogin, useMe } from "../session";

const MESSAGES: Record<string, string> = {
  invalid_credentials: "Wrong email or password.",
  login_throttled: "Too many failed attempts. Wait a moment, then try again.",
};

export function Login() {
  const me = useMe();
  const login = useLogin();
  // Back to the page that sent us here, once logged in; or from a reset link, whose email
  // is filled in.
  const state = useLocation().state as { from?: string; email?: string; passwordSet?: boolean } | null;
  const from = state?.from ?? "/";
  const [email, setEmail] = useState(state?.email ?? "");
  const [password, setPassword] = useState("");
  if (me.data) return <Navigate to={from} replace />;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    login.mutate({ email, password });
  };
  const error = login.error instanceof Problem ? login.error : null;
  return (
    <main className="mx-auto mt-24 max-w-sm p-6">
      <h1 className="mb-6 text-2xl font-semibold">Pipelogiq</h1>
      {state?.passwordSet && (
        <p role="status" className="mb-4 text-sm text-emerald-700 dark:text-emerald-300">
          Your new password is set: log in with it.
        </p>
      )}
      <form onSubmit={submit} className="space-y-4">
        <Field
          label="Email"
          name="email"
          type="email"
          autoComplete="username"
          value={email}
          onChange={setEmail}
        />
        <Field
          label="Password"
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={setPassword}
        />
        <ErrorText error={error && (MESSAGES[error.code] ?? error.message)} />
        <button
          type="submit"
          disabled={login.isPending}
          className="w-full rounded bg-slate-900 px-3 py-2 text-white disabled:opacity-50 dark:bg-slate-100 dark:text-slate-900"
        >
          {login.isPending ? "Logging in…" : "Log in"}
        </button>
      </form>
    </main>
  );
}

type FieldProps = {
  label: string;
  name: string;
  type: string;
  autoComplete: string;
  value: string;
  onChange: (value: string) => void;
};

function Field({ label, name, type, autoComplete, value, onChange }: FieldProps) {
  return (
    <label className="block">
      <span className="text-sm">{label}</span>
      <input
        name={name}
        type={type}
        autoComplete={autoComplete}
        required
        value={value}
        onChange={(e) => onChange(e.target.value)}
        className="mt-1 block w-full rounded border border-slate-300 bg-transparent px-3 py-2"
      />
    </label>
  );
}
