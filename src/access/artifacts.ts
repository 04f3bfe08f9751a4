// Which domains a stored file belongs to: those of the samples, reference uploads and insertions that reference it (as their
// main file, a file beside it, or a region mask). A file no row references belongs to none and is served to no key.
import type { PrismaClient } from "../db/index.ts";
import type { Domain } from "./caller.ts";

/** The domains of an artifact, read with an unscoped client (what the file is, not what the caller sees). */
export async function artifactDomains(prisma: PrismaClient, artifactId: string, sha256: string): Promise<Set<Domain>> {
  const mentions = [{ sha256 }];
  const [samples, sidecarOf, scans, insertions, hazards] = await Promise.all([
    prisma.sample.findMany({ where: { artifactId }, select: { scenarioVersion: { select: { scenario: { select: { domain: true } } } } }, distinct: ["scenarioVersionId"], take: 50 }),
    prisma.sample.findMany({ where: { files: { array_contains: mentions } }, select: { scenarioVersion: { select: { scenario: { select: { domain: true } } } } }, distinct: ["scenarioVersionId"], take: 50 }),
    prisma.referenceScan.findMany({ where: { artifactId }, select: { domain: true }, distinct: ["domain"] }),
    prisma.pathologyInsertion.count({
      where: { OR: [{ artifactId }, { files: { array_contains: mentions } }, { region: { path: ["sha256"], equals: sha256 } }] },
    }),
    prisma.hazardInsertion.findMany({ where: { OR: [{ artifactId }, { files: { array_contains: mentions } }] }, select: { referenceScan: { select: { domain: true } } }, take: 50 }),
  ]);
  const domains = new Set<Domain>([...samples, ...sidecarOf].map((sample) => sample.scenarioVersion.scenario.domain as Domain));
  for (const scan of scans) domains.add(scan.domain as Domain);
  for (const hazard of hazards) domains.add(hazard.referenceScan.domain as Domain);
  if (insertions > 0) domains.add("MEDICAL");
  return domains;
}
