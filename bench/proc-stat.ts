/** CPU time of the machine and of single processes, from /proc, for the probes. */
import fs from 'node:fs';

/** Busy and total jiffies of the whole machine (all cores), from /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((x, y) => x + y, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

/** CPU jiffies (user + system) a process used so far, 0 once it is gone. */
export function processTicks(pid: number): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** `--name value` from a probe's arguments, or `dflt`. */
export function argReader(argv: string[]): (name: string, dflt: string) => string {
  return (name, dflt) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1]! : dflt;
  };
}
