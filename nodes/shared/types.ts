/**
 * What the nodes share: the `kinesis-config` node's interface as its users see it.
 * The config node owns the AWS clients; users register with it and ask it for clients.
 */
import type { Node, NodeStatus } from 'node-red';
import type { AwsClients } from '../../lib/aws/clients';
import type { ExplainContext, ExplainedError } from '../../lib/aws/errors';

export interface KinesisConfigNode extends Node {
    /**
     * The shared clients, created on first use. Throws an Error with a message in words when the
     * configuration cannot work (no credentials, bad endpoint URL, bad role ARN).
     */
    getClients(): AwsClients;
    /**
     * A user node registers on start and deregisters on close. When the settings cannot work, the
     * config node sets the user's status to a red ring with a few words at once (e.g. "missing access key").
     * The clients live until the config node itself closes (users close first on a redeploy).
     */
    register(user: Node): void;
    deregister(user: Node): void;
    /** Explains an AWS error with this connection's region/endpoint filled in and its secrets redacted. */
    explain(error: unknown, ctx?: ExplainContext): ExplainedError;
    /** Secret values to redact from anything that is logged or shown. */
    secrets(): string[];
}

/** Status helper shapes, one vocabulary for every node. */
export const STATUS = {
    ok: (text: string): NodeStatus => ({ fill: 'green', shape: 'dot', text }),
    busy: (text: string): NodeStatus => ({ fill: 'blue', shape: 'dot', text }),
    warn: (text: string): NodeStatus => ({ fill: 'yellow', shape: 'ring', text }),
    error: (text: string): NodeStatus => ({ fill: 'red', shape: 'ring', text }),
    idle: (text: string): NodeStatus => ({ fill: 'grey', shape: 'ring', text }),
    clear: (): NodeStatus => ({}),
};

/** Shortens a status text to what fits under a node (~20-30 characters). */
export function shortStatus(text: string, max = 32): string {
    return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Compact rate: 950 → "950", 1234 → "1.2k", 2_500_000 → "2.5M". */
export function compactNumber(n: number): string {
    if (!Number.isFinite(n)) return '0';
    const a = Math.abs(n);
    if (a < 1000) return String(Math.round(n));
    if (a < 1_000_000) return `${(n / 1000).toFixed(a < 10_000 ? 1 : 0)}k`;
    return `${(n / 1_000_000).toFixed(1)}M`;
}
