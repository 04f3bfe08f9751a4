// Plain-text tables and instants for the commands that list rows (keys, audit): left-aligned columns, UTC to
// the minute, "-" for nothing.

/** Aligned columns under a header and a rule. */
export function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return `${[line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n")}\n`;
}

/** `2026-03-01 12:00Z`, or `-`. */
export function formatInstant(at: Date | null): string {
  return at ? `${at.toISOString().slice(0, 16).replace("T", " ")}Z` : "-";
}
