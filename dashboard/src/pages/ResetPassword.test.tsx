import { cleanup, fireEvent, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi } from "../test/render";
import { ResetPassword } from "./ResetPassword";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const fill = (label: RegExp, value: string) =>
  fireEvent.change(screen.getByLabelText(label), { target: { value } });

function choose(password: string) {
  fill(/^New password \(/, password);
  fill(/^New password, again/, password);
  fireEvent.click(screen.getByRole("button", { name: "Set password" }));
}

describe("ResetPassword", () => {
  it("sets the password with the link's token, then sends the user to log in", async () => {
    const fetch = stubApi({
      "POST /api/auth/password-reset": () => answer(200, { email: "op@example.com" }),
    });
    renderAt("/reset-password#token=s3cret", "/reset-password", <ResetPassword />);
    choose("a-password-of-my-own");
    expect(await screen.findByText("elsewhere")).toBeTruthy(); // the login page
    const [request] = fetch.mock.calls.map(([r]) => r);
    expect(await request!.json()).toEqual({ token: "s3cret", newPassword: "a-password-of-my-own" });
  });

  it("says a dead link is dead, and sends nothing for a weak password", async () => {
    const fetch = stubApi({
      "POST /api/auth/password-reset": () =>
        answer(422, { code: "reset_link_invalid", detail: "this link is unknown", status: 422 }),
    });
    renderAt("/reset-password#token=old", "/reset-password", <ResetPassword />);
    choose("short");
    expect((await screen.findByRole("alert")).textContent).toBe(
      "The new password needs at least 12 characters.",
    );
    expect(fetch).not.toHaveBeenCalled();
    choose("a-password-of-my-own");
    await vi.waitFor(() =>
      expect(screen.getByRole("alert").textContent).toBe(
        "This link is unknown, used or expired: ask an admin for a new one.",
      ),
    );
  });

  it("says so when the address holds no token", () => {
    stubApi({});
    renderAt("/reset-password", "/reset-password", <ResetPassword />);
    expect(screen.getByRole("alert").textContent).toContain("holds no link");
    expect(screen.queryByRole("button", { name: "Set password" })).toBeNull();
  });
});
