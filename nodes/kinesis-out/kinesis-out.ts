/**
 * `kinesis-out`: writes each message's payload (or ThingsBoard downlink converter results) to a
 * Kinesis data stream through the batching producer in lib/producer. Thin glue: settings →
 * Producer options, message → records, results → msg.kinesis, errors → status + done(err).
 */
import path from 'node:path';
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import {
    Producer,
    ProducerError,
    QueueFullError,
    RecordValidationError,
    ProducerClosedError,
    WriteResult,
} from '../../lib/producer/producer';
import { ResolveOptions, resolveRecords } from '../../lib/producer/input';
import { DEFAULT_MAX_RECORD_BYTES } from '../../lib/producer/records';
import { Later, propertyEvaluator } from './properties';
import { compactNumber, KinesisConfigNode, shortStatus, STATUS } from '../shared/types';

interface KinesisOutDef extends NodeDef {
    config?: string;
    streamName?: string;
    streamNameType?: string;
    partitionKey?: string;
    partitionKeyType?: string;
    keyGeneration?: 'random' | 'hash';
    explicitHashKey?: string;
    explicitHashKeyType?: string;
    lingerMs?: number | string;
    maxInFlight?: number | string;
    maxRecordBytes?: number | string;
    maxRetries?: number | string;
    maxQueued?: number | string;
    keyOrder?: boolean;
    ordered?: boolean;
    aggregate?: boolean;
    /** Not in the editor: how long close waits for queued records (default 10 s; Node-RED allows 15). */
    closeTimeoutMs?: number | string;
}

type OutMessage = NodeMessageInFlow & { metadata?: unknown; kinesis?: unknown };

interface Problem {
    status: string;
    fill: 'red' | 'yellow';
    until: number;
}

