// Severity colours for canvases (cytoscape); the stylesheet has the same ones as CSS variables.
export const SEVERITY_COLORS: Record<string, string> = {
  critical: "#d62728",
  major: "#f76707",
  minor: "#f2b705",
  warning: "#4dabf7",
  indeterminate: "#9775fa",
  informational: "#74b816",
};
export const NO_ALERT = "#8c959f";
