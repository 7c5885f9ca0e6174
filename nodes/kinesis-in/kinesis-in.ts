/**
 * `kinesis-in`: thin glue over lib/consumer. One message per record (or per batch) on output 1; the
 * checkpoint only moves over records the flow has finished.
 *
 * checkpointMode 'complete' (default): a record is finished when no copy of its message is on its way
 * or inside a node (./tracking.ts, Node-RED's message hooks). `done(err)` anywhere (and, with
 * `failOnCatch`, the message reaching a Catch node) marks the record failed: the failure policy
 * (lib/consumer/failure-policy.ts) re-sends it `retries` times, then holds the shard, sends it to the
 * failure output (output 2) or writes it to a dead-letter stream. checkpointMode 'sent': finished as
 * soon as it is sent. Optional metrics message on output 3 (./metrics.ts).
 */
import type { NodeAPI, Node, NodeDef, NodeMessage } from 'node-red';
import { randomBytes } from 'node:crypto';
import { KinesisConsumer, ConsumerRecord, DoneCallback, ConsumerOptions, resolveWorkerId, parseTimestamp } from '../../lib/consumer/consumer';
import { FailurePolicy, FailureAction, FailureInfo, DEFAULT_FAILURE_POLICY, deadLetterRecord } from '../../lib/consumer/failure-policy';
import { Producer } from '../../lib/producer/producer';
import { Track, TrackOwner, acquireTracker, findHooks, findRuntimeView } from './tracking';
import { MetricsCollector } from './metrics';
import type { InitialPosition } from '../../lib/consumer/shard-sync';
import { KinesisConfigNode, STATUS, compactNumber, shortStatus } from '../shared/types';
import { notAnswering } from './backend-wait';
import { opsDeregister, opsRegister, registerOpsRoutes } from './ops';

interface KinesisInDef extends NodeDef {
    config: string;
    streamName?: string;
    applicationName?: string;
    initialPosition?: 'LATEST' | 'TRIM_HORIZON' | 'AT_TIMESTAMP';
    timestamp?: string;
    timestampType?: 'str' | 'num' | 'env';
    readMode?: 'polling' | 'efo';
    consumerName?: string;
    maxRecords?: number | string;
    idleTimeMs?: number | string;
    payloadFormat?: 'buffer' | 'string' | 'json';
    outputMode?: 'record' | 'batch';
    checkpointMode?: 'complete' | 'sent';
    checkpointIntervalMs?: number | string;
    checkpointEveryRecords?: number | string;
    maxInFlight?: number | string;
    ordered?: boolean;
    workerId?: string;
    failoverTimeMs?: number | string;
    renewIntervalMs?: number | string;
    takerIntervalMs?: number | string;
    shardSyncIntervalMs?: number | string;
    drainTimeoutMs?: number | string;
    gracefulHandOff?: boolean;
    failOnCatch?: boolean;
    retries?: number | string;
    retryDelayMs?: number | string;
    retryMaxDelayMs?: number | string;
    failureAction?: FailureAction;
    deadLetterStream?: string;
    metricsIntervalMs?: number | string;
}

/** What one tracked message carries: a record, or a batch's records. */
type Item = ConsumerRecord | ConsumerRecord[];

function num(v: number | string | undefined, dflt: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    if (v === undefined || v === null || v === '') return dflt;
    const n = Number(v);
    if (!Number.isFinite(n)) return dflt;
    return Math.min(max, Math.max(min, Math.round(n)));
}

