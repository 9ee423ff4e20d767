"""Root-cause ranking of incidents: features, a Random Forest, explanations (docs/rca.md)."""
