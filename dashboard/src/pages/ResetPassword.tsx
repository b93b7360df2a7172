// Where an admin's one-time link leads: /reset-password#token=…. The secret rides in the
// fragment, which the browser never sends to a server, so no log or Referer holds it.
import { useMutation } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Navigate, useLocation } from "react-router";

import { api, call, Problem } from "../api/client";
import { NewPasswordFields, newPasswordProblem } from "../components/NewPassword";
import { buttonClass, ErrorText } from "../components/ui";

export function ResetPassword() {
  const token = new URLSearchParams(useLocation().hash.slice(1)).get("token") ?? "";
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const reset = useMutation({
    mutationFn: () =>
      call(() => api.POST("/api/auth/password-reset", { body: { token, newPassword: next } })),
  });
  if (reset.data) {
    return <Navigate to="/login" replace state={{ email: reset.data.email, passwordSet: true }} />;
  }
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const wrong = newPasswordProblem(next, again);
    setProblem(wrong);
    if (!wrong) reset.mutate();
  };
  const dead = reset.error instanceof Problem && reset.error.code === "reset_link_invalid";
  return (
    <main className="mx-auto mt-24 max-w-sm p-6">
      <h1 className="mb-2 text-2xl font-semibold">Set a new password</h1>
      {token ? (
        <form onSubmit={submit} className="space-y-3 text-sm" aria-label="set a new password">
          <p className="text-muted">The link works once. Every session you have ends.</p>
          <NewPasswordFields next={next} again={again} onNext={setNext} onAgain={setAgain} />
          <ErrorText
            error={
              problem ??
              (dead ? "This link is unknown, used or expired: ask an admin for a new one." : reset.error)
            }
          />
          <button type="submit" className={`${buttonClass("primary")} w-full`} disabled={reset.isPending}>
            Set password
          </button>
        </form>
      ) : (
        <p role="alert" className="text-sm">
          This address holds no link. Open the whole link an admin gave you.
        </p>
      )}
    </main>
  );
}
