/** CPU time of another process, for the benchmarks that run a converter's runner beside Node-RED. */
import { readFileSync } from 'node:fs';

/** CPU time (µs) a process has used, from /proc/<pid>/stat (Linux; utime + stime in clock ticks of 10 ms). */
export function processCpuUs(pid: number | undefined): number | undefined {
    if (!pid || process.platform !== 'linux') return undefined;
    try {
        const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
        return (Number(f[11]) + Number(f[12])) * 10_000;
    } catch {
        return undefined;
    }
}