/** English messages shipped next to this file, used when the runtime has no catalog (e.g. under the test helper). */
let fallbackCatalog: Record<string, unknown> | undefined;
function fallback(key: string, vars: Record<string, unknown> = {}): string {
    if (!fallbackCatalog) {
        try {
            // eslint-disable-next-line @typescript-eslint/no-var-requires
            fallbackCatalog = require(path.join(__dirname, 'locales', 'en-US', 'kinesis-out.json')) as Record<string, unknown>;
        } catch {
            fallbackCatalog = {};
        }
    }
    let v: unknown = fallbackCatalog;
    for (const part of key.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[part] : undefined;
    if (typeof v !== 'string') return key;
    return v.replace(/__(\w+)__/g, (_m, name: string) => String(vars[name] ?? ''));
}

function num(v: unknown, dflt: number): number | undefined {
    if (v === undefined || v === null || v === '') return dflt;
    const n = Number(v);
    return Number.isFinite(n) ? n : dflt;
}

export = function (RED: NodeAPI): void {
    /** RED._ with the shipped English text as fallback when no catalog is loaded. */
    const t = (key: string, vars?: Record<string, string | number>): string => {
        const full = `kinesis-out.${key}`;
        const out = RED._(full, vars);
        return out && out !== full ? out : fallback(full, vars);
    };

    function KinesisOut(this: Node, def: KinesisOutDef) {
        RED.nodes.createNode(this, def);
        const node = this;
        const config = (def.config ? RED.nodes.getNode(def.config) : undefined) as KinesisConfigNode | undefined;
        let producer: Producer | undefined;
        let ticker: NodeJS.Timeout | undefined;
        let lastWritten = 0;
        let lastTick = Date.now();
        let lastText = '';
        let problem: Problem | undefined;
        let closing = false;

        if (!config) {
            node.status(STATUS.error(t('status.noConfig')));
        } else {
            config.register(node);
        }

        /** Where the node's partition key comes from, in words for errors (e.g. "msg.deviceId"). */
        const keyType = def.partitionKeyType || 'str';
        const keyText = String(def.partitionKey ?? '').slice(0, 60);
        const keySource = keyType === 'msg' || keyType === 'flow' || keyType === 'global' ? `${keyType}.${keyText}`
            : keyType === 'jsonata' ? 'the JSONata expression of the Partition key' : `the Partition key setting (${keyType})`;

        const explain = (value: string, error: string) => t('error.property', { value, error });
        const streamNameOf = propertyEvaluator(RED, node, def.streamName, def.streamNameType, explain);
        const partitionKeyOf = propertyEvaluator(RED, node, def.partitionKey, def.partitionKeyType, explain);
        const explicitHashKeyOf = propertyEvaluator(RED, node, def.explicitHashKey, def.explicitHashKeyType, explain);
        const keyGeneration = def.keyGeneration === 'hash' ? 'hash' : 'random';
        /**
         * The message's settings for resolveRecords, filled in per message (one object per node, not per
         * message: resolveRecords reads it synchronously and keeps nothing of it).
         */
        const resolveOpts: ResolveOptions = { streamName: undefined, partitionKey: undefined, partitionKeySource: keySource, explicitHashKey: undefined, msgMetadata: undefined, keyGeneration };

        function showStatus(force = false): void {
            if (!producer || closing) return;
            const now = Date.now();
            const elapsed = Math.max(1, now - lastTick) / 1000;
            const rate = (producer.written - lastWritten) / elapsed;
            if (producer.written > lastWritten && problem?.fill === 'red') problem = undefined;
            lastWritten = producer.written;
            lastTick = now;
            if (problem && now > problem.until) problem = undefined;
            const queued = compactNumber(producer.backlog);
            let text: string;
            let status;
            if (problem) {
                text = shortStatus(t('status.problem', { status: problem.status, queued }));
                status = problem.fill === 'red' ? STATUS.error(text) : STATUS.warn(text);
            } else {
                text = t('status.rate', { rate: compactNumber(rate), queued });
                status = producer.backlog > 0 ? STATUS.busy(text) : STATUS.ok(text);
            }
            const key = `${status.fill}|${text}`;
            if (key !== lastText || force) {
                lastText = key;
                node.status(status);
            }
        }

        /** Shows a problem at once when it is new; repeats of the same one wait for the 1 s ticker. */
        function setProblem(status: string, fill: 'red' | 'yellow', forMs: number): void {
            const isNew = !problem || problem.status !== status || problem.fill !== fill;
            problem = { status, fill, until: Date.now() + forMs };
            if (isNew) showStatus(true);
        }

        function getProducer(): Producer {
            if (producer) return producer;
            if (!config) throw new Error(t('error.noConfig'));
            const clients = config.getClients(); // throws in words when misconfigured
            producer = new Producer({
                client: clients.producerKinesis, // one HTTP attempt per call: maxRetries is the whole budget
                lingerMs: num(def.lingerMs, 50),
                maxInFlight: num(def.maxInFlight, 4),
                maxRecordBytes: num(def.maxRecordBytes, DEFAULT_MAX_RECORD_BYTES),
                maxRetries: num(def.maxRetries, 8),
                maxQueued: num(def.maxQueued, 10_000),
                keyOrder: def.keyOrder !== false,
                ordered: !!def.ordered,
                aggregate: !!def.aggregate,
                explain: (err, ctx) => config.explain(err, ctx),
                onRetry: ({ error }) => setProblem(error.status, 'yellow', 3_000),
                onFailure: ({ error }) => setProblem(error.status, 'red', 60_000),
                onCallbackError: (err) => node.error(err),
            });
            ticker = setInterval(() => showStatus(), 1_000);
            return producer;
        }

        function invalidInput(err: unknown, done: (err?: Error) => void): void {
            node.status(STATUS.error(t('status.invalidInput')));
            done(err as Error);
        }

        /** The message's records, then write (no Promise or closure of its own when the settings answer at once). */
        function handle(msg: OutMessage, done: (err?: Error) => void): void {
            if (closing) {
                done(new ProducerClosedError());
                return;
            }
            let streamName: unknown;
            let partitionKey: unknown;
            let explicitHashKey: unknown;
            try {
                streamName = streamNameOf(msg);
                partitionKey = partitionKeyOf(msg);
                explicitHashKey = explicitHashKeyOf(msg);
            } catch (err) {
                invalidInput(err, done);
                return;
            }
            if (streamName instanceof Later || partitionKey instanceof Later || explicitHashKey instanceof Later) {
                const wait = (v: unknown) => (v instanceof Later ? v.promise : v);
                Promise.all([wait(streamName), wait(partitionKey), wait(explicitHashKey)]).then(
                    ([s, k, h]) => write(msg, s, k, h, done),
                    (err) => invalidInput(err, done),
                );
                return;
            }
            write(msg, streamName, partitionKey, explicitHashKey, done);
        }

        function write(msg: OutMessage, streamName: unknown, partitionKey: unknown, explicitHashKey: unknown, done: (err?: Error) => void): void {
            if (closing) {
                done(new ProducerClosedError());
                return;
            }
            let records;
            try {
                resolveOpts.streamName = streamName;
                resolveOpts.partitionKey = partitionKey;
                resolveOpts.explicitHashKey = explicitHashKey;
                resolveOpts.msgMetadata = msg.metadata;
                records = resolveRecords(msg.payload, resolveOpts);
            } catch (err) {
                invalidInput(err, done);
                return;
            } finally {
                resolveOpts.msgMetadata = undefined; // not kept alive by the node
            }
            let p: Producer;
            try {
                p = getProducer();
            } catch (err) {
                node.status(STATUS.error(shortStatus((err as Error).message)));
                done(err as Error);
                return;
            }
            p.write(records, written, msg, done);
        }

        /** Every message's outcome (one function for all: the message and its done come back as a, b). */
        function written(err: Error | null, results: WriteResult[] | undefined, msg: OutMessage, done: (err?: Error) => void): void {
            if (!err) {
                msg.kinesis = results;
                try {
                    node.send(msg);
                } catch (thrown) {
                    done(thrown as Error);
                    return;
                }
                done(); // one that throws is reported by the producer (onCallbackError → node.error)
                return;
            }
            if (err instanceof ProducerError) {
                msg.kinesis = err.results.map((r) => r ?? null);
                setProblem(err.status, 'red', 60_000);
            } else if (err instanceof RecordValidationError) {
                setProblem(t('status.invalidRecord'), 'red', 10_000);
            } else if (err instanceof QueueFullError) {
                setProblem(t('status.queueFull'), 'yellow', 5_000);
            }
            done(err);
        }

        // the message goes on with node.send once acknowledged (what the handler's send does)
        node.on('input', (msg: NodeMessageInFlow, _send: unknown, done: (err?: Error) => void) => {
            try {
                handle(msg as OutMessage, done);
            } catch (err) {
                done(err as Error);
            }
        });

        node.on('close', (_removed: boolean, done: () => void) => {
            closing = true;
            if (ticker) clearInterval(ticker);
            ticker = undefined;
            const finish = () => {
                config?.deregister(node);
                done();
            };
            if (!producer) {
                finish();
                return;
            }
            const timeout = num(def.closeTimeoutMs, 10_000) ?? 10_000;
            producer.close(timeout).then(({ messages, records }) => {
                if (messages > 0) node.warn(t('log.unsent', { messages, records, seconds: +(timeout / 1000).toFixed(1) }));
            }).catch((err) => {
                node.warn(String((err as Error)?.message ?? err));
            }).finally(finish);
        });
    }

    RED.nodes.registerType('kinesis-out', KinesisOut as unknown as Parameters<NodeAPI['nodes']['registerType']>[1]);
};
