/**
 * A stream's open shards and their hash key ranges (ListShards), for KPL aggregation: records
 * packed into one aggregate must all belong to the shard the aggregate lands on, or a KCL consumer
 * drops the ones outside its hash range.
 */
import { ListShardsCommand, ListShardsCommandOutput } from '@aws-sdk/client-kinesis';
import { streamTarget } from './records';
import type { KinesisSender } from './requests';

export interface ShardRange {
    shardId: string;
    start: bigint;
    end: bigint;
}

/** How long to send unaggregated after ListShards failed, before trying again. */
export const SHARD_MAP_RETRY_MS = 30_000;

export class ShardMap {
    /** Open shards, sorted by hash range; undefined = not loaded (or stale). */
    shards?: ShardRange[];
    loading?: Promise<void>;
    /** After a failed load: no new attempt before this time. */
    retryAt?: number;
    /** Loads so far (tests, status). */
    loads = 0;

    constructor(private readonly client: KinesisSender, private readonly stream: string) {}

    get ready(): boolean {
        return this.shards !== undefined;
    }

    /** Forgets the map (the stream was resharded); the next aggregate waits for a fresh one. */
    invalidate(): void {
        this.shards = undefined;
        this.retryAt = undefined;
    }

    /** Loads the map unless a load is running; resolves when it is done (never rejects). */
    load(): Promise<void> {
        if (this.loading) return this.loading;
        this.loads++;
        this.loading = this.fetch()
            .then((shards) => {
                this.shards = shards.length ? shards : undefined;
                this.retryAt = shards.length ? undefined : Date.now() + SHARD_MAP_RETRY_MS;
            }, () => {
                // Without a map records go out unaggregated; a PutRecords error (if any) explains.
                this.shards = undefined;
                this.retryAt = Date.now() + SHARD_MAP_RETRY_MS;
            })
            .finally(() => {
                this.loading = undefined;
            });
        return this.loading;
    }

    /** The open shard whose range holds `hash` (binary search). */
    shardOf(hash: bigint): ShardRange | undefined {
        const list = this.shards;
        if (!list) return undefined;
        let lo = 0;
        let hi = list.length - 1;
        while (lo <= hi) {
            const mid = (lo + hi) >> 1;
            const r = list[mid];
            if (hash < r.start) hi = mid - 1;
            else if (hash > r.end) lo = mid + 1;
            else return r;
        }
        return undefined;
    }

    byId(shardId: string): ShardRange | undefined {
        return this.shards?.find((s) => s.shardId === shardId);
    }

    private async fetch(): Promise<ShardRange[]> {
        const shards: ShardRange[] = [];
        let token: string | undefined;
        for (let page = 0; page < 100; page++) {
            const out = (await this.client.send(new ListShardsCommand(token ? { NextToken: token } : streamTarget(this.stream)))) as ListShardsCommandOutput;
            for (const sh of out.Shards ?? []) {
                if (sh.SequenceNumberRange?.EndingSequenceNumber) continue; // closed
                if (!sh.ShardId || !sh.HashKeyRange?.StartingHashKey || !sh.HashKeyRange.EndingHashKey) continue;
                shards.push({ shardId: sh.ShardId, start: BigInt(sh.HashKeyRange.StartingHashKey), end: BigInt(sh.HashKeyRange.EndingHashKey) });
            }
            token = out.NextToken;
            if (!token) break;
        }
        return shards.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    }
}
