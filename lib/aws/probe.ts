/**
 * "Test connection": what the config node's editor button runs. Lists the streams the credentials
 * can see (kinesis:ListStreams) and checks DynamoDB (dynamodb:ListTables, used for lease tables).
 */
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import type { AwsClients } from './clients';
import { explainAwsError, ExplainedError } from './errors';

export interface ProbeResult {
    ok: boolean;
    /** One sentence for the editor. */
    message: string;
    streams: string[];
    kinesis: { ok: boolean; error?: ExplainedError };
    dynamodb: { ok: boolean; tables?: number; error?: ExplainedError };
}

export async function probeConnection(clients: AwsClients, secrets: string[], timeoutMs = 10_000): Promise<ProbeResult> {
    const ctxBase = { region: clients.region, secrets };
    const signal = () => AbortSignal.timeout(timeoutMs);
    const streams: string[] = [];
    let kinesis: ProbeResult['kinesis'];
    try {
        let token: string | undefined;
        let exclusiveStart: string | undefined;
        for (let page = 0; page < 20; page++) {
            const out = await clients.kinesis.send(
                new ListStreamsCommand(token ? { NextToken: token } : { ExclusiveStartStreamName: exclusiveStart }),
                { abortSignal: signal() },
            );
            streams.push(...(out.StreamNames ?? []));
            if (!out.HasMoreStreams) break;
            token = out.NextToken;
            exclusiveStart = streams[streams.length - 1];
        }
        kinesis = { ok: true };
    } catch (err) {
        kinesis = { ok: false, error: explainAwsError(err, { ...ctxBase, endpoint: clients.kinesisEndpoint, action: 'kinesis:ListStreams' }) };
    }
    let dynamodb: ProbeResult['dynamodb'];
    try {
        const out = await clients.dynamodb.send(new ListTablesCommand({ Limit: 100 }), { abortSignal: signal() });
        dynamodb = { ok: true, tables: out.TableNames?.length ?? 0 };
    } catch (err) {
        dynamodb = { ok: false, error: explainAwsError(err, { ...ctxBase, endpoint: clients.dynamodbEndpoint, action: 'dynamodb:ListTables' }) };
    }
    let message: string;
    if (kinesis.ok) {
        const shown = streams.slice(0, 10).join(', ');
        const more = streams.length > 10 ? ` and ${streams.length - 10} more` : '';
        message = streams.length === 0
            ? `Connected to Kinesis (${clients.describe()}): no streams visible.`
            : `Connected to Kinesis (${clients.describe()}): ${streams.length} stream${streams.length === 1 ? '' : 's'} — ${shown}${more}.`;
        message += dynamodb.ok
            ? ' DynamoDB OK (lease tables can be used).'
            : ` DynamoDB check failed: ${dynamodb.error!.message} (needed only by kinesis-in for leases).`;
    } else if (kinesis.error!.kind === 'access-denied' && kinesis.error!.status === 'access denied') {
        // AWS recognised the credentials; only listing is not allowed (policies scoped to one stream)
        message = `${kinesis.error!.message}. The credentials were accepted; if the IAM policy grants only specific streams,`
            + ' kinesis-in / kinesis-out can still work — they check their stream when deployed.';
    } else {
        message = kinesis.error!.message;
    }
    return { ok: kinesis.ok, message, streams, kinesis, dynamodb };
}
