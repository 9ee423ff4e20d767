// The console's views: one entry per page. A view is a component taking its path parameters;
// views other than the alert console load on first use (their code is split from the first paint).
//
// To add a view: write views/<area>/<View>.tsx with a default export and add one line below.
import { lazy, type ComponentType } from "react";
import AlertConsole from "./views/alerts/AlertConsole";

export interface ViewProps {
  params: Record<string, string>;
}

export interface View {
  path: string;
  title: string;
  /** Shown in the navigation bar. */
  nav?: boolean;
  /** Shown only to users holding it. */
  permission?: string;
  component: ComponentType<ViewProps>;
}

export const VIEWS: View[] = [
  { path: "/alerts", title: "Alerts", nav: true, permission: "read:alerts", component: AlertConsole },
  { path: "/incidents", title: "Incidents", nav: true, permission: "read:incidents", component: lazy(() => import("./views/incidents/Incidents")) },
  { path: "/incidents/:id", title: "Incident", permission: "read:incidents", component: lazy(() => import("./views/incidents/IncidentPage")) },
  { path: "/tickets", title: "Tickets", nav: true, permission: "read:tickets", component: lazy(() => import("./views/tickets/Tickets")) },
  { path: "/tickets/:number", title: "Ticket", permission: "read:tickets", component: lazy(() => import("./views/tickets/TicketPage")) },
  { path: "/silences", title: "Silences", nav: true, permission: "read:suppressions", component: lazy(() => import("./views/noise/Silences")) },
  { path: "/maintenance", title: "Maintenance", nav: true, permission: "read:suppressions", component: lazy(() => import("./views/noise/Windows")) },
  { path: "/assets", title: "Assets", nav: true, permission: "read:assets", component: lazy(() => import("./views/assets/AssetList")) },
  { path: "/assets/:id", title: "Asset", permission: "read:assets", component: lazy(() => import("./views/assets/AssetPage")) },
  { path: "/topology", title: "Services", nav: true, permission: "read:assets", component: lazy(() => import("./views/topology/Services")) },
  { path: "/topology/:service", title: "Topology", permission: "read:assets", component: lazy(() => import("./views/topology/Topology")) },
  { path: "/apm", title: "APM", nav: true, permission: "read:assets", component: lazy(() => import("./views/apm/ApmMap")) },
  // Not /health: that path is the API's own health answer.
  { path: "/status", title: "Health", nav: true, permission: "read:health", component: lazy(() => import("./views/health/Health")) },
];

export const HOME = "/alerts";
