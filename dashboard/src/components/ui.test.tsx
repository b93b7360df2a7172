import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { ConfirmButton, Loaded, PageNav } from "./ui";

afterEach(cleanup);

describe("ConfirmButton", () => {
  it("acts only once the dialog is confirmed", async () => {
    const onConfirm = vi.fn();
    render(<ConfirmButton label="Cancel pipeline" title="Cancel nightly?" onConfirm={onConfirm} />);
    fireEvent.click(screen.getByRole("button", { name: "Cancel pipeline" }));
    const dialog = await screen.findByRole("alertdialog", { name: "Cancel nightly?" });
    fireEvent.click(within(dialog).getByRole("button", { name: "Keep as it is" }));
    expect(screen.queryByRole("alertdialog")).toBeNull();
    expect(onConfirm).not.toHaveBeenCalled();

    fireEvent.click(screen.getByRole("button", { name: "Cancel pipeline" }));
    const again = await screen.findByRole("alertdialog");
    fireEvent.click(within(again).getByRole("button", { name: "Cancel pipeline" }));
    expect(screen.queryByRole("alertdialog")).toBeNull();
    expect(onConfirm).toHaveBeenCalledTimes(1);
  });

  it("cannot be opened while disabled", () => {
    render(<ConfirmButton label="Skip" title="Skip it?" onConfirm={vi.fn()} disabled />);
    fireEvent.click(screen.getByRole("button", { name: "Skip" }));
    expect(screen.queryByRole("alertdialog")).toBeNull();
  });
});

describe("Loaded", () => {
  const base = { isPending: false, isError: false, error: null, data: undefined };

  it("shows bars while loading, the error when it failed, and the content once there", () => {
    const { rerender } = render(
      <Loaded query={{ ...base, isPending: true }} what="workers">
        {() => "content"}
      </Loaded>,
    );
    expect(screen.getByRole("status", { name: "Loading workers" })).toBeTruthy();
    rerender(
      <Loaded query={{ ...base, isError: true, error: new Error("boom") }} what="workers">
        {() => "content"}
      </Loaded>,
    );
    expect(screen.getByRole("alert").textContent).toBe("Could not load workers: boom");
    rerender(
      <Loaded query={{ ...base, data: [1, 2] }} what="workers">
        {(data) => `${data.length} rows`}
      </Loaded>,
    );
    expect(screen.getByText("2 rows")).toBeTruthy();
  });
});

describe("PageNav", () => {
  it("goes one page newer or older from where it is", () => {
    const onOffset = vi.fn();
    render(<PageNav offset={100} size={50} hasMore onOffset={onOffset} />);
    fireEvent.click(screen.getByRole("button", { name: "Newer" }));
    fireEvent.click(screen.getByRole("button", { name: "Older" }));
    expect(onOffset.mock.calls).toEqual([[50], [150]]);
  });
});
