// Build of the operator console. The API serves ui/dist at / (api/ui.py); `npm run dev` proxies the
// API (EMS_API, default http://127.0.0.1:8080) so the cookies stay same-origin.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const api = process.env.EMS_API ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: {
    // The API's Content-Security-Policy is `default-src 'self'`: no data: URIs, no inline code.
    assetsInlineLimit: 0,
    // Not "assets": /assets/… are the console's asset pages (api/ui.py serves /static/ as files).
    assetsDir: "static",
    sourcemap: false,
    chunkSizeWarningLimit: 700,
  },
  server: {
    proxy: Object.fromEntries(["/api", "/health", "/openapi.json"].map((p) => [p, { target: api }])),
  },
});
