// Light, dark, or whatever the system prefers; kept in localStorage. index.html applies the
// stored choice before the first paint, so the page never flashes the wrong colours.
import { useCallback, useEffect, useSyncExternalStore } from "react";

export type Theme = "light" | "dark" | "system";
export const THEMES: Array<[Theme, string]> = [
  ["light", "Light"],
  ["dark", "Dark"],
  ["system", "As the system"],
];
const KEY = "plq-theme";

export function storedTheme(): Theme {
  const value = localStorage.getItem(KEY);
  return value === "light" || value === "dark" ? value : "system";
}

export function applyTheme(theme: Theme, prefersDark: boolean): void {
  const dark = theme === "dark" || (theme === "system" && prefersDark);
  document.documentElement.classList.toggle("dark", dark);
  document.documentElement.style.colorScheme = dark ? "dark" : "light";
}

// Every place that shows the choice (the menu, the Account page) shows the same one.
const choosers = new Set<() => void>();

function subscribe(onChange: () => void): () => void {
  choosers.add(onChange);
  return () => choosers.delete(onChange);
}

export function useTheme(): [Theme, (theme: Theme) => void] {
  const theme = useSyncExternalStore(subscribe, storedTheme);
  useEffect(() => {
    const query = window.matchMedia("(prefers-color-scheme: dark)");
    const apply = () => applyTheme(theme, query.matches);
    apply();
    query.addEventListener("change", apply);
    return () => query.removeEventListener("change", apply);
  }, [theme]);
  const choose = useCallback((next: Theme) => {
    if (next === "system") localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, next);
    choosers.forEach((changed) => changed());
  }, []);
  return [theme, choose];
}
