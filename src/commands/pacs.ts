// `rareforge pacs search|import|send`: the PACS service from the command line, on the configured database
// and endpoints (RAREFORGE_PACS_ENDPOINTS); import and send are audited as the CLI's. Results are printed as
// JSON. Exit codes: 0 done, 1 a send left instances FAILED (listed; run it again to re-send only those),
// 2 refused or could not run.
import type { Command } from "commander";
import { AuditLog } from "../access/index.ts";
import { loadConfig } from "../config.ts";
import { createLogger } from "../logger.ts";
import { pacsSettings, PacsService, type SendTarget } from "../pacs/index.ts";
import { artifactStoreFromConfig } from "../storage/index.ts";
import { referenceScanSettings, ReferenceScanService } from "../uploads/index.ts";
import { auditedAsCli } from "./cli-audit.ts";
import { reportFailure, withDatabase } from "./database.ts";

async function withPacs<T>(work: (pacs: PacsService, audit: AuditLog) => Promise<T>): Promise<T> {
  const config = loadConfig();
  return withDatabase(config, (db) => {
    const store = artifactStoreFromConfig(config);
    const uploads = new ReferenceScanService(db, store, referenceScanSettings(config));
    return work(new PacsService(db, store, uploads, pacsSettings(config)), new AuditLog(db, createLogger(config.logLevel)));
  });
}

/** `--filter Key=value` pairs as QIDO-RS query parameters. */
function parseFilters(pairs: readonly string[] | undefined): Record<string, string> {
  const filters: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const at = pair.indexOf("=");
    if (at < 1) throw new Error(`--filter must be Key=value (a DICOM keyword or tag), got "${pair}"`);
    filters[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return filters;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerPacsCommand(program: Command): void {
  const pacs = program.command("pacs").description("pull reference studies from a PACS and push synthetic series to it (DICOMweb; endpoints from RAREFORGE_PACS_ENDPOINTS)");

  pacs
    .command("search")
    .description("QIDO-RS: studies matching the filters, or with --study the series of that study (DICOM JSON)")
    .argument("<endpoint>", "a configured endpoint's name")
    .option("--study <uid>", "list this study's series instead of searching studies")
    .option("--filter <key=value>", "a QIDO-RS query parameter, e.g. PatientID=123 or StudyDate=20240101-; repeatable", collect)
    .action(async (endpoint: string, options: { study?: string; filter?: string[] }) => {
      try {
        const results = await withPacs((service) => service.search(endpoint, { studyInstanceUid: options.study ?? null, filters: parseFilters(options.filter) }));
        console.log(JSON.stringify(results, null, 2));
      } catch (error) {
        reportFailure("pacs search", error);
      }
    });

  pacs
    .command("import")
    .description("WADO-RS: store a study's (or one series') instances as reference scans, de-identified before anything is written")
    .argument("<endpoint>", "a configured endpoint's name")
    .argument("<studyInstanceUid>")
    .option("--series <uid>", "only this series")
    .action(async (endpoint: string, study: string, options: { series?: string }) => {
      try {
        const result = await withPacs((service, audit) =>
          auditedAsCli(
            audit,
            { operation: "importFromPacs", targets: [], domain: "MEDICAL" },
            () => service.importFromPacs(endpoint, study, options.series ?? null),
            (imported) => imported.instances.flatMap((i) => (i.status === "IMPORTED" ? [i.referenceScanId] : [])),
          ),
        );
        console.log(JSON.stringify(result, null, 2));
      } catch (error) {
        reportFailure("pacs import", error);
      }
    });

  pacs
    .command("send")
    .description("STOW-RS: send the synthetic DICOM images and SEG objects of a job, an insertion or samples; instances already stored there are not sent again")
    .argument("<endpoint>", "a configured endpoint's name")
    .option("--job <id>", "every sample of a generation job")
    .option("--insertion <id>", "a pathology insertion")
    .option("--sample <id>", "a sample; repeatable", collect)
    .action(async (endpoint: string, options: { job?: string; insertion?: string; sample?: string[] }) => {
      try {
        const chosen = [options.job, options.insertion, options.sample].filter((o) => o !== undefined).length;
        if (chosen !== 1) throw new Error("give exactly one of --job, --insertion and --sample");
        const target: SendTarget = options.job ? { jobId: options.job } : options.insertion ? { insertionId: options.insertion } : { sampleIds: options.sample ?? [] };
        const given = "jobId" in target ? [target.jobId] : "insertionId" in target ? [target.insertionId] : [...target.sampleIds];
        const result = await withPacs((service, audit) => auditedAsCli(audit, { operation: "sendToPacs", targets: given, domain: "MEDICAL" }, () => service.sendToPacs(endpoint, target), () => []));
        console.log(JSON.stringify(result, null, 2));
        const failed = result.instances.filter((i) => i.status === "FAILED").length;
        if (failed > 0) {
          console.error(`rareforge pacs send: ${failed} of ${result.instances.length} instances failed; run the same command again to re-send only those`);
          process.exitCode = 1;
        }
      } catch (error) {
        reportFailure("pacs send", error);
      }
    });
}
