/**
 * The lease table: one DynamoDB table per application, KCL 2.x layout (hash key `leaseKey`, attributes
 * leaseOwner, leaseCounter, checkpoint, checkpointSubSequenceNumber, ownerSwitchesSinceCheckpoint,
 * parentShardId (SS), childShardIds (SS), startingHashKey / endingHashKey).
 *
 * Every write is conditional on `leaseCounter` (optimistic lock). A ConditionalCheckFailed can be
 * spurious (the write succeeded, the answer was lost and the SDK retried): the lease is re-read and
 * the operation counts as done when the table shows exactly what it would have written.
 *
 * Extra attributes (ignored by the KCL):
 *  - `initialTimestamp` (N, epoch ms): written on leases created at LATEST; a `LATEST` checkpoint is
 *    resolved as AT_TIMESTAMP of that moment, so records put between lease creation and the first
 *    iterator are not skipped.
 *  - `checkpointOwner` (S): a graceful hand-off request — the worker named wants this lease; the
 *    owner checkpoints what is finished and passes the lease on.
 */
import {
    AttributeValue,
    ConditionalCheckFailedException,
    CreateTableCommand,
    DeleteItemCommand,
    DescribeTableCommand,
    DynamoDBClient,
    GetItemCommand,
    PutItemCommand,
    ResourceInUseException,
    ResourceNotFoundException,
    ScanCommand,
    UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { sleep } from './sleep';

export const SHARD_END = 'SHARD_END';
export const TRIM_HORIZON = 'TRIM_HORIZON';
export const LATEST = 'LATEST';
export const AT_TIMESTAMP = 'AT_TIMESTAMP';

export interface Lease {
    leaseKey: string;
    leaseOwner?: string;
    leaseCounter: number;
    checkpoint: string;
    checkpointSubSequenceNumber: number;
    ownerSwitchesSinceCheckpoint: number;
    parentShardIds: string[];
    childShardIds: string[];
    startingHashKey?: string;
    endingHashKey?: string;
    initialTimestamp?: number;
    checkpointOwner?: string;
}

type Item = Record<string, AttributeValue>;

export function leaseFromItem(item: Item): Lease {
    return {
        leaseKey: item.leaseKey?.S ?? '',
        leaseOwner: item.leaseOwner?.S,
        leaseCounter: Number(item.leaseCounter?.N ?? 0),
        checkpoint: item.checkpoint?.S ?? TRIM_HORIZON,
        checkpointSubSequenceNumber: Number(item.checkpointSubSequenceNumber?.N ?? 0),
        ownerSwitchesSinceCheckpoint: Number(item.ownerSwitchesSinceCheckpoint?.N ?? 0),
        parentShardIds: item.parentShardId?.SS ?? [],
        childShardIds: item.childShardIds?.SS ?? [],
        startingHashKey: item.startingHashKey?.S,
        endingHashKey: item.endingHashKey?.S,
        initialTimestamp: item.initialTimestamp?.N !== undefined ? Number(item.initialTimestamp.N) : undefined,
        checkpointOwner: item.checkpointOwner?.S,
    };
}

export function leaseToItem(l: Lease): Item {
    const item: Item = {
        leaseKey: { S: l.leaseKey },
        leaseCounter: { N: String(l.leaseCounter) },
        checkpoint: { S: l.checkpoint },
        checkpointSubSequenceNumber: { N: String(l.checkpointSubSequenceNumber) },
        ownerSwitchesSinceCheckpoint: { N: String(l.ownerSwitchesSinceCheckpoint) },
    };
    if (l.leaseOwner) item.leaseOwner = { S: l.leaseOwner };
    if (l.parentShardIds.length) item.parentShardId = { SS: [...l.parentShardIds] };
    if (l.childShardIds.length) item.childShardIds = { SS: [...l.childShardIds] };
    if (l.startingHashKey) item.startingHashKey = { S: l.startingHashKey };
    if (l.endingHashKey) item.endingHashKey = { S: l.endingHashKey };
    if (l.initialTimestamp !== undefined) item.initialTimestamp = { N: String(l.initialTimestamp) };
    if (l.checkpointOwner) item.checkpointOwner = { S: l.checkpointOwner };
    return item;
}

export function newLease(shardId: string, checkpoint: string, extra: Partial<Lease> = {}): Lease {
    return {
        leaseKey: shardId,
        leaseCounter: 0,
        checkpoint,
        checkpointSubSequenceNumber: 0,
        ownerSwitchesSinceCheckpoint: 0,
        parentShardIds: [],
        childShardIds: [],
        ...extra,
    };
}

function isConditionalFailure(err: unknown): boolean {
    return err instanceof ConditionalCheckFailedException || (err as { name?: string })?.name === 'ConditionalCheckFailedException';
}

function isNotFound(err: unknown): boolean {
    return err instanceof ResourceNotFoundException || (err as { name?: string })?.name === 'ResourceNotFoundException';
}

export class LeaseTable {
    constructor(readonly dynamodb: DynamoDBClient, readonly tableName: string) {}

    /**
     * Creates the table on demand (PAY_PER_REQUEST) and waits until it is ACTIVE.
     * Resolves true when this call created it (a fresh table). `createAfter`: a missing table is
     * created only once this resolved (the consumer's start: the stream must exist first), and
     * ensureTable rejects with its error when it rejects.
     */
    async ensureTable(opts: { signal?: AbortSignal; timeoutMs?: number; createAfter?: Promise<unknown> } = {}): Promise<boolean> {
        const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
        let created = false;
        let status: string | undefined;
        try {
            const d = await this.dynamodb.send(new DescribeTableCommand({ TableName: this.tableName }), { abortSignal: opts.signal });
            status = d.Table?.TableStatus;
        } catch (err) {
            if (!isNotFound(err)) throw err;
            if (opts.createAfter) await opts.createAfter;
            try {
                await this.dynamodb.send(
                    new CreateTableCommand({
                        TableName: this.tableName,
                        AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
                        KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
                        BillingMode: 'PAY_PER_REQUEST',
                    }),
                    { abortSignal: opts.signal },
                );
                created = true;
            } catch (e) {
                const inUse = e instanceof ResourceInUseException || (e as { name?: string })?.name === 'ResourceInUseException';
                if (!inUse) throw e; // another worker created it at the same moment: fine
            }
        }
        let wait = 50;
        while (status !== 'ACTIVE') {
            if (opts.signal?.aborted) throw new Error('aborted');
            if (Date.now() > deadline) throw new Error(`lease table ${this.tableName} did not become ACTIVE (status ${status ?? 'unknown'})`);
            try {
                const d = await this.dynamodb.send(new DescribeTableCommand({ TableName: this.tableName }), { abortSignal: opts.signal });
                status = d.Table?.TableStatus;
            } catch (err) {
                if (!isNotFound(err)) throw err;
            }
            if (status !== 'ACTIVE') {
                await sleep(wait, opts.signal);
                wait = Math.min(wait * 2, 1000);
            }
        }
        return created;
    }

    async list(signal?: AbortSignal): Promise<Lease[]> {
        const out: Lease[] = [];
        let start: Item | undefined;
        do {
            const r = await this.dynamodb.send(
                new ScanCommand({ TableName: this.tableName, ConsistentRead: true, ExclusiveStartKey: start }),
                { abortSignal: signal },
            );
            for (const item of r.Items ?? []) out.push(leaseFromItem(item));
            start = r.LastEvaluatedKey;
        } while (start);
        return out;
    }

    async get(leaseKey: string): Promise<Lease | undefined> {
        const r = await this.dynamodb.send(
            new GetItemCommand({ TableName: this.tableName, Key: { leaseKey: { S: leaseKey } }, ConsistentRead: true }),
        );
        return r.Item ? leaseFromItem(r.Item) : undefined;
    }

    /** Creates a lease if none exists for the key. Resolves false when it already existed. */
    async create(lease: Lease): Promise<boolean> {
        try {
            await this.dynamodb.send(
                new PutItemCommand({
                    TableName: this.tableName,
                    Item: leaseToItem(lease),
                    ConditionExpression: 'attribute_not_exists(leaseKey)',
                }),
            );
            return true;
        } catch (err) {
            if (isConditionalFailure(err)) return false;
            throw err;
        }
    }

    /**
     * Runs a conditional update on `leaseCounter = expected`; on a conditional failure re-reads and
     * reports success when `spurious(current)` says the write did happen.
     */
    private async conditional(
        lease: Lease,
        update: string,
        values: Item,
        extraCondition: string | undefined,
        spurious: (current: Lease) => boolean,
        names?: Record<string, string>,
    ): Promise<Lease | undefined> {
        const condition = `leaseCounter = :expected${extraCondition ? ` AND ${extraCondition}` : ''}`;
        try {
            const r = await this.dynamodb.send(
                new UpdateItemCommand({
                    TableName: this.tableName,
                    Key: { leaseKey: { S: lease.leaseKey } },
                    UpdateExpression: update,
                    ConditionExpression: condition,
                    ExpressionAttributeValues: { ':expected': { N: String(lease.leaseCounter) }, ...values },
                    ExpressionAttributeNames: names,
                    ReturnValues: 'ALL_NEW',
                }),
            );
            return r.Attributes ? leaseFromItem(r.Attributes) : undefined;
        } catch (err) {
            if (!isConditionalFailure(err)) throw err;
            const current = await this.get(lease.leaseKey);
            if (current && current.leaseCounter === lease.leaseCounter + 1 && spurious(current)) return current;
            return undefined;
        }
    }

    /** Renews a lease held by `owner`. Resolves the new lease, or undefined when it was lost. */
    renew(lease: Lease, owner: string): Promise<Lease | undefined> {
        return this.conditional(
            lease,
            'SET leaseCounter = leaseCounter + :one',
            { ':one': { N: '1' }, ':owner': { S: owner } },
            'leaseOwner = :owner',
            (c) => c.leaseOwner === owner,
        );
    }

    /** Takes a lease (free, expired or stolen) for `owner`. Resolves the new lease or undefined. */
    take(lease: Lease, owner: string): Promise<Lease | undefined> {
        const switches = lease.leaseOwner !== owner;
        return this.conditional(
            lease,
            `SET leaseOwner = :owner, leaseCounter = leaseCounter + :one${switches ? ', ownerSwitchesSinceCheckpoint = if_not_exists(ownerSwitchesSinceCheckpoint, :zero) + :one' : ''} REMOVE checkpointOwner`,
            { ':one': { N: '1' }, ':owner': { S: owner }, ...(switches ? { ':zero': { N: '0' } } : {}) },
            undefined,
            (c) => c.leaseOwner === owner,
        );
    }

    /**
     * Writes a checkpoint (and renews). With `childShardIds` (at SHARD_END) records the children.
     * Only the owner may checkpoint; resolves undefined when the lease was lost.
     */
    checkpoint(lease: Lease, owner: string, checkpoint: string, subSequenceNumber: number, childShardIds?: string[]): Promise<Lease | undefined> {
        const values: Item = {
            ':one': { N: '1' },
            ':zero': { N: '0' },
            ':owner': { S: owner },
            ':cp': { S: checkpoint },
            ':sub': { N: String(subSequenceNumber) },
        };
        let update = 'SET leaseCounter = leaseCounter + :one, checkpoint = :cp, checkpointSubSequenceNumber = :sub, ownerSwitchesSinceCheckpoint = :zero';
        if (childShardIds && childShardIds.length) {
            update += ', childShardIds = :children';
            values[':children'] = { SS: childShardIds };
        }
        return this.conditional(
            lease,
            update,
            values,
            'leaseOwner = :owner',
            (c) => c.leaseOwner === owner && c.checkpoint === checkpoint && c.checkpointSubSequenceNumber === subSequenceNumber,
        );
    }

    /** Gives a lease up (no owner): another worker can take it at once. */
    release(lease: Lease, owner: string): Promise<Lease | undefined> {
        return this.conditional(
            lease,
            'SET leaseCounter = leaseCounter + :one REMOVE leaseOwner, checkpointOwner',
            { ':one': { N: '1' }, ':owner': { S: owner } },
            'leaseOwner = :owner',
            (c) => c.leaseOwner === undefined,
        );
    }

    /** Passes a lease straight to the worker that asked for it (graceful hand-off). */
    transfer(lease: Lease, owner: string, to: string): Promise<Lease | undefined> {
        return this.conditional(
            lease,
            'SET leaseCounter = leaseCounter + :one, leaseOwner = :to, ownerSwitchesSinceCheckpoint = if_not_exists(ownerSwitchesSinceCheckpoint, :zero) + :one REMOVE checkpointOwner',
            { ':one': { N: '1' }, ':zero': { N: '0' }, ':owner': { S: owner }, ':to': { S: to } },
            'leaseOwner = :owner',
            (c) => c.leaseOwner === to,
        );
    }

    /**
     * Asks the owner to hand the lease over to `requester` (graceful steal). Does not bump the
     * counter (the owner's renewals keep working and show the request). Resolves false when the
     * lease changed in between.
     */
    async requestHandOff(lease: Lease, requester: string): Promise<boolean> {
        try {
            await this.dynamodb.send(
                new UpdateItemCommand({
                    TableName: this.tableName,
                    Key: { leaseKey: { S: lease.leaseKey } },
                    UpdateExpression: 'SET checkpointOwner = :req',
                    ConditionExpression: 'leaseCounter = :expected AND leaseOwner = :owner',
                    ExpressionAttributeValues: {
                        ':expected': { N: String(lease.leaseCounter) },
                        ':owner': { S: lease.leaseOwner ?? '' },
                        ':req': { S: requester },
                    },
                }),
            );
            return true;
        } catch (err) {
            if (isConditionalFailure(err)) return false;
            throw err;
        }
    }

    async delete(leaseKey: string): Promise<void> {
        await this.dynamodb.send(new DeleteItemCommand({ TableName: this.tableName, Key: { leaseKey: { S: leaseKey } } }));
    }
}
