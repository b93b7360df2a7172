// The frame around every page once logged in: navigation (only what the role may use), the
// live connection's state, and the user's menu with the theme and logging out.
import { useQueryClient } from "@tanstack/react-query";
import { DropdownMenu } from "radix-ui";
import { Link, Navigate, NavLink, Outlet, useLocation } from "react-router";

import { useLiveUpdates } from "../live";
import { may } from "../permissions";
import { useAlertCounts, usePendingApprovals } from "../queries";
import { useLogout, useMe } from "../session";
import { ChoosePassword } from "../pages/ChoosePassword";
import { type Theme, THEMES, useTheme } from "../theme";

const PAGES: Array<{ to: string; label: string; admin?: boolean }> = [
  { to: "/", label: "Overview" },
  { to: "/pipelines", label: "Pipelines" },
  { to: "/definitions", label: "Definitions" },
  { to: "/schedules", label: "Schedules" },
  { to: "/datasets", label: "Datasets" },
  { to: "/approvals", label: "Approvals" },
  { to: "/alerts", label: "Alerts" },
  { to: "/workers", label: "Workers" },
  { to: "/logs", label: "Logs" },
  { to: "/insights", label: "Insights" },
  { to: "/policies", label: "Policies" },
  { to: "/applications", label: "Applications", admin: true },
  { to: "/users", label: "Users", admin: true },
  { to: "/audit", label: "Audit log", admin: true },
  { to: "/housekeeping", label: "Housekeeping", admin: true },
];

const LIVE = {
  live: ["bg-green-500", "Live"],
  connecting: ["bg-slate-400", "Connecting"],
  offline: ["bg-amber-500", "Reconnecting"],
} as const;

/** How many approvals wait for a decision, beside the page's name; nothing when none do. */
function WaitingCount() {
  const waiting = usePendingApprovals().data?.items.length ?? 0;
  if (!waiting) return null;
  return (
    <span
      aria-label={`${waiting} waiting`}
      className="ml-1 rounded-full bg-amber-500 px-1.5 text-xs font-semibold text-white dark:bg-amber-600"
    >
      {waiting}
    </span>
  );
}

/** How many alerts fire (open, not acknowledged), beside the page's name; nothing when none do. */
function FiringCount() {
  const firing = useAlertCounts().data?.firing ?? 0;
  if (!firing) return null;
  return (
    <span
      aria-label={`${firing} firing`}
      data-firing={firing}
      className="ml-1 rounded-full bg-red-600 px-1.5 text-xs font-semibold text-white dark:bg-red-700"
    >
      {firing}
    </span>
  );
}

const MENU_ITEM =
  "block cursor-pointer rounded px-2 py-1 outline-none data-highlighted:bg-slate-100 dark:data-highlighted:bg-slate-800";

/** The admins' pages, in one menu: the bar keeps to one line on a laptop. */
function AdminMenu({ active }: { active: boolean }) {
  return (
    <DropdownMenu.Root modal={false}>
      <DropdownMenu.Trigger
        className={`rounded px-1.5 py-1 whitespace-nowrap ${active ? "bg-slate-100 font-medium dark:bg-slate-800" : "text-slate-600 hover:text-slate-900 dark:text-slate-300 dark:hover:text-white"}`}
      >
        Admin ▾
      </DropdownMenu.Trigger>
      <DropdownMenu.Portal>
        <DropdownMenu.Content
          sideOffset={4}
          className="z-50 min-w-40 rounded-md border border-slate-200 bg-white p-1 text-sm shadow-lg dark:border-slate-700 dark:bg-slate-900"
        >
          {PAGES.filter((page) => page.admin).map((page) => (
            <DropdownMenu.Item key={page.to} asChild className={MENU_ITEM}>
              <Link to={page.to}>{page.label}</Link>
            </DropdownMenu.Item>
          ))}
        </DropdownMenu.Content>
      </DropdownMenu.Portal>
    </DropdownMenu.Root>
  );
}

