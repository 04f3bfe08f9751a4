// What an export needs to know about the models behind its samples: the class list (YOLO indices, COCO
// categories), the image size (normalised coordinates) and the domain (DICOM needs medical samples).
import type { Database } from "../db/index.ts";
import type { ModelManifest } from "../models/index.ts";

export interface ExportModel {
  id: string;
  name: string;
  version: string;
  domain: "AUTOMOTIVE" | "MEDICAL";
  width: number;
  height: number;
  /** Medical models: the modality and the stored value range (DICOM window). */
  modality?: string;
  storedRange?: [number, number];
  /** Classes a label of this model can have, in the manifest's order. */
  classes: string[];
}

/** The label classes of a manifest: each label rule's categorical field's values, less those meaning "absent". */
export function manifestClasses(manifest: ModelManifest): string[] {
  const classes: string[] = [];
  for (const rule of manifest.labels) {
    const field = manifest.condition.fields.find((f) => f.name === rule.class);
    if (!field || field.kind !== "categorical") continue;
    for (const value of field.values) if (!rule.absentWhen.includes(value) && !classes.includes(value)) classes.push(value);
  }
  return classes;
}

export async function loadExportModels(db: Database, ids: string[]): Promise<Map<string, ExportModel>> {
  const rows = await db.prisma.modelPackage.findMany({ where: { id: { in: ids } }, orderBy: [{ name: "asc" }, { version: "asc" }] });
  return new Map(
    rows.map((row) => {
      const manifest = row.manifest as unknown as ModelManifest;
      const model: ExportModel = {
        id: row.id,
        name: row.name,
        version: row.version,
        domain: row.domain,
        width: manifest.image.width,
        height: manifest.image.height,
        classes: manifestClasses(manifest),
        ...(manifest.image.modality ? { modality: manifest.image.modality } : {}),
        ...(manifest.image.storedRange ? { storedRange: manifest.image.storedRange as [number, number] } : {}),
      };
      return [row.id, model];
    }),
  );
}

/** One class list for the whole export: every model's classes in model order, each class once. */
export function unionClasses(models: Iterable<ExportModel>): string[] {
  const classes: string[] = [];
  for (const model of models) for (const name of model.classes) if (!classes.includes(name)) classes.push(name);
  return classes;
}
