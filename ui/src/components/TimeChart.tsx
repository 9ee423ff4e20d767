// A time series chart (uPlot, canvas): one line per labelled series, sized to its container.
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Line {
  label: string;
  points: { t: number; v: number | null }[]; // t in Unix seconds
}

const PALETTE = ["#1f77b4", "#e8590c", "#2f9e44", "#ae3ec9", "#f59f00", "#0c8599", "#e03131", "#5c7cfa"];

/** Columns uPlot wants: the union of the times, then each line's values (null where it has none). */
export function align(lines: Line[]): uPlot.AlignedData {
  const times = [...new Set(lines.flatMap((l) => l.points.map((p) => p.t)))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const columns = lines.map((l) => {
    const ys: (number | null)[] = new Array(times.length).fill(null);
    for (const p of l.points) ys[index.get(p.t)!] = p.v;
    return ys;
  });
  return [times, ...columns] as uPlot.AlignedData;
}

export function TimeChart({ title, unit, lines, height = 180 }: { title: string; unit?: string; lines: Line[]; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const css = getComputedStyle(document.documentElement);
    const fg = css.getPropertyValue("--muted").trim() || "#666";
    const grid = css.getPropertyValue("--line").trim() || "#ddd";
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const plot = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height,
        legend: { show: lines.length > 1 },
        cursor: { drag: { x: true, y: false } },
        scales: { x: { time: true } },
        axes: [axis, { ...axis, size: 56, values: (_u, ticks) => ticks.map((v) => `${v}${unit ?? ""}`) }],
        series: [
          {},
          ...lines.map((l, i) => ({ label: l.label, stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: false })),
        ],
      },
      align(lines),
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [lines, height, unit]);
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} className="chart-box" />
    </figure>
  );
}
