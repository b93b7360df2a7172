import tailwindcss from "@tailwindcss/vite";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// `just dashboard-dev`: Vite on :5173, the API of a running `just run` behind it, so that the
// session cookies are first-party and the WebSocket reaches the internal API.
const api = process.env.PIPELOGIQ_INTERNAL_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react(), tailwindcss()],
  server: {
    proxy: {
      "/api/ws": { target: api, ws: true },
      "/api": { target: api },
    },
  },
  test: { environment: "jsdom" },
});
