/**
 * The editor's Import, off Node-RED's event loop: `importConverter(text)` reads a converter file
 * (`importConverterFile`: JSON.parse and the linear text checks, TBEL translation and guard included)
 * and asks a runner whether its script compiles (`compileNotes`), all in a short-lived worker thread.
 * The checks are linear, but on a 5 MB body (Node-RED's limit) or a script near the size limit they take
 * tens to hundreds of milliseconds of CPU: on the main thread that would hold every flow and the admin API.
 * Nothing of the script runs in the worker (it parses text and starts a runner process, as Node-RED would);
 * the worker has a heap limit of its own, so a crafted file cannot exhaust Node-RED's.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { compileNotes, importConverterFile, ImportError } from './import';
import type { ImportedConverter } from './import';
import { networkIsolation, primeNetworkIsolation, NetworkIsolation, NetworkIsolationOptions } from './runner/netns';

const TAG = 'kinesis-convert-import';
/** Heap of the import worker: a 5 MB file parses in a few tens of MB. */
const WORKER_HEAP_MB = 256;

type Reply = { ok: true; converter: ImportedConverter } | { ok: false; importError: boolean; message: string };

async function work(input: unknown, network: NetworkIsolationOptions | undefined): Promise<Reply> {
    try {
        const converter = importConverterFile(input);
        converter.notes.push(...(await compileNotes(converter.script, converter.direction, converter.scriptLang, network)));
        return { ok: true, converter };
    } catch (e) {
        return { ok: false, importError: e instanceof ImportError, message: String((e as Error)?.message ?? e) };
    }
}

/**
 * Imports a ThingsBoard converter file (its text, or the parsed object) in a worker thread. Rejects with
 * ImportError when the file is not a converter; with Error when the worker itself failed (e.g. its heap limit).
 * `network`: the runner's network isolation, as for every runner (probed here, once per process: the worker
 * gets the answer and does not probe again).
 */
export async function importConverter(input: unknown, opts: { network?: NetworkIsolationOptions } = {}): Promise<ImportedConverter> {
    const isolation = await networkIsolation(opts.network);
    return new Promise((resolve, reject) => {
        let settled = false;
        const settle = (fn: () => void) => { if (!settled) { settled = true; fn(); } };
        const worker = new Worker(__filename, {
            workerData: { tag: TAG, input: Buffer.isBuffer(input) ? input.toString('utf8') : input, network: opts.network, isolation },
            resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
        });
        worker.once('message', (r: Reply) => settle(() => {
            if (r.ok) resolve(r.converter);
            else reject(r.importError ? new ImportError(r.message) : new Error(r.message));
        }));
        worker.once('error', (err) => settle(() => reject(new Error(`the import could not be read: ${(err as Error)?.message ?? err}`))));
        worker.once('exit', (code) => settle(() => reject(new Error(`the import could not be read (worker exit ${code})`))));
    });
}

if (!isMainThread && parentPort && (workerData as { tag?: string } | null)?.tag === TAG) {
    const port = parentPort;
    const data = workerData as { input: unknown; network?: NetworkIsolationOptions; isolation: NetworkIsolation };
    primeNetworkIsolation(data.network ?? {}, data.isolation);
    void work(data.input, data.network).then((r) => port.postMessage(r));
}