export function Layout() {
  const me = useMe();
  const logout = useLogout();
  const [theme, setTheme] = useTheme();
  const location = useLocation();
  // Nothing is served to a password someone else chose, live updates included.
  const live = useLiveUpdates(useQueryClient(), Boolean(me.data && !me.data.mustChangePassword));
  if (me.isPending) return null;
  if (!me.data) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  if (me.data.mustChangePassword) return <ChoosePassword />;
  const [dot, liveLabel] = LIVE[live];
  return (
    <div className="min-h-screen">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:m-2 focus:rounded focus:bg-sky-700 focus:px-3 focus:py-1 focus:text-white"
      >
        Skip to content
      </a>
      <header className="sticky top-0 z-30 flex flex-wrap items-center gap-x-4 gap-y-2 border-b border-slate-200 bg-white/95 px-4 py-2 backdrop-blur lg:px-6 dark:border-slate-800 dark:bg-slate-950/95">
        <NavLink to="/" className="font-semibold tracking-tight">
          Pipelogiq
        </NavLink>
        <nav aria-label="main" className="-mx-1 flex max-w-full gap-1 overflow-x-auto text-sm">
          {PAGES.filter((page) => !page.admin).map((page) => (
            <NavLink
              key={page.to}
              to={page.to}
              end={page.to === "/"}
              className={({ isActive }) =>
                `rounded px-1.5 py-1 whitespace-nowrap ${isActive ? "bg-slate-100 font-medium dark:bg-slate-800" : "text-slate-600 hover:text-slate-900 dark:text-slate-300 dark:hover:text-white"}`
              }
            >
              {page.label}
              {page.to === "/approvals" && <WaitingCount />}
              {page.to === "/alerts" && <FiringCount />}
            </NavLink>
          ))}
          {may(me.data.role, "administer") && (
            <AdminMenu active={PAGES.some((p) => p.admin && p.to === location.pathname)} />
          )}
        </nav>
        <span
          className="ml-auto flex items-center gap-1.5 text-xs text-muted"
          aria-live="polite"
          data-live={live}
        >
          <span aria-hidden className={`inline-block size-2 rounded-full ${dot}`} />
          {liveLabel}
        </span>
        <DropdownMenu.Root>
          <DropdownMenu.Trigger
            className="rounded px-2 py-1 text-sm hover:bg-slate-100 dark:hover:bg-slate-800"
            aria-label="Account and theme"
          >
            {me.data.name} <span className="text-muted">({me.data.role})</span> ▾
          </DropdownMenu.Trigger>
          <DropdownMenu.Portal>
            <DropdownMenu.Content
              align="end"
              sideOffset={4}
              className="z-50 min-w-48 rounded-md border border-slate-200 bg-white p-1 text-sm shadow-lg dark:border-slate-700 dark:bg-slate-900"
            >
              <DropdownMenu.Label className="px-2 py-1 text-xs text-muted">
                {me.data.email}
              </DropdownMenu.Label>
              <DropdownMenu.Item
                asChild
                className="block cursor-pointer rounded px-2 py-1 outline-none data-highlighted:bg-slate-100 dark:data-highlighted:bg-slate-800"
              >
                <Link to="/account">Account: password and sessions</Link>
              </DropdownMenu.Item>
              <DropdownMenu.Separator className="my-1 h-px bg-slate-200 dark:bg-slate-700" />
              <DropdownMenu.Label className="px-2 py-1 text-xs text-muted">Theme</DropdownMenu.Label>
              <DropdownMenu.RadioGroup value={theme} onValueChange={(value) => setTheme(value as Theme)}>
                {THEMES.map(([value, label]) => (
                  <DropdownMenu.RadioItem
                    key={value}
                    value={value}
                    className="flex cursor-pointer items-center rounded px-2 py-1 outline-none data-highlighted:bg-slate-100 dark:data-highlighted:bg-slate-800"
                  >
                    <span className="w-4">
                      <DropdownMenu.ItemIndicator>✓</DropdownMenu.ItemIndicator>
                    </span>
                    {label}
                  </DropdownMenu.RadioItem>
                ))}
              </DropdownMenu.RadioGroup>
              <DropdownMenu.Separator className="my-1 h-px bg-slate-200 dark:bg-slate-700" />
              <DropdownMenu.Item
                onSelect={() => logout.mutate()}
                className="cursor-pointer rounded px-2 py-1 outline-none data-highlighted:bg-slate-100 dark:data-highlighted:bg-slate-800"
              >
                Log out
              </DropdownMenu.Item>
            </DropdownMenu.Content>
          </DropdownMenu.Portal>
        </DropdownMenu.Root>
      </header>
      <main id="main" className="mx-auto max-w-screen-2xl px-4 py-4 lg:px-6">
        <Outlet />
      </main>
    </div>
  );
}
