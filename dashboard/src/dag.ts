// Where each stage of a pipeline goes when its DAG is drawn left to right: a stage sits one
// column after the last of its dependencies; within a column, stages sit near the stages they
// depend on, so edges cross as little as a single pass can manage.

export type DagStage = { name: string; dependsOn: string[] };
export type Placed = { name: string; column: number; row: number; x: number; y: number };
export type Edge = { from: string; to: string; path: string };
export type Layout = { nodes: Placed[]; edges: Edge[]; width: number; height: number };

/**
 * The stages of a definition document as a DAG, before any run: `dependsOn` as written, and
 * where it is left out, the stage before (the API's rule: a stage without `dependsOn` depends
 * on the one before it). Anything malformed is passed over, not drawn.
 */
export function documentStages(document: unknown): Array<DagStage & { handler: string }> {
  const stages = (document as { stages?: unknown } | null)?.stages;
  if (!Array.isArray(stages)) return [];
  const found: Array<DagStage & { handler: string }> = [];
  for (const stage of stages as Array<Record<string, unknown>>) {
    if (typeof stage?.name !== "string") continue;
    const written = stage.dependsOn;
    const dependsOn = Array.isArray(written)
      ? written.filter((name): name is string => typeof name === "string")
      : found.length
        ? [found[found.length - 1]!.name]
        : [];
    const handler =
      typeof stage.handler === "string"
        ? stage.handler
        : typeof stage.template === "string"
          ? `template ${stage.template}`
          : "";
    found.push({ name: stage.name, dependsOn, handler });
  }
  return found;
}

export const NODE = { width: 168, height: 46, gapX: 56, gapY: 14 };

export function layoutDag(stages: DagStage[]): Layout {
  const byName = new Map(stages.map((s) => [s.name, s]));
  const column = new Map<string, number>();
  // Depth-first, remembering what is on the path, so a cycle (which the API refuses anyway)
  // cannot loop forever here.
  const place = (name: string, path: Set<string>): number => {
    const known = column.get(name);
    if (known !== undefined) return known;
    const stage = byName.get(name);
    if (!stage || path.has(name)) return 0;
    path.add(name);
    const deps = stage.dependsOn.filter((d) => byName.has(d));
    const value = deps.length ? 1 + Math.max(...deps.map((d) => place(d, path))) : 0;
    path.delete(name);
    column.set(name, value);
    return value;
  };
  for (const stage of stages) place(stage.name, new Set());

  const columns: string[][] = [];
  for (const stage of stages) (columns[column.get(stage.name) ?? 0] ??= []).push(stage.name);
  const row = new Map<string, number>();
  columns.forEach((names, index) => {
    if (index > 0) {
      // The mean row of a stage's dependencies decides its place; ties keep submission order.
      const weight = (name: string) => {
        const rows = (byName.get(name)?.dependsOn ?? [])
          .map((d) => row.get(d))
          .filter((r) => r !== undefined);
        return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : Infinity;
      };
      names.sort((a, b) => weight(a) - weight(b));
    }
    names.forEach((name, i) => row.set(name, i));
  });

  // Array.from: a cycle can leave a column empty, which map would skip as a hole.
  const tallest = Math.max(1, ...Array.from(columns, (names) => names?.length ?? 0));
  // An edge that skips a column runs in a lane above every node, not under the nodes it
  // passes: the nodes move down to make room for it.
  const skips = stages.some((stage) =>
    stage.dependsOn.some((d) => byName.has(d) && (column.get(stage.name) ?? 0) - (column.get(d) ?? 0) > 1),
  );
  const lane = skips ? 2 * NODE.gapY : 0;
  const height = lane + tallest * NODE.height + (tallest - 1) * NODE.gapY;
  const nodes: Placed[] = stages.map((stage) => {
    const c = column.get(stage.name) ?? 0;
    const r = row.get(stage.name) ?? 0;
    const size = columns[c]?.length ?? 1;
    // Shorter columns are centred against the tallest.
    const offset = lane + (height - lane - (size * NODE.height + (size - 1) * NODE.gapY)) / 2;
    return {
      name: stage.name,
      column: c,
      row: r,
      x: c * (NODE.width + NODE.gapX),
      y: offset + r * (NODE.height + NODE.gapY),
    };
  });
  const at = new Map(nodes.map((n) => [n.name, n]));
  const edges: Edge[] = [];
  for (const stage of stages) {
    const to = at.get(stage.name);
    for (const dep of stage.dependsOn) {
      const from = at.get(dep);
      if (!from || !to) continue;
      const [x1, y1] = [from.x + NODE.width, from.y + NODE.height / 2];
      const [x2, y2] = [to.x, to.y + NODE.height / 2];
      const bend = (x2 - x1) / 2;
      // Past the next column: up into the lane in the gap after its own column, along the
      // lane, and down in the gap before the target's, where no node stands.
      const path =
        to.column - from.column > 1
          ? `M${x1},${y1} H${x1 + NODE.gapX / 2} V${NODE.gapY} H${x2 - NODE.gapX / 2} V${y2} H${x2}`
          : `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
      edges.push({ from: dep, to: stage.name, path });
    }
  }
  const width = columns.length * NODE.width + (columns.length - 1) * NODE.gapX;
  return { nodes, edges, width, height };
}
