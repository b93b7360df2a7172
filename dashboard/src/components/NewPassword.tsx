// Choosing a password, wherever it is done (one's account, the first login, a reset link):
// the same fields and the same rule, said before the request is sent.
import type { ReactNode } from "react";

import { inputClass } from "./ui";

// The server's own rule (422 weak_password below it).
export const MIN_PASSWORD = 12;

/** What is wrong with a new password and its repetition; null when nothing is. */
export function newPasswordProblem(next: string, again: string): string | null {
  if (next.length < MIN_PASSWORD) return `The new password needs at least ${MIN_PASSWORD} characters.`;
  if (next !== again) return "The new password and its repetition differ.";
  return null;
}

export function PasswordField({
  label,
  autoComplete,
  value,
  onChange,
}: {
  label: ReactNode;
  autoComplete: "current-password" | "new-password";
  value: string;
  onChange: (value: string) => void;
}) {
  return (
    <label className="block">
      {label}
      <input
        type="password"
        autoComplete={autoComplete}
        required
        value={value}
        onChange={(e) => onChange(e.target.value)}
        className={`${inputClass} mt-1 w-full`}
      />
    </label>
  );
}

/** The new password, and again: a typo is caught before it locks the user out. */
export function NewPasswordFields({
  next,
  again,
  onNext,
  onAgain,
}: {
  next: string;
  again: string;
  onNext: (value: string) => void;
  onAgain: (value: string) => void;
}) {
  return (
    <>
      <PasswordField
        label={
          <>
            New password <span className="text-muted">(at least {MIN_PASSWORD} characters)</span>
          </>
        }
        autoComplete="new-password"
        value={next}
        onChange={onNext}
      />
      <PasswordField
        label="New password, again"
        autoComplete="new-password"
        value={again}
        onChange={onAgain}
      />
    </>
  );
}
