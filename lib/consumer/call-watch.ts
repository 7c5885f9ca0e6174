/**
 * How long a backend has left calls without an answer: `watchCalls(client)` puts two middlewares on an SDK client
 * (once per client) and returns its `CallWatch`, whose `oldestMs(now)` is the wait of the oldest call still without
 * an answer (0 = none). What a status reads once a second to say "DynamoDB not answering · 12s" while a stalled
 * backend (a paused process, a connection a NAT dropped without a word) keeps calls waiting for their socket timeout.
 *
 * - `initialize` step (around the whole call, the SDK's retries inside): the call enters a Map on its way out and
 *   leaves it when it settles, however it settles.
 * - `deserialize` step, low priority (next to the HTTP handler): an attempt that got an answer — any HTTP status,
 *   an error too — marks the call answered (a throttled call backing off between attempts is not waiting on the
 *   backend); the next attempt of an answered call waits from its own start. An attempt that got no answer (socket
 *   timeout, connection reset) leaves the call's first moment as it was: the wait goes on across the SDK's retries.
 *
 * Cost: one Map entry and two small closures per call; nothing per record. The Map keeps insertion order, so the
 * oldest waiting call is the first entry not answered (entries answered and backing off are rare and few).
 */
import { isMiddlewareClient } from '../aws/middleware';

type Next = (args: unknown) => Promise<unknown>;

interface Call {
    /** Since when this call has waited for an answer (its first attempt, or the attempt after an answer). */
    since: number;
    /** The last attempt got an answer (the call may be backing off before its next attempt). */
    answered: boolean;
}

const CALL = Symbol('kinesisRedCall');

export class CallWatch {
    private readonly calls = new Map<Call, true>();

    /** Calls started and not settled (tests, diagnostics). */
    get pending(): number {
        return this.calls.size;
    }

    /** How long the oldest call still without an answer has been waiting, in ms (0 = none waits). */
    oldestMs(now = Date.now()): number {
        for (const call of this.calls.keys()) {
            if (!call.answered) return Math.max(0, now - call.since);
        }
        return 0;
    }

    /** The middleware around a whole call. */
    readonly around = (next: Next, context: Record<PropertyKey, unknown>): Next => async (args) => {
        const call: Call = { since: Date.now(), answered: false };
        context[CALL] = call;
        this.calls.set(call, true);
        try {
            return await next(args);
        } finally {
            this.calls.delete(call);
        }
    };

    /** The middleware around each HTTP attempt. */
    readonly attempt = (next: Next, context: Record<PropertyKey, unknown>): Next => async (args) => {
        const call = context[CALL] as Call | undefined;
        if (call?.answered) {
            call.answered = false;
            call.since = Date.now();
        }
        const out = await next(args);
        if (call) call.answered = true;
        return out;
    };
}

const watches = new WeakMap<object, CallWatch>();

/** The CallWatch of an SDK client (installed on first use); a client without a middleware stack gets one that sees nothing. */
export function watchCalls(client: unknown): CallWatch {
    const key = client as object;
    let watch = watches.get(key);
    if (watch) return watch;
    watch = new CallWatch();
    if (key && typeof key === 'object') watches.set(key, watch);
    if (isMiddlewareClient(client)) {
        client.middlewareStack.add(watch.around, { step: 'initialize', priority: 'high', name: 'kinesisRedCallWatch' });
        client.middlewareStack.add(watch.attempt, { step: 'deserialize', priority: 'low', name: 'kinesisRedCallWatchAttempt' });
    }
    return watch;
}
