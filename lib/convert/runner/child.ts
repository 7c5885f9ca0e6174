/**
 * The runner process: started by runner/process.ts with `process.execPath`, under Node's permission
 * model (read access to its own module files only; no writes, no child processes, no workers, no
 * addons), an empty environment and a heap limit. Talks newline-delimited JSON over stdin/stdout:
 *
 *   in:  {"t":"init", direction, tbel, script, timeoutMs, base}   → {"t":"ready", perm} | {"t":"compile", info}
 *   in:  {"t":"run", id, n, hn, bn, bj?, each} + raw text       → {"t":"part", id, from, k, r, e}… then {"t":"done", id}
 *
 * The run frame's line is followed by `hn + bn` BYTES: the batch header (JSON, UTF-8) then the batch text
 * (UTF-8: the concatenated payloads, then the metadata values; when `bj` it is itself a JSON string literal: the
 * parent does that for text that is not well-formed UTF-16, which UTF-8 would not carry). Both are decoded once,
 * into flat strings. Node-RED may send the next run before this one is done: frames are handled in order, one
 * at a time.
 *
 * The batch header (uplink) is columnar: {"n": [payload lengths], "k": [metadata keys], "l": [value lengths,
 * k.length per record]}, the values' text after all payloads (or {"n", "m": [metadata per record]} when the
 * records' keys differ or a value is not a string); downlink [[msg, metadata, msgType], …].
 * A part's `k` is a string of one kind per record from `from`: 'r' (its value is the next of `r`), 'u'
 * (returned nothing), 'e' (threw: the next of `e`, {n, m, l, c}), 't' (stopped by the vm timeout). With `each`, every record is
 * its own guarded run and its own `part` frame: after a hard kill, Node-RED re-runs the unfinished rest
 * of a batch that way to learn which record hung or ran out of memory.
 *
 * Exits when stdin closes (Node-RED went away).
 */
import { VmEngine, VmCompileError, Direction, noFields } from './vm-engine';
import { LineReader } from './lines';

interface InitFrame {
    t: 'init';
    direction: Direction;
    tbel: boolean;
    script: string;
    timeoutMs: number;
    base: Record<string, string>;
}
interface RunFrame {
    t: 'run';
    id: number;
    n: number;
    hn: number;
    bn: number;
    bj?: boolean;
    each?: boolean;
}

/**
 * Frames go out through one reused buffer (UTF-8 written into it, then written to the pipe): a string written
 * as it is gets a fresh native buffer of 3 bytes per char, mapped and unmapped every part. The buffer is
 * replaced when the pipe did not take all of it at once (the stream still holds it) and not used for texts that
 * may not fit.
 */
const OUT_BYTES = 1 << 20;
let outBuf = Buffer.allocUnsafe(OUT_BYTES);

function send(text: string): void {
    const out = process.stdout;
    if (text.length * 3 > OUT_BYTES) {
        out.write(text);
        return;
    }
    const n = outBuf.write(text);
    out.write(outBuf.subarray(0, n));
    if (out.writableLength > 0) outBuf = Buffer.allocUnsafe(OUT_BYTES);
}

function permissionOn(): boolean {
    const p = (process as unknown as { permission?: { has(scope: string, ref?: string): boolean } }).permission;
    if (!p) return false;
    try {
        return !p.has('fs.write') && !p.has('child') && !p.has('worker');
    } catch {
        return false;
    }
}

export function main(): void {
    let engine: VmEngine | undefined;
    // A rejection nothing handles (possible only after a vm escape) must not end the runner mid-batch.
    process.on('unhandledRejection', () => undefined);

    const handleRun = (f: RunFrame, raw: Buffer): void => {
        if (!engine) {
            send(`${JSON.stringify({ t: 'done', id: f.id, broken: 'not initialised' })}\n`);
            return;
        }
        // UTF-8 decoded once, into two flat strings (ASCII text: one byte per char)
        const header = raw.toString('utf8', 0, f.hn);
        let body = raw.toString('utf8', f.hn, f.hn + f.bn);
        if (f.bj) {
            try {
                body = String(JSON.parse(body));
            } catch {
                send(`${JSON.stringify({ t: 'done', id: f.id, broken: 'bad input' })}\n`);
                return;
            }
        }
        engine.stage(header, body);
        const each = !!f.each;
        let from = 0;
        let out = '';
        let broken = '';
        while (from < f.n) {
            const o = engine.run(from, each);
            if (o.done) {
                if (o.json === undefined) {
                    broken = o.broken;
                    break;
                }
                out += `{"t":"part","id":${f.id},"from":${from},${o.json}}\n`;
                if (!each) break;
                from += 1;
            } else {
                // Stopped by the vm timeout at record o.at: blame it when it ran for at least half the
                // timeout (or alone), else resume at it with a fresh timeout (it had little time).
                const blame = o.at === from || o.elapsedMs * 2 >= engine.timeoutMs;
                const json = engine.partial(blame);
                if (!noFields(json)) out += `{"t":"part","id":${f.id},"from":${from},${json}}\n`;
                from = blame ? o.at + 1 : o.at;
            }
            if (each || out.length > 1 << 20) {
                send(out);
                out = '';
            }
        }
        engine.finish();
        send(`${out}${JSON.stringify(broken ? { t: 'done', id: f.id, broken } : { t: 'done', id: f.id })}\n`);
    };

    let pendingRun: RunFrame | undefined;
    const onLine = (line: string): number | void => {
        if (!line) return;
        let f: InitFrame | RunFrame;
        try {
            f = JSON.parse(line);
        } catch {
            return;
        }
        if (f.t === 'init') {
            try {
                engine = new VmEngine({ direction: f.direction, tbel: !!f.tbel, script: f.script, timeoutMs: f.timeoutMs, integrationMetadata: f.base ?? {} });
                send(`${JSON.stringify({ t: 'ready', perm: permissionOn(), pid: process.pid })}\n`);
            } catch (e) {
                const info = e instanceof VmCompileError ? e.info : { kind: 'compile', name: 'Error', message: 'the script could not be loaded' };
                send(`${JSON.stringify({ t: 'compile', info })}\n`);
            }
        } else if (f.t === 'run') {
            const hn = Number(f.hn) || 0;
            const bn = Number(f.bn) || 0;
            pendingRun = { ...f, hn, bn };
            return hn + bn; // the raw text follows the line
        }
    };
    const onRaw = (raw: Buffer): void => {
        const f = pendingRun;
        pendingRun = undefined;
        if (f) handleRun(f, raw);
    };

    const reader = new LineReader(onLine, undefined, undefined, onRaw);
    process.stdin.on('data', (c: Buffer) => reader.push(c));
    process.stdin.on('end', () => process.exit(0));
}

if (require.main === module) main();
