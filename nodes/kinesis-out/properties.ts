/**
 * kinesis-out's TypedInput settings (stream, partition key, explicit hash key), evaluated per message.
 *
 * Node-RED answers most types at once (str, msg, env, num, json, …): their value is returned as it
 * is, with no Promise or callback per message. A msg property of one plain name is read directly
 * (what RED.util.getMessageProperty returns, without parsing the expression per message). flow/global (a context store may be asynchronous) and
 * JSONata go through Node-RED's callback: at once when it answers at once (the memory store), else
 * wrapped in `Later`.
 */
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { InputError } from '../../lib/producer/input';

/** A value Node-RED will give asynchronously. */
export class Later {
    constructor(readonly promise: Promise<unknown>) {}
}

/** A msg property that is one plain name ("topic", "msg.deviceId"): read directly, as Node-RED would. */
const PLAIN_NAME = /^[A-Za-z_$][\w$]*$/;
const NOT_PLAIN = new Set(['__proto__', 'constructor', 'prototype']);

/** Types whose value may come later (context stores may be asynchronous; JSONata is). */
const ASYNC_TYPES = new Set(['flow', 'global', 'jsonata']);

/** Evaluates one setting for a message: the value, `Later`, or throws InputError. */
export type PropertyFn = (msg: NodeMessage) => unknown;

/**
 * The evaluator of one setting. `explain(value, error)` words an evaluation error (the node's catalog).
 * An empty value of any type but JSONata is "not set" (undefined); an empty string setting too.
 */
export function propertyEvaluator(
    RED: NodeAPI,
    node: Node,
    value: string | undefined,
    type: string | undefined,
    explain: (value: string, error: string) => string,
): PropertyFn {
    const kind = type || 'str';
    if (kind === 'str') {
        const v = value === '' ? undefined : value;
        return () => v;
    }
    if ((value ?? '') === '' && kind !== 'jsonata') return () => undefined;
    const text = value ?? '';
    const fail = (err: unknown) => new InputError(explain(`${kind}:${value}`, (err as Error)?.message ?? String(err)));
    if (kind === 'msg') {
        // RED.util.getMessageProperty parses the expression on every call; one plain name is msg[name]
        const name = text.startsWith('msg.') ? text.slice(4) : text;
        if (PLAIN_NAME.test(name) && !NOT_PLAIN.has(name)) return (msg) => (msg as unknown as Record<string, unknown>)[name];
    }
    if (!ASYNC_TYPES.has(kind)) {
        // Node-RED computes these at once and returns them when called without a callback
        return (msg) => {
            try {
                return RED.util.evaluateNodeProperty(text, kind, node, msg);
            } catch (err) {
                throw fail(err);
            }
        };
    }
    return (msg) => {
        let sync = true;
        let answered = false;
        let error: unknown;
        let result: unknown;
        let settle: ((err: unknown, v?: unknown) => void) | undefined;
        try {
            RED.util.evaluateNodeProperty(text, kind, node, msg, (err: Error | null, v: unknown) => {
                if (sync) {
                    answered = true;
                    error = err;
                    result = v;
                } else {
                    settle?.(err, v);
                }
            });
        } catch (err) {
            sync = false;
            throw fail(err);
        }
        sync = false;
        if (answered) {
            if (error) throw fail(error);
            return result;
        }
        return new Later(new Promise((resolve, reject) => {
            settle = (err, v) => (err ? reject(fail(err)) : resolve(v));
        }));
    };
}
