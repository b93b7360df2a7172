import { Navigate, Route, Routes } from "react-router";

import { Layout } from "./components/Layout";
import { Applications } from "./pages/Applications";
import { Login } from "./pages/Login";
import { Overview } from "./pages/Overview";
import { PipelineDetail } from "./pages/PipelineDetail";
import { Pipelines } from "./pages/Pipelines";
import { Workers } from "./pages/Workers";

export function App() {
  return (
    <Routes>
      <Route path="/login" element={<Login />} />
      <Route element={<Layout />}>
        <Route index element={<Overview />} />
        <Route path="/pipelines" element={<Pipelines />} />
        <Route path="/pipelines/:id" element={<PipelineDetail />} />
        <Route path="/workers" element={<Workers />} />
        <Route path="/applications" element={<Applications />} />
        <Route path="*" element={<Navigate to="/" replace />} />
      </Route>
    </Routes>
  );
}
