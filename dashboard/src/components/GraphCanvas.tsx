// What the DAG and the lineage graph both draw in: an SVG sized to their layout, with its
// edges as arrows; each graph draws its own nodes inside.
import type { ReactNode } from "react";

import type { Layout } from "../dag";

const PAD = 4;

export function GraphCanvas({
  layout,
  label,
  marker,
  children,
}: {
  layout: Layout;
  label: string;
  /** The arrowhead's id: unique on the page, as both graphs may be on it at once. */
  marker: string;
  children: ReactNode;
}) {
  const [width, height] = [layout.width + 2 * PAD, layout.height + 2 * PAD];
  return (
    <div className="overflow-x-auto">
      <svg
        width={width}
        height={height}
        viewBox={`${-PAD} ${-PAD} ${width} ${height}`}
        aria-label={label}
        role="group"
      >
        <defs>
          <marker
            id={marker}
            viewBox="0 0 8 8"
            refX="8"
            refY="4"
            markerWidth="6"
            markerHeight="6"
            orient="auto"
          >
            <path d="M0,0 L8,4 L0,8 z" className="fill-slate-400" />
          </marker>
        </defs>
        {layout.edges.map((edge) => (
          <path
            key={`${edge.from}>${edge.to}`}
            d={edge.path}
            fill="none"
            markerEnd={`url(#${marker})`}
            className="stroke-slate-400"
            strokeWidth={1.5}
          />
        ))}
        {children}
      </svg>
    </div>
  );
}
