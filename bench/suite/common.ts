/**
 * Shared pieces of the benchmark suite (`npm run bench`, scripts/bench.js). Every measurement runs in a
 * child process of its own (clean CPU and RSS figures) against backends the orchestrator started in
 * other processes; the child reports one line `BENCH_RESULT {json}` on stdout.
 *
 * Env from the orchestrator: BENCH_KINESIS (kinesalite), BENCH_DYNAMODB (dynalite), BENCH_KINESIS_EFO
 * (kinesis-local), BENCH_STREAM (the 100 k-record stream), BENCH_RECORDS, BENCH_SHARDS, BENCH_REP (1…3),
 * BENCH_BACKLOG_STREAM, BENCH_BACKLOG_RECORDS, BENCH_LIFION (path of the cached lifion-kinesis), BENCH_QUICK.
 */
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export const env = {
    kinesis: process.env.BENCH_KINESIS ?? '',
    dynamodb: process.env.BENCH_DYNAMODB ?? '',
    kinesisEfo: process.env.BENCH_KINESIS_EFO ?? '',
    stream: process.env.BENCH_STREAM ?? 'bench-100k',
    records: Number(process.env.BENCH_RECORDS ?? 100_000),
    shards: Number(process.env.BENCH_SHARDS ?? 4),
    rep: Number(process.env.BENCH_REP ?? 1),
    backlogStream: process.env.BENCH_BACKLOG_STREAM ?? 'bench-backlog',
    backlogRecords: Number(process.env.BENCH_BACKLOG_RECORDS ?? 1_000_000),
    lifion: process.env.BENCH_LIFION ?? '',
    quick: process.env.BENCH_QUICK === '1',
    region: 'us-east-1',
};

export const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

/** The standard AWS variables: a kinesis-config node with empty region/endpoints uses them. */
export function awsEnv(kinesisEndpoint = env.kinesis): Record<string, string> {
    return {
        AWS_REGION: env.region,
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_ENDPOINT_URL_KINESIS: kinesisEndpoint,
        AWS_ENDPOINT_URL_DYNAMODB: env.dynamodb,
        AWS_EC2_METADATA_DISABLED: 'true',
    };
}

/** A plain SDK v3 client as a hand-written script makes it (SDK defaults, keep-alive HTTP/1.1). */
export function rawKinesis(endpoint = env.kinesis): KinesisClient {
    return new KinesisClient({ region: env.region, endpoint, credentials, requestHandler: new NodeHttpHandler() });
}

export function rawDynamo(): DynamoDBClient {
    return new DynamoDBClient({ region: env.region, endpoint: env.dynamodb, credentials, requestHandler: new NodeHttpHandler() });
}

/** The record body every benchmark reads and writes (~210 B of JSON, 97 devices). */
export function body(i: number): Buffer {
    return Buffer.from(JSON.stringify({ devName: `dev-${i % 97}`, devType: 'thermostat', temperature: 20 + (i % 10), humidity: 40 + (i % 7), ts: 1_700_000_000_000 + i, pad: 'x'.repeat(100) }));
}

export function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}

export function now(): number {
    return Number(process.hrtime.bigint()) / 1e6;
}

export function cpuUs(): number {
    const c = process.cpuUsage();
    return c.user + c.system;
}

/**
 * A throughput run: `start` begins the work and returns a function that resolves when all `n` records
 * arrived; `seen(k)` is called per record (or per batch of k). Records/s over first → last record (the
 * records that came with the first are not counted: their wait is the first-record time); CPU of this
 * process from start to the last record, per record; first record = seconds from start.
 */
export class Meter {
    readonly t0 = now();
    readonly cpu0 = cpuUs();
    first = 0;
    last = 0;
    count = 0;
    private resolve: (() => void) | undefined;
    readonly done: Promise<void>;
    constructor(readonly n: number) {
        this.done = new Promise((r) => (this.resolve = r));
    }
    /** Records that arrived with the first one (not in records/s: their wait is the first-record time). */
    firstK = 0;
    seen(k = 1): void {
        if (this.count === 0) {
            this.first = now();
            this.firstK = k;
        }
        this.count += k;
        if (this.count >= this.n && this.resolve) {
            this.last = now();
            this.cpuEnd = cpuUs();
            this.resolve();
            this.resolve = undefined;
        }
    }
    cpuEnd = 0;
    /**
     * records_per_s: all records over the whole run, from the start (client creation / deploy) to the last
     * record — every cost a reader has, its start-up included. steady_records_per_s: after the first record,
     * without the records that came with it; it flatters a reader whose first read is large (the raw loop's
     * first 10 000-record GetRecords takes ~2 s of kinesalite's time, which this figure leaves out).
     */
    result(): { records_per_s: number; steady_records_per_s: number; cpu_us_per_record: number; first_record_s: number; seconds: number; records: number } {
        const span = Math.max(1e-3, (this.last - this.first) / 1000);
        return {
            records_per_s: this.count / Math.max(1e-3, (this.last - this.t0) / 1000),
            steady_records_per_s: this.count > this.firstK ? (this.count - this.firstK) / span : 0,
            cpu_us_per_record: (this.cpuEnd - this.cpu0) / this.count,
            first_record_s: (this.first - this.t0) / 1000,
            seconds: (this.last - this.t0) / 1000,
            records: this.count,
        };
    }
}

/** Waits for `check` (polled), failing after `ms` with `what` — a benchmark that stalls must end. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`benchmark stalled: ${what}`);
        await sleep(20);
    }
}

/** Resolves `p`, or rejects after `ms` naming `what`. */
export function within<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
    let timer: NodeJS.Timeout;
    return Promise.race([
        p,
        new Promise<T>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`benchmark stalled: ${what} after ${ms / 1000} s`)), ms);
        }),
    ]).finally(() => clearTimeout(timer));
}

export function percentile(sorted: number[], p: number): number {
    if (!sorted.length) return NaN;
    const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[i];
}

/** Prints the result line the orchestrator reads, then exits (timers of Node-RED and the SDK included). */
export function report(result: Record<string, unknown>): void {
    process.stdout.write(`BENCH_RESULT ${JSON.stringify(result)}\n`);
}

export function main(fn: () => Promise<Record<string, unknown>>): void {
    fn()
        .then((r) => {
            report(r);
            process.exit(0);
        })
        .catch((err) => {
            console.error(err instanceof Error ? err.stack : err);
            process.exit(1);
        });
}
