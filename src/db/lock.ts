// PGlite keeps the whole database in one process's memory and writes it back to its directory, so a second
// process opening the same directory would silently lose one side's writes. A lock file beside the data
// refuses the second opener and names the holder; a lock left by a dead process on this host is taken over.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export interface LockHolder {
  pid: number;
  hostname: string;
  command: string;
  startedAt: string;
}

export class DataDirectoryLockedError extends Error {
  override name = "DataDirectoryLockedError";
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | null,
  ) {
    super(
      holder
        ? `the data directory ${dataDir} is in use by process ${holder.pid} on ${holder.hostname} ` +
            `(${holder.command}, since ${holder.startedAt}); stop it, or set RAREFORGE_DATA_DIR to another directory`
        : `the data directory ${dataDir} is locked by another process (unreadable lock file ${path.join(dataDir, "rareforge.lock")})`,
    );
  }
}

export interface DataDirectoryLock {
  readonly path: string;
  release(): void;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function readHolder(lockPath: string): LockHolder | null {
  try {
    return JSON.parse(readFileSync(lockPath, "utf8")) as LockHolder;
  } catch {
    return null;
  }
}

export function acquireDataDirectoryLock(dataDir: string): DataDirectoryLock {
  mkdirSync(dataDir, { recursive: true });
  const lockPath = path.join(dataDir, "rareforge.lock");
  const me: LockHolder = {
    pid: process.pid,
    hostname: os.hostname(),
    command: process.argv.slice(1).map((arg) => path.basename(arg)).join(" "),
    startedAt: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, "wx");
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
      let released = false;
      return {
        path: lockPath,
        release() {
          if (released) return;
          released = true;
          if (readHolder(lockPath)?.pid === me.pid) rmSync(lockPath, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = readHolder(lockPath);
      const stale = holder !== null && holder.hostname === me.hostname && holder.pid !== me.pid && !isAlive(holder.pid);
      if (!stale || attempt > 0) throw new DataDirectoryLockedError(dataDir, holder);
      rmSync(lockPath, { force: true });
    }
  }
  throw new DataDirectoryLockedError(dataDir, readHolder(lockPath));
}
