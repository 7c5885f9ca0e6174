/**
 * Every record counted, for the e2e tests that disturb running Node-REDs (redeploy, chaos, backend outage):
 * a writer that keeps putting records with unique ids (and notes each shard's last sequence number), a flow
 * whose kinesis-in (checkpoint when complete) ends in a file node appending what it finished, and the waits
 * that say "every record put is in a file" and "every shard's checkpoint is at its last record".
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { FlowNode, sleep, waitUntil } from './harness';

export interface Writer {
    /** Ids put so far, in order. */
    readonly put: string[];
    /** Shard id → sequence number of its last record put. */
    readonly lastSeq: Map<string, string>;
    /** Starts putting `batch` records every `everyMs` until `stop()` (again after a stop: goes on numbering). */
    start(): void;
    stop(): Promise<void>;
}

/** A writer of `{id}` records (`${prefix}${n}`, partition key = the id) to `stream`. */
export function recordWriter(kinesis: KinesisClient, stream: string, opts: { prefix: string; batch?: number; everyMs?: number }): Writer {
    const put: string[] = [];
    const lastSeq = new Map<string, string>();
    const batch = opts.batch ?? 10;
    let writing = false;
    let running: Promise<void> = Promise.resolve();
    return {
        put,
        lastSeq,
        start() {
            writing = true;
            running = (async () => {
                while (writing) {
                    const ids = Array.from({ length: batch }, (_, i) => `${opts.prefix}${put.length + i}`);
                    const r = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: ids.map((id) => ({ PartitionKey: id, Data: Buffer.from(JSON.stringify({ id })) })) }));
                    assert.equal(r.FailedRecordCount ?? 0, 0, 'the local stack took every record');
                    ids.forEach((id, i) => {
                        put.push(id);
                        const res = r.Records![i];
                        const prev = lastSeq.get(res.ShardId!);
                        if (prev === undefined || BigInt(res.SequenceNumber!) > BigInt(prev)) lastSeq.set(res.ShardId!, res.SequenceNumber!);
                    });
                    await sleep(opts.everyMs ?? 50);
                }
            })();
        },
        async stop() {
            writing = false;
            await running;
        },
    };
}

/** The ids in files written by a file node (one per line; the first word of a line). */
export function idsIn(files: string[]): string[] {
    return files.filter((f) => fs.existsSync(f)).flatMap((f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')[0]));
}

/** Waits until `lines()` grew by `n` (records flow again after whatever the test did). */
export async function flowing(what: string, lines: () => unknown[], n = 50): Promise<void> {
    const before = lines().length;
    await waitUntil(`records reaching the file ${what}`, () => lines().length >= before + n, 120_000, 200);
}

/** Waits until every id put is in `lines()`; the error lists the first ones missing. */
export async function everyRecordIn(what: string, put: string[], lines: () => string[]): Promise<void> {
    await waitUntil(`every one of ${put.length} records in the file ${what}`, () => {
        const seen = new Set(lines());
        return put.every((id) => seen.has(id));
    }, 120_000, 250).catch((err) => {
        const seen = new Set(lines());
        const missing = put.filter((id) => !seen.has(id));
        throw new Error(`${(err as Error).message}; missing ${missing.length}: ${missing.slice(0, 12).join(', ')}`);
    });
}

/** Waits until each shard's checkpoint in lease table `table` is its last record (nothing stuck in flight). */
export async function checkpointsAtEnd(what: string, dynamo: DynamoDBClient, table: string, lastSeq: Map<string, string>): Promise<void> {
    const checkpoints = async (): Promise<Map<string, string | undefined>> => {
        const r = await dynamo.send(new ScanCommand({ TableName: table, ConsistentRead: true }));
        return new Map((r.Items ?? []).map((i) => [i.leaseKey.S as string, i.checkpoint?.S]));
    };
    await waitUntil(`the checkpoints at the last record of every shard ${what}`, async () => {
        const at = await checkpoints();
        return [...lastSeq].every(([shard, seq]) => at.get(shard) === seq);
    }, 90_000, 250).catch(async (err) => {
        throw new Error(`${(err as Error).message}: checkpoints ${JSON.stringify([...await checkpoints()])}, last records ${JSON.stringify([...lastSeq])}`);
    });
}

/**
 * A flow: kinesis-config (default chain) → kinesis-in (polling or EFO, checkpoint when complete, failover `failoverTimeMs`)
 * → `step` (the node(s) between, wired to `${p}-file`) → a file node appending to `file`. Node ids start with `p`.
 */
export function countingFlow(p: string, opts: { stream: string; app: string; file: string; readMode?: 'polling' | 'efo'; failoverTimeMs?: number; maxInFlight?: number; step: FlowNode; extra?: Record<string, unknown> }): FlowNode[] {
    return [
        { id: `${p}-tab`, type: 'tab', label: p, disabled: false, info: '' },
        { id: `${p}-cfg`, type: 'kinesis-config', name: 'local', region: '', kinesisEndpoint: '', dynamodbEndpoint: '', credentialMode: 'chain', roleArn: '', externalId: '', roleSessionName: '', stsEndpoint: '' },
        {
            id: `${p}-in`, type: 'kinesis-in', z: `${p}-tab`, name: '', config: `${p}-cfg`, streamName: opts.stream, applicationName: opts.app,
            initialPosition: 'TRIM_HORIZON', timestamp: '', timestampType: 'str', readMode: opts.readMode ?? 'polling', consumerName: '',
            maxRecords: 1000, idleTimeMs: 200, payloadFormat: 'json', outputMode: 'record', checkpointMode: 'complete',
            checkpointIntervalMs: 500, checkpointEveryRecords: 10000, maxInFlight: opts.maxInFlight ?? 500, ordered: false,
            workerId: '', failoverTimeMs: opts.failoverTimeMs ?? 3000, renewIntervalMs: '', takerIntervalMs: '', shardSyncIntervalMs: 60000,
            drainTimeoutMs: 3000, gracefulHandOff: true, x: 150, y: 100, wires: [[opts.step.id]], ...opts.extra,
        },
        { z: `${p}-tab`, x: 350, y: 100, ...opts.step, wires: [[`${p}-file`]] },
        { id: `${p}-file`, type: 'file', z: `${p}-tab`, name: '', filename: opts.file, filenameType: 'str', appendNewline: true, createDir: true, overwriteFile: 'false', encoding: 'none', x: 550, y: 100, wires: [] },
    ];
}
