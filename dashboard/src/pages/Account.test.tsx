import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi, users } from "../test/render";
import { Account } from "./Account";

// jsdom has no matchMedia; the theme's choice needs it to exist.
beforeEach(() => {
  localStorage.clear();
  vi.stubGlobal("matchMedia", () => ({ matches: false, addEventListener() {}, removeEventListener() {} }));
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const at = "2026-12-04T10:00:00Z";
const here = {
  id: "s1",
  createdAt: at,
  refreshedAt: at,
  expiresAt: "2026-12-11T10:00:00Z",
  client: "127.0.0.1",
  userAgent: "Firefox on this laptop",
  current: true,
};
const phone = { ...here, id: "s2", userAgent: "Safari on a phone", current: false };

function api(extra: Parameters<typeof stubApi>[0] = {}) {
  return stubApi({
    "GET /api/auth/me": () => answer(200, users.developer),
    "GET /api/auth/sessions": () => answer(200, { items: [here, phone] }),
    ...extra,
  });
}

const fill = (label: RegExp, value: string) =>
  fireEvent.change(screen.getByLabelText(label), { target: { value } });

describe("Account", () => {
  it("changes the password and says how many other sessions ended", async () => {
    const fetch = api({ "POST /api/auth/password": () => answer(200, { sessionsEnded: 1 }) });
    renderAt("/account", "/account", <Account />);
    fill(/^Current password/, "the-old-password");
    fill(/^New password \(/, "a-brand-new-password");
    fill(/^New password, again/, "a-brand-new-password");
    fireEvent.click(screen.getByRole("button", { name: "Change password" }));
    expect(await screen.findByText("Password changed. 1 other session ended.")).toBeTruthy();
    const sent = fetch.mock.calls.map(([r]) => r).find((r) => r.method === "POST");
    expect(await sent!.json()).toEqual({
      currentPassword: "the-old-password",
      newPassword: "a-brand-new-password",
    });
  });

  it("says what is wrong before sending, and the server's reason after", async () => {
    const fetch = api({
      "POST /api/auth/password": () =>
        answer(403, { code: "wrong_password", detail: "the current password is not right", status: 403 }),
    });
    renderAt("/account", "/account", <Account />);
    fill(/^Current password/, "a-wrong-one");
    fill(/^New password \(/, "short");
    fill(/^New password, again/, "short");
    fireEvent.click(screen.getByRole("button", { name: "Change password" }));
    expect((await screen.findByRole("alert")).textContent).toBe(
      "The new password needs at least 12 characters.",
    );
    fill(/^New password \(/, "a-brand-new-password");
    fireEvent.click(screen.getByRole("button", { name: "Change password" }));
    expect((await screen.findByRole("alert")).textContent).toBe(
      "The new password and its repetition differ.",
    );
    expect(fetch.mock.calls.some(([r]) => r.method === "POST")).toBe(false);
    fill(/^New password, again/, "a-brand-new-password");
    fireEvent.click(screen.getByRole("button", { name: "Change password" }));
    await vi.waitFor(() =>
      expect(screen.getByRole("alert").textContent).toContain("the current password is not right"),
    );
  });

  it("lists the sessions, this one marked, and ends another once confirmed", async () => {
    const fetch = api({ "DELETE /api/auth/sessions/s2": () => answer(204, null) });
    renderAt("/account", "/account", <Account />);
    const list = await screen.findByRole("list", { name: "sessions" });
    const [mine, other] = within(list).getAllByRole("listitem");
    expect(within(mine!).getByText("this one")).toBeTruthy();
    expect(within(mine!).getByText("Firefox on this laptop")).toBeTruthy();
    expect(within(other!).queryByText("this one")).toBeNull();
    expect(within(mine!).getByRole("button", { name: "Log out" })).toBeTruthy();
    fireEvent.click(within(other!).getByRole("button", { name: "End" }));
    fireEvent.click(within(await screen.findByRole("alertdialog")).getByRole("button", { name: "End" }));
    await vi.waitFor(() =>
      expect(
        fetch.mock.calls.some(([r]) => r.method === "DELETE" && r.url.endsWith("/api/auth/sessions/s2")),
      ).toBe(true),
    );
  });

  it("chooses the theme, the same choice the menu shows", () => {
    api();
    renderAt("/account", "/account", <Account />);
    const dark = screen.getByRole("radio", { name: "Dark" });
    fireEvent.click(dark);
    expect(document.documentElement.classList.contains("dark")).toBe(true);
    expect(localStorage.getItem("plq-theme")).toBe("dark");
    fireEvent.click(screen.getByRole("radio", { name: "As the system" }));
    expect(document.documentElement.classList.contains("dark")).toBe(false);
    expect(localStorage.getItem("plq-theme")).toBeNull();
  });
});
