import { useQueryClient } from "@tanstack/react-query";
import { Link, Navigate, Outlet, Route, Routes } from "react-router";

import { useLiveUpdates } from "./live";
import { Applications } from "./pages/Applications";
import { Login } from "./pages/Login";
import { PipelineDetail } from "./pages/PipelineDetail";
import { Pipelines } from "./pages/Pipelines";
import { Workers } from "./pages/Workers";
import { useLogout, useMe } from "./session";

function Layout() {
  const me = useMe();
  const logout = useLogout();
  const live = useLiveUpdates(useQueryClient(), Boolean(me.data));
  if (me.isPending) return null;
  if (!me.data) return <Navigate to="/login" replace />;
  return (
    <div className="min-h-screen">
      <header className="flex items-center gap-6 border-b border-slate-200 px-6 py-3 dark:border-slate-800">
        <Link to="/pipelines" className="font-semibold">
          Pipelogiq
        </Link>
        <nav className="flex gap-4 text-sm">
          <Link to="/pipelines">Pipelines</Link>
          <Link to="/workers">Workers</Link>
          {/* The API refuses the rest anyway; what a role may not do is not offered. */}
          {me.data.role === "admin" && <Link to="/applications">Applications</Link>}
        </nav>
        <span className="ml-auto text-xs text-slate-500" aria-live="polite" data-live={live}>
          {live === "live" ? "● live" : live === "offline" ? "○ reconnecting" : "○ connecting"}
        </span>
        <span className="text-sm">
          {me.data.name} ({me.data.role})
        </span>
        <button onClick={() => logout.mutate()} className="text-sm underline">
          Log out
        </button>
      </header>
      <main className="px-6 py-4">
        <Outlet />
      </main>
    </div>
  );
}

export function App() {
  return (
    <Routes>
      <Route path="/login" element={<Login />} />
      <Route element={<Layout />}>
        <Route path="/pipelines" element={<Pipelines />} />
        <Route path="/pipelines/:id" element={<PipelineDetail />} />
        <Route path="/workers" element={<Workers />} />
        <Route path="/applications" element={<Applications />} />
        <Route path="*" element={<Navigate to="/pipelines" replace />} />
      </Route>
    </Routes>
  );
}
