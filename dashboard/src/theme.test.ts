import { act, cleanup, renderHook } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { useTheme } from "./theme";

let prefersDark = false;
let listeners: Array<() => void> = [];

beforeEach(() => {
  localStorage.clear();
  listeners = [];
  vi.stubGlobal("matchMedia", () => ({
    get matches() {
      return prefersDark;
    },
    addEventListener: (_: string, listener: () => void) => listeners.push(listener),
    removeEventListener: () => {},
  }));
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const dark = () => document.documentElement.classList.contains("dark");

describe("useTheme", () => {
  it("follows the system until the user chooses, and remembers the choice", () => {
    prefersDark = true;
    const { result } = renderHook(() => useTheme());
    expect(result.current[0]).toBe("system");
    expect(dark()).toBe(true);
    // The system turns light: so does the page.
    prefersDark = false;
    act(() => listeners.forEach((listener) => listener()));
    expect(dark()).toBe(false);

    act(() => result.current[1]("dark"));
    expect(dark()).toBe(true);
    expect(localStorage.getItem("plq-theme")).toBe("dark");
    // A new page starts with the choice.
    expect(renderHook(() => useTheme()).result.current[0]).toBe("dark");

    // Wherever else the choice is shown, it is the same one.
    const elsewhere = renderHook(() => useTheme());
    act(() => result.current[1]("light"));
    expect(elsewhere.result.current[0]).toBe("light");

    act(() => result.current[1]("system"));
    expect(localStorage.getItem("plq-theme")).toBeNull();
    expect(dark()).toBe(false);
  });
});
