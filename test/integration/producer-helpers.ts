/** Test helpers for the producer: fault injection around a real client, reading a stream back. */
import {
    GetRecordsCommand,
    GetShardIteratorCommand,
    KinesisClient,
    ListShardsCommand,
    PutRecordsCommand,
    PutRecordsRequestEntry,
    PutRecordsResultEntry,
    _Record,
} from '@aws-sdk/client-kinesis';
import type { KinesisSender } from '../../lib/producer/producer';

type Plan = (entry: PutRecordsRequestEntry, attempt: number) => string | undefined;

/** Wraps a real client: counts requests and answers the entries `plan` picks with an ErrorCode. */
export function faultInjector(client: KinesisSender, plan: Plan = () => undefined) {
    const attempts = new Map<string, number>();
    const requests: PutRecordsRequestEntry[][] = [];
    const sender: KinesisSender = {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        async send(cmd: any, opts?: { abortSignal?: AbortSignal }) {
            if (!(cmd instanceof PutRecordsCommand)) return client.send(cmd, opts);
            const entries = cmd.input.Records ?? [];
            requests.push(entries);
            const codes = entries.map((e) => {
                const id = Buffer.from(e.Data!).toString('utf8', 0, 64);
                const n = (attempts.get(id) ?? 0) + 1;
                attempts.set(id, n);
                return plan(e, n);
            });
            const pass = entries.filter((_, i) => !codes[i]);
            const real = pass.length ? await client.send(new PutRecordsCommand({ StreamName: cmd.input.StreamName, Records: pass }), opts) : { Records: [] };
            const answers: PutRecordsResultEntry[] = [...(real.Records ?? [])];
            let failed = real.FailedRecordCount ?? 0;
            const Records = codes.map((code) => {
                if (!code) return answers.shift()!;
                failed++;
                return { ErrorCode: code, ErrorMessage: code === 'InternalFailure' ? 'Internal service failure.' : 'Rate exceeded for shard shardId-000000000000 in stream under account 000000000000.' };
            });
            return { FailedRecordCount: failed, Records };
        },
    };
    return { sender, requests, attempts };
}

/** Every record of a stream, per shard in shard order. */
export async function readAll(client: KinesisClient, streamName: string): Promise<Array<_Record & { shardId: string }>> {
    const shards = (await client.send(new ListShardsCommand({ StreamName: streamName }))).Shards ?? [];
    const out: Array<_Record & { shardId: string }> = [];
    for (const sh of shards) {
        let it = (await client.send(new GetShardIteratorCommand({ StreamName: streamName, ShardId: sh.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
        for (let i = 0; it && i < 200; i++) {
            const r = await client.send(new GetRecordsCommand({ ShardIterator: it, Limit: 10_000 }));
            for (const rec of r.Records ?? []) out.push({ ...rec, shardId: sh.ShardId! });
            if ((r.Records ?? []).length === 0 && (r.MillisBehindLatest ?? 0) === 0) break;
            it = r.NextShardIterator;
        }
    }
    return out;
}

