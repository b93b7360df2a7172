import { Navigate, Outlet, Route, Routes } from "react-router";

import { Layout } from "./components/Layout";
import { Account } from "./pages/Account";
import { AlertDetail } from "./pages/AlertDetail";
import { Alerts } from "./pages/Alerts";
import { Applications } from "./pages/Applications";
import { Approvals } from "./pages/Approvals";
import { Audit } from "./pages/Audit";
import { DatasetDetail } from "./pages/DatasetDetail";
import { Datasets } from "./pages/Datasets";
import { DefinitionDetail } from "./pages/DefinitionDetail";
import { EditDefinition, NewDefinition } from "./pages/DefinitionEditor";
import { Definitions } from "./pages/Definitions";
import { Housekeeping } from "./pages/Housekeeping";
import { Insights } from "./pages/Insights";
import { Login } from "./pages/Login";
import { Logs } from "./pages/Logs";
import { Overview } from "./pages/Overview";
import { PipelineDetail } from "./pages/PipelineDetail";
import { ResetPassword } from "./pages/ResetPassword";
import { Runs } from "./pages/Runs";
import { Pipelines } from "./pages/Pipelines";
import { Policies } from "./pages/Policies";
import { Schedules } from "./pages/Schedules";
import { Users } from "./pages/Users";
import { WorkerDetail } from "./pages/WorkerDetail";
import { Workers } from "./pages/Workers";
import { may } from "./permissions";
import { useMe } from "./session";

/** Pages for admins: anyone else who finds the address is told so (the API refuses them too). */
function AdminOnly() {
  const role = useMe().data?.role;
  if (!may(role, "administer")) {
    return (
      <p role="alert" className="py-10 text-center text-muted">
        This page is for admins.
      </p>
    );
  }
  return <Outlet />;
}

export function App() {
  return (
    <Routes>
      <Route path="/login" element={<Login />} />
      <Route path="/reset-password" element={<ResetPassword />} />
      <Route element={<Layout />}>
        <Route index element={<Overview />} />
        <Route path="/pipelines" element={<Pipelines />} />
        <Route path="/pipelines/:id" element={<PipelineDetail />} />
        <Route path="/runs" element={<Runs />} />
        <Route path="/definitions" element={<Definitions />} />
        <Route path="/definitions/new" element={<NewDefinition />} />
        <Route path="/definitions/:id" element={<DefinitionDetail />} />
        <Route path="/definitions/:id/edit" element={<EditDefinition />} />
        <Route path="/schedules" element={<Schedules />} />
        <Route path="/datasets" element={<Datasets />} />
        <Route path="/datasets/:id" element={<DatasetDetail />} />
        <Route path="/approvals" element={<Approvals />} />
        <Route path="/alerts" element={<Alerts />} />
        <Route path="/alerts/:id" element={<AlertDetail />} />
        <Route path="/workers" element={<Workers />} />
        <Route path="/workers/:id" element={<WorkerDetail />} />
        <Route path="/logs" element={<Logs />} />
        <Route path="/insights" element={<Insights />} />
        <Route path="/policies" element={<Policies />} />
        <Route path="/account" element={<Account />} />
        <Route element={<AdminOnly />}>
          <Route path="/applications" element={<Applications />} />
          <Route path="/users" element={<Users />} />
          <Route path="/audit" element={<Audit />} />
          <Route path="/housekeeping" element={<Housekeeping />} />
        </Route>
        <Route path="*" element={<Navigate to="/" replace />} />
      </Route>
    </Routes>
  );
}
