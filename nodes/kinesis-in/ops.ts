/**
 * The operations view's runtime side (thin glue over lib/consumer/lease-view and lease-stats):
 *  - a registry of the kinesis-in consumers running in this Node-RED (`opsRegister` / `opsDeregister`,
 *    called by kinesis-in on start / close); each gets a `LeaseStatsPublisher` that writes its
 *    per-shard statistics and this Node-RED's label on the leases it holds (another Node-RED's view
 *    shows them);
 *  - the admin endpoint `GET /kinesis-in/ops` (permission `kinesis-in.read`): per application (lease
 *    table) of the deployed kinesis-in nodes, one row per shard. Never a credential: errors go
 *    through the config node's `explain()` (secrets redacted) and are clipped.
 */
import os from 'node:os';
import path from 'node:path';
import type { Node, NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LeaseStatsPublisher, LocalShardSource } from '../../lib/consumer/lease-stats';
import { ApplicationView, buildApplicationView, scanLeases } from '../../lib/consumer/lease-view';
import type { KinesisConfigNode } from '../shared/types';

interface Entry {
    node: Node;
    config: KinesisConfigNode;
    tableName: string;
    streamName: string;
    consumer: LocalShardSource;
    publisher: LeaseStatsPublisher;
}

/** One application as the endpoint answers it. */
export interface OpsApplication extends Partial<ApplicationView> {
    tableName: string;
    streamNames: string[];
    connection: string;
    nodes: Array<{ id: string; name: string; workerId: string }>;
    error?: { kind: string; status: string; message: string };
}

export interface OpsReply {
    /** This Node-RED, as other instances' views show it. */
    nodeRed: string;
    at: number;
    applications: OpsApplication[];
}

const entries = new Map<string, Entry>();
/** One scan per application at a time; answers younger than CACHE_MS are shared between viewers. */
const scans = new Map<string, { at: number; result: Promise<Pick<OpsApplication, 'shards' | 'owners' | 'truncated' | 'error'>> }>();
const CACHE_MS = 1000;
const SCAN_TIMEOUT_MS = 8000;
const MESSAGE_MAX = 300;

function clip(text: string, max = MESSAGE_MAX): string {
    return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** "host:port · pid N · userDir" — which Node-RED a worker runs in. */
export function nodeRedLabel(RED: NodeAPI): string {
    const settings = RED.settings as unknown as { uiPort?: number; userDir?: string };
    const parts = [`${os.hostname()}${settings.uiPort ? `:${settings.uiPort}` : ''}`, `pid ${process.pid}`];
    if (settings.userDir) parts.push(path.basename(settings.userDir));
    return clip(parts.join(' · '), 120);
}

/** kinesis-in calls this once its consumer exists. */
export function opsRegister(
    RED: NodeAPI,
    node: Node,
    config: KinesisConfigNode,
    dynamodb: DynamoDBClient,
    consumer: LocalShardSource,
    names: { tableName: string; streamName: string },
): void {
    opsDeregister(node);
    const publisher = new LeaseStatsPublisher(consumer, dynamodb, names.tableName, nodeRedLabel(RED), {
        onError: (err) => node.debug?.(`operations view statistics not written: ${clip(config.explain(err, { action: 'dynamodb:UpdateItem', tableName: names.tableName }).message)}`),
    });
    entries.set(node.id, { node, config, consumer, publisher, ...names });
    publisher.start();
}

/** kinesis-in calls this when it closes. */
export function opsDeregister(node: Node): void {
    const e = entries.get(node.id);
    if (!e) return;
    e.publisher.stop();
    entries.delete(node.id);
}

async function scanApplication(RED: NodeAPI, group: Entry[]): Promise<Pick<OpsApplication, 'shards' | 'owners' | 'truncated' | 'error'>> {
    const { config, tableName } = group[0];
    try {
        const { dynamodb } = config.getClients();
        const scan = await scanLeases(dynamodb, tableName, { signal: AbortSignal.timeout(SCAN_TIMEOUT_MS) });
        const view = buildApplicationView(
            tableName,
            scan,
            group.map((e) => ({ workerId: e.consumer.workerId, nodeRed: e.publisher.nodeRed, shards: e.publisher.shardStats() })),
        );
        return { shards: view.shards, owners: view.owners, truncated: view.truncated };
    } catch (err) {
        const ex = config.explain(err, { action: 'dynamodb:Scan', tableName });
        if (ex.kind === 'not-found') {
            return { error: { kind: ex.kind, status: RED._('kinesis-in.ops.tableMissing'), message: clip(RED._('kinesis-in.ops.tableMissingLong', { table: tableName })) } };
        }
        return { error: { kind: ex.kind, status: clip(ex.status, 60), message: clip(ex.message) } };
    }
}

function application(RED: NodeAPI, key: string, group: Entry[]): Promise<OpsApplication> {
    const now = Date.now();
    let s = scans.get(key);
    if (!s || now - s.at > CACHE_MS) {
        s = { at: now, result: scanApplication(RED, group) };
        scans.set(key, s);
        // the cache entry goes once it is stale and its scan is over
        s.result.finally(() => setTimeout(() => scans.get(key) === s && scans.delete(key), CACHE_MS).unref());
    }
    return s.result.then((r) => ({
        tableName: group[0].tableName,
        streamNames: [...new Set(group.map((e) => e.streamName))],
        connection: group[0].config.name || group[0].config.id,
        nodes: group.map((e) => ({ id: e.node.id, name: e.node.name || '', workerId: e.consumer.workerId })),
        ...r,
    }));
}

/** The view of every application of the kinesis-in nodes deployed here. */
export async function opsView(RED: NodeAPI): Promise<OpsReply> {
    const groups = new Map<string, Entry[]>();
    for (const e of entries.values()) {
        const key = `${e.config.id}\u0000${e.tableName}`;
        const g = groups.get(key);
        if (g) g.push(e);
        else groups.set(key, [e]);
    }
    const applications = await Promise.all([...groups].map(([key, g]) => application(RED, key, g)));
    applications.sort((a, b) => (a.tableName < b.tableName ? -1 : a.tableName > b.tableName ? 1 : 0));
    return { nodeRed: nodeRedLabel(RED), at: Date.now(), applications };
}

export function registerOpsRoutes(RED: NodeAPI): void {
    RED.httpAdmin.get('/kinesis-in/ops', RED.auth.needsPermission('kinesis-in.read'), (_req: Request, res: Response) => {
        opsView(RED)
            .then((reply) => res.json(reply))
            .catch(() => res.status(500).json({ error: RED._('kinesis-in.ops.failed') }));
    });
}
