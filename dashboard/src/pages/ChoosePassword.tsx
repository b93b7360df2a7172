// The first login with a password someone else chose (the first start's printed one, or an
// admin's): the API serves nothing else until the user chooses their own, so neither does the
// page.
import { useQueryClient } from "@tanstack/react-query";

import { buttonClass } from "../components/ui";
import { useLogout, useMe } from "../session";
import { PasswordForm } from "./Account";

export function ChoosePassword() {
  const client = useQueryClient();
  const me = useMe().data;
  const logout = useLogout();
  return (
    <main id="main" className="mx-auto mt-16 max-w-md p-6">
      <h1 className="mb-2 text-2xl font-semibold">Choose your password</h1>
      <p className="mb-4 text-sm text-muted">
        {me?.email} was given a password by someone else. Choose your own to go on: the one you logged in with
        stops working.
      </p>
      <PasswordForm
        currentLabel="The password you were given"
        onChanged={() => void client.invalidateQueries({ queryKey: ["me"] })}
      />
      <button className={`${buttonClass()} mt-4`} onClick={() => logout.mutate()}>
        Log out
      </button>
    </main>
  );
}
