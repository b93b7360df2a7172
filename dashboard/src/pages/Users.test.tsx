import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi, users } from "../test/render";
import { Users } from "./Users";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const op = {
  ...users.operator,
  disabled: false,
  applicationIds: [],
  mustChangePassword: true,
};

function api(extra: Parameters<typeof stubApi>[0] = {}) {
  return stubApi({
    "GET /api/auth/me": () => answer(200, users.admin),
    "GET /api/users": () => answer(200, [{ ...users.admin, disabled: false, applicationIds: [] }, op]),
    "GET /api/applications": () => answer(200, []),
    ...extra,
  });
}

describe("Users", () => {
  it("marks who has not chosen a password, and makes a reset link once confirmed", async () => {
    const fetch = api({
      "POST /api/users/u3/password-reset": () =>
        answer(201, {
          token: "t0ken",
          path: "/reset-password#token=t0ken",
          url: null,
          expiresAt: "2026-12-05T10:00:00Z",
        }),
    });
    renderAt("/users", "/users", <Users />);
    const row = (await screen.findByText("op@example.com")).closest("tr")!;
    expect(within(row).getByText("password not yet chosen")).toBeTruthy();
    // Not for oneself: one's own password is changed on the Account page.
    const rootRow = screen.getByText("root@example.com").closest("tr")!;
    expect(within(rootRow).queryByRole("button", { name: "Reset password" })).toBeNull();
    fireEvent.click(within(row).getByRole("button", { name: "Reset password" }));
    expect(fetch.mock.calls.some(([r]) => r.method === "POST")).toBe(false);
    fireEvent.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Make the link" }));
    const link = (await screen.findByLabelText("reset link")) as HTMLInputElement;
    expect(link.value).toBe(`${window.location.origin}/reset-password#token=t0ken`);
  });

  it("creates a user who chooses their own password, unless the admin says otherwise", async () => {
    const fetch = api({ "POST /api/users": () => answer(201, op) });
    renderAt("/users", "/users", <Users />);
    fireEvent.click(await screen.findByRole("button", { name: "New user" }));
    const dialog = screen.getByRole("dialog", { name: "New user" });
    const type = (label: string | RegExp, value: string) =>
      fireEvent.change(within(dialog).getByLabelText(label), { target: { value } });
    type("Email", "new@example.com");
    type("Name", "New");
    type(/^Password/, "a-long-enough-password");
    const choose = within(dialog).getByLabelText("They choose their own password at the first login");
    expect((choose as HTMLInputElement).checked).toBe(true);
    fireEvent.click(within(dialog).getByRole("button", { name: "Create user" }));
    await vi.waitFor(() => expect(fetch.mock.calls.some(([r]) => r.method === "POST")).toBe(true));
    const sent = fetch.mock.calls.map(([r]) => r).find((r) => r.method === "POST");
    expect(await sent!.json()).toMatchObject({ email: "new@example.com", mustChangePassword: true });
  });
});