export = function (RED: NodeAPI): void {
    function KinesisIn(this: Node, def: KinesisInDef) {
        RED.nodes.createNode(this, def);
        const node = this;
        const config = RED.nodes.getNode(def.config) as KinesisConfigNode | null;
        const streamName = (def.streamName ?? '').trim();
        const tableName = (def.applicationName ?? '').trim() || streamName.replace(/^arn:.*:stream\//, '');
        const payloadFormat = def.payloadFormat ?? 'buffer';
        const batchMode = def.outputMode === 'batch';
        const whenSent = def.checkpointMode === 'sent';
        const hooks = whenSent ? undefined : findHooks(RED);
        const failOnCatch = def.failOnCatch === true || (def.failOnCatch as unknown) === 'true';
        const failureAction: FailureAction = def.failureAction === 'output' || def.failureAction === 'deadLetter' ? def.failureAction : 'hold';
        const deadLetterStream = (def.deadLetterStream ?? '').trim();
        const metricsIntervalMs = num(def.metricsIntervalMs, 0, 0);
        let consumer: KinesisConsumer | undefined;
        let statusTimer: NodeJS.Timeout | undefined;
        let lastErrorText = '';
        let errorStatus: { text: string; at: number } | undefined;
        let warnStatus: { text: string; at: number } | undefined;
        let closing = false;

        const fail = (text: string) => {
            node.error(text);
            node.status(STATUS.error(shortStatus(text)));
        };
        if (!config) return fail(RED._('kinesis-in.errors.noConfig'));
        if (!streamName) return fail(RED._('kinesis-in.errors.noStream'));

        let initialPosition: InitialPosition = { type: 'LATEST' };
        if (def.initialPosition === 'TRIM_HORIZON') initialPosition = { type: 'TRIM_HORIZON' };
        else if (def.initialPosition === 'AT_TIMESTAMP') {
            let raw: unknown = def.timestamp;
            try {
                raw = RED.util.evaluateNodeProperty(def.timestamp ?? '', def.timestampType ?? 'str', node, {} as NodeMessage);
            } catch {
                /* keep the raw text */
            }
            const ts = parseTimestamp(raw);
            if (!ts) return fail(RED._('kinesis-in.errors.badTimestamp', { value: String(raw ?? '') }));
            initialPosition = { type: 'AT_TIMESTAMP', timestamp: ts };
        }

        // worker id: `${NAME}` parts from the node's env (flow, group, global) or the process environment
        const workerId = resolveWorkerId(def.workerId, (name) =>
            typeof RED.util.getSetting === 'function' ? RED.util.getSetting(node, name) : process.env[name],
        );
        if ('error' in workerId) return fail(workerId.error);

        let clients;
        try {
            clients = config.getClients();
        } catch (err) {
            return fail((err as Error).message);
        }
        config.register(node);

        // name the resource the failed call was about (explain() picks the endpoint and wording by it)
        const explainCtx = (action: string) => (action.startsWith('dynamodb:') ? { action, tableName } : { action, streamName });

        // ---- sending, completion tracking (./tracking.ts) and the failure policy ----
        if (!whenSent && !hooks) node.warn(RED._('kinesis-in.warn.noHooks'));
        const shared = hooks ? acquireTracker(hooks, findRuntimeView(RED)) : undefined;
        const tracker = shared?.tracker;
        let policy: FailurePolicy<Item> | undefined;
        /** Records whose message a deploy dropped (reported once per deploy). */
        let lostByDeploy = 0;
        const owner: TrackOwner<Item> = {
            failOnCatch,
            finished(t: Track<Item>) {
                if (t.error === undefined || t.error === null) t.done();
                else if (policy) policy.failed({ item: t.item, shardId: t.shardId, error: t.error, attempt: t.attempt, done: t.done });
                else t.done(t.error);
            },
            // a copy was dropped by a deploy that stopped the node holding it: not a failure of the flow, the
            // record simply did not finish — sent again now (same attempt) while the shard is ours; otherwise
            // left unchecked (done with an error: delivered again after the restart / by the next owner)
            lost(t: Track<Item>) {
                if (lostByDeploy++ === 0) {
                    setImmediate(() => {
                        node.warn(RED._('kinesis-in.warn.lostByDeploy', { count: lostByDeploy }));
                        lostByDeploy = 0;
                    });
                }
                if (!closing && consumer !== undefined && consumer.canEmit(t.shardId)) resend(t.item, t.attempt, t.done);
                else t.done(new Error('dropped by a deploy'));
            },
        };

        const send = (msg: NodeMessage & { _msgid: string }, item: Item, shardId: string, attempt: number, done: DoneCallback) => {
            if (!tracker) {
                node.send(msg);
                done();
                return;
            }
            const t = new Track<Item>(owner, item, shardId, attempt, done);
            tracker.track(msg._msgid, t);
            node.send(msg);
            // nothing wired: finished at once
            tracker.sent(msg._msgid, t as Track<unknown>);
        };

        // message ids: a random prefix per node + a counter (cheaper than a crypto id per record)
        const idPrefix = randomBytes(4).toString('hex');
        let idCounter = 0;
        const nextId = () => idPrefix + (++idCounter >>> 0).toString(16).padStart(8, '0');

        let parseWarnings = 0;
        const payloadOf = (r: ConsumerRecord, meta: Record<string, unknown>): unknown => {
            if (payloadFormat === 'buffer') return r.data;
            const text = r.data.toString('utf8');
            if (payloadFormat === 'string') return text;
            try {
                return JSON.parse(text);
            } catch (err) {
                // not lost: sent as the UTF-8 text, with the reason in msg.kinesis.parseError
                meta.parseError = (err as Error).message;
                if (parseWarnings++ % 1000 === 0) {
                    node.warn(RED._('kinesis-in.warn.notJson', { shardId: r.shardId, sequenceNumber: r.sequenceNumber, error: (err as Error).message }));
                }
                return text;
            }
        };

        const metaOf = (r: ConsumerRecord): Record<string, unknown> => {
            const meta: Record<string, unknown> = {
                streamName,
                shardId: r.shardId,
                sequenceNumber: r.sequenceNumber,
                subSequenceNumber: r.subSequenceNumber,
                partitionKey: r.partitionKey,
                approximateArrivalTimestamp: r.approximateArrivalTimestamp ? r.approximateArrivalTimestamp.getTime() : undefined,
                millisBehindLatest: r.millisBehindLatest,
            };
            if (r.explicitHashKey) meta.explicitHashKey = r.explicitHashKey;
            return meta;
        };

        const recordMessage = (r: ConsumerRecord): NodeMessage & { _msgid: string } => {
            const kinesis = metaOf(r);
            const payload = payloadOf(r, kinesis);
            return { _msgid: nextId(), payload, topic: r.partitionKey, kinesis } as NodeMessage & { _msgid: string };
        };

        const batchMessage = (records: ConsumerRecord[]): NodeMessage & { _msgid: string } => {
            const metas = records.map(metaOf);
            const payload = records.map((r, i) => payloadOf(r, metas[i]));
            const first = records[0];
            const kinesis = {
                streamName,
                shardId: first.shardId,
                millisBehindLatest: records[records.length - 1].millisBehindLatest,
                records: metas,
            };
            return { _msgid: nextId(), payload, topic: first.shardId, kinesis } as unknown as NodeMessage & { _msgid: string };
        };

        const messageOf = (item: Item) => (Array.isArray(item) ? batchMessage(item) : recordMessage(item));
        /** A record (or batch) sent again as a new message; `msg.kinesis.attempt` from the second attempt on. */
        const resend = (item: Item, attempt: number, done: DoneCallback): void => {
            const msg = messageOf(item);
            if (attempt > 1) (msg as unknown as { kinesis: { attempt: number } }).kinesis.attempt = attempt;
            send(msg, item, shardOf(item), attempt, done);
        };
        const shardOf = (item: Item) => (Array.isArray(item) ? item[0].shardId : item.shardId);
        const positionOf = (item: Item) => {
            const r = Array.isArray(item) ? item[0] : item;
            const n = Array.isArray(item) ? ` (batch of ${item.length})` : '';
            return `record ${r.sequenceNumber}${r.subSequenceNumber ? `/${r.subSequenceNumber}` : ''}${n}`;
        };

        const onRecord = (r: ConsumerRecord, done: DoneCallback) => send(recordMessage(r), r, r.shardId, 1, done);
        const onBatch = (records: ConsumerRecord[], done: DoneCallback) => send(batchMessage(records), records, records[0].shardId, 1, done);

        let deadLetters: Producer | undefined;
        /** Dead-letter writes not answered yet: their records can still finish (close waits for them). */
        let deadLetterWrites = 0;
        let heldText: { shardId: string; text: string } | undefined;
        if (tracker) {
            policy = new FailurePolicy<Item>(
                {
                    retries: num(def.retries, DEFAULT_FAILURE_POLICY.retries, 0, 100),
                    retryDelayMs: num(def.retryDelayMs, DEFAULT_FAILURE_POLICY.retryDelayMs, 0, 3_600_000),
                    retryMaxDelayMs: num(def.retryMaxDelayMs, DEFAULT_FAILURE_POLICY.retryMaxDelayMs, 0, 3_600_000),
                    action: failureAction,
                },
                {
                    canEmit: (shardId) => !closing && consumer !== undefined && consumer.canEmit(shardId),
                    resend,
                    toOutput: (item, error, attempts) => {
                        const msg = messageOf(item) as NodeMessage & { error: FailureInfo; attempts: number };
                        msg.error = error;
                        msg.attempts = attempts;
                        node.send([null, msg]);
                    },
                    deadLetter: async (item, error, attempts) => {
                        if (!deadLetters) throw new Error(RED._('kinesis-in.errors.noDeadLetterStream'));
                        const records = (Array.isArray(item) ? item : [item]).map((r) =>
                            deadLetterRecord(r, { sourceStream: streamName, deadLetterStream, error, attempts }));
                        deadLetterWrites++;
                        try {
                            await deadLetters.put(records);
                        } finally {
                            deadLetterWrites--;
                        }
                    },
                    held: (item, shardId, error, attempts) => {
                        const text = RED._('kinesis-in.errors.held', { shardId, position: positionOf(item), attempts, error: error.message });
                        heldText = { shardId, text };
                        node.error(text);
                        updateStatus();
                    },
                },
            );
            if (failureAction === 'deadLetter') {
                if (!deadLetterStream) node.warn(RED._('kinesis-in.errors.noDeadLetterStream'));
                else deadLetters = new Producer({ client: clients.producerKinesis, lingerMs: 0, maxRetries: 5, explain: (err, ctx) => config.explain(err, ctx) });
            }
        }
        const metrics = metricsIntervalMs > 0 ? new MetricsCollector({ streamName, applicationName: tableName, workerId: workerId.id }) : undefined;

        const failover = num(def.failoverTimeMs, 10_000, 500);
        const opts: ConsumerOptions = {
            kinesis: clients.kinesis,
            ...(def.readMode === 'efo' ? { subscribeKinesis: clients.subscribeKinesis } : {}),
            dynamodb: clients.dynamodb,
            streamName,
            tableName,
            workerId: workerId.id,
            initialPosition,
            readMode: def.readMode === 'efo' ? 'efo' : 'polling',
            consumerName: (def.consumerName ?? '').trim() || tableName,
            maxRecords: num(def.maxRecords, 10_000, 1, 10_000),
            idleTimeMs: num(def.idleTimeMs, 1000, 0),
            maxInFlight: num(def.maxInFlight, 1000, 1),
            ordered: def.ordered === true || (def.ordered as unknown) === 'true',
            outputMode: batchMode ? 'batch' : 'record',
            onRecord,
            onBatch,
            // 'hold' (and a failed dead-letter write): the shard waits
            holdOnFailure: true,
            checkpointIntervalMs: num(def.checkpointIntervalMs, 5000, 100),
            checkpointEveryRecords: num(def.checkpointEveryRecords, 10_000, 0),
            failoverTimeMs: failover,
            renewIntervalMs: def.renewIntervalMs ? num(def.renewIntervalMs, 0, 50) : undefined,
            takerIntervalMs: def.takerIntervalMs ? num(def.takerIntervalMs, 0, 100) : undefined,
            shardSyncIntervalMs: num(def.shardSyncIntervalMs, 60_000, 500),
            drainTimeoutMs: num(def.drainTimeoutMs, 5000, 0, 12_000),
            gracefulHandOff: def.gracefulHandOff !== false,
            onError: (err, ctx) => {
                metrics?.error(ctx.shardId);
                const ex = config.explain(err, explainCtx(ctx.action));
                errorStatus = { text: ex.status, at: Date.now() };
                if (ex.message !== lastErrorText) {
                    lastErrorText = ex.message;
                    node.error(ctx.shardId ? `${ctx.shardId}: ${ex.message}` : ex.message);
                }
                updateStatus();
            },
            onWarning: (message, err) => {
                if (metrics && /: throttled$/.test(message)) metrics.throttle(message.slice(0, message.indexOf(':')));
                warnStatus = { text: message.replace(/^shardId-0*(?=\d)/, '#'), at: Date.now() };
                if (err) node.debug?.(`${message}: ${(err as Error).message ?? err}`);
            },
            onEvent: (e) => {
                if (e.type === 'running') {
                    errorStatus = undefined;
                    lastErrorText = '';
                    updateStatus();
                } else if (e.type === 'duplicateWorkerId' && errorStatus) {
                    errorStatus.at = Number.POSITIVE_INFINITY; // a misconfiguration: the status stays red until a redeploy
                    updateStatus();
                } else if (e.type === 'checkpoint') {
                    metrics?.checkpoint(e.shardId);
                } else if (e.type === 'failed') {
                    // the policy's `held` said it in full; without a policy (no hooks) say it here
                    if (!policy) node.warn(RED._('kinesis-in.warn.held', { shardId: e.shardId, sequenceNumber: e.sequenceNumber }));
                    updateStatus();
                } else if ((e.type === 'lost' || e.type === 'released') && heldText?.shardId === e.shardId) {
                    heldText = undefined;
                }
            },
        };

        let lastCount = 0;
        let lastAt = Date.now();
        let progressAt = Date.now();
        let lastText = '';
        function updateStatus() {
            if (!consumer || closing) return;
            const m = consumer.metrics();
            const now = Date.now();
            const rate = ((m.delivered - lastCount) * 1000) / Math.max(1, now - lastAt);
            if (m.delivered !== lastCount || m.inFlight === 0) progressAt = now;
            lastCount = m.delivered;
            lastAt = now;
            let status;
            const silent = notAnswering(m.unansweredMs);
            if (errorStatus && (m.state !== 'running' || now - errorStatus.at < 30_000)) {
                status = STATUS.error(shortStatus(errorStatus.text));
            } else if (silent) {
                // a backend keeps calls waiting (paused, connection silently dropped): say which, for how long
                status = STATUS.warn(shortStatus(RED._('kinesis-in.status.notAnswering', { backend: silent.backend, seconds: silent.seconds }), 40));
            } else if (m.state === 'starting') {
                status = STATUS.busy(RED._('kinesis-in.status.starting'));
            } else {
                const parts = [RED._(m.shards === 1 ? 'kinesis-in.status.shard' : 'kinesis-in.status.shards', { count: m.shards }), `${compactNumber(rate)}/s`];
                if (m.lagMs !== undefined) parts.push(`lag ${m.lagMs < 10_000 ? (m.lagMs / 1000).toFixed(1) : Math.round(m.lagMs / 1000)}s`);
                const text = parts.join(' · ');
                if (m.inFlight > 0 && now - progressAt > 30_000) {
                    // records sent long ago and never completed: a node in the flow does not call done()
                    status = STATUS.warn(shortStatus(RED._('kinesis-in.status.waiting', { count: m.inFlight }), 40));
                } else if (m.failedShards > 0) {
                    // the shard waits: red; the full reason went to the log (node.error) and the metrics
                    const which = heldText ? `${heldText.shardId.replace(/^shardId-0*(?=\d)/, '#')} ` : '';
                    status = STATUS.error(shortStatus(`${which}${RED._('kinesis-in.status.held')}`, 40));
                }
                else if (warnStatus && now - warnStatus.at < 10_000) status = STATUS.warn(shortStatus(`${text} · ${warnStatus.text}`, 40));
                else if (m.lagMs !== undefined && m.lagMs > 60_000) status = STATUS.warn(text);
                else if (m.shards === 0) status = STATUS.idle(text);
                else status = STATUS.ok(text);
            }
            const key = `${status.fill}|${status.text}`;
            if (key !== lastText) {
                lastText = key;
                node.status(status);
            }
        }

        try {
            consumer = new KinesisConsumer(opts);
        } catch (err) {
            shared?.release();
            void deadLetters?.close(0).catch(() => undefined);
            return fail((err as Error).message);
        }
        node.status(STATUS.busy(RED._('kinesis-in.status.starting')));
        consumer.start().catch((err) => opts.onError?.(err, { action: 'kinesis:DescribeStreamSummary' }));
        statusTimer = setInterval(updateStatus, 1000);
        opsRegister(RED, node, config, clients.dynamodb, consumer, { tableName, streamName });
        const metricsTimer = metrics
            ? setInterval(() => {
                  if (!consumer || closing) return;
                  const payload = metrics.report(consumer.shardMetrics(), policy?.counters ?? { failed: 0, retried: 0, toOutput: 0, deadLettered: 0, held: 0 });
                  node.send([null, null, { topic: 'kinesis-in/metrics', payload }]);
              }, Math.max(1000, metricsIntervalMs))
            : undefined;

        node.on('close', (_removed: boolean, done: () => void) => {
            closing = true;
            if (statusTimer) clearInterval(statusTimer);
            opsDeregister(node);
            if (metricsTimer) clearInterval(metricsTimer);
            // re-sends waiting for their backoff: not checkpointed (delivered again after the restart)
            policy?.close();
            const c = consumer;
            consumer = undefined;
            let finished = false;
            const finish = () => {
                if (finished) return;
                finished = true;
                if (tracker) tracker.forget(owner);
                shared?.release();
                const dl = deadLetters;
                deadLetters = undefined;
                void dl?.close(2000).catch(() => undefined);
                config.deregister(node);
                node.status(STATUS.clear());
                done();
            };
            if (!c) return finish();
            // stays well inside Node-RED's 15 s: drain ≤ drainTimeoutMs, then checkpoint + release. The drain
            // ends early once every record left is held only by nodes this deploy stopped and that finished
            // closing (a delay node's queue, a function node's timers: never finished; read again after the restart)
            const t = tracker;
            const until = t ? () => deadLetterWrites === 0 && t.allStranded(owner) : undefined;
            const guard = setTimeout(finish, 14_000);
            c.stop({ timeoutMs: opts.drainTimeoutMs, until })
                .catch((err) => node.warn(config.explain(err, explainCtx('dynamodb:UpdateItem')).message))
                .finally(() => {
                    clearTimeout(guard);
                    finish();
                });
        });
    }

    RED.nodes.registerType('kinesis-in', KinesisIn as unknown as Parameters<NodeAPI['nodes']['registerType']>[1]);
    registerOpsRoutes(RED);
};
