/**
 * `kinesis-config`: region, endpoints and credentials; owns the Kinesis and DynamoDB clients and
 * shares them with `kinesis-in` / `kinesis-out` (as core MQTT's broker node owns its connection).
 */
import type { NodeAPI, Node, NodeDef } from 'node-red';
import type { Request, Response } from 'express';
import { createAwsClients, AwsClients, AwsConnectionOptions } from '../../lib/aws/clients';
import { CredentialMode } from '../../lib/aws/credentials';
import { explainAwsError, ExplainContext, redact } from '../../lib/aws/errors';
import { probeConnection } from '../../lib/aws/probe';
import type { KinesisConfigNode } from '../shared/types';

interface KinesisConfigDef extends NodeDef {
    region?: string;
    kinesisEndpoint?: string;
    dynamodbEndpoint?: string;
    credentialMode?: CredentialMode;
    roleArn?: string;
    externalId?: string;
    roleSessionName?: string;
    stsEndpoint?: string;
}

interface KinesisConfigCredentials {
    accessKeyId?: string;
    secretAccessKey?: string;
    sessionToken?: string;
}

/** Settings + credentials → options for lib/aws (pure; also used by the Test-connection endpoint). */
function connectionOptions(def: Partial<KinesisConfigDef>, creds: KinesisConfigCredentials | undefined): AwsConnectionOptions {
    return {
        region: def.region,
        kinesisEndpoint: def.kinesisEndpoint,
        dynamodbEndpoint: def.dynamodbEndpoint,
        credentialMode: def.credentialMode === 'static' ? 'static' : 'chain',
        accessKeyId: creds?.accessKeyId,
        secretAccessKey: creds?.secretAccessKey,
        sessionToken: creds?.sessionToken,
        roleArn: def.roleArn,
        externalId: def.externalId,
        roleSessionName: def.roleSessionName,
        stsEndpoint: def.stsEndpoint,
    };
}

function secretsOf(creds: KinesisConfigCredentials | undefined): string[] {
    return [creds?.accessKeyId, creds?.secretAccessKey, creds?.sessionToken].filter((s): s is string => !!s);
}

/** The placeholder the editor sends back for a password field that was not changed. */
const UNCHANGED = '__PWRD__';

export = function (RED: NodeAPI): void {
    function KinesisConfig(this: KinesisConfigNode, def: KinesisConfigDef) {
        RED.nodes.createNode(this, def);
        const node = this;
        const creds = (node.credentials ?? {}) as KinesisConfigCredentials;
        const users = new Set<string>();
        let clients: AwsClients | undefined;

        node.getClients = () => {
            if (!clients) {
                try {
                    clients = createAwsClients(connectionOptions(def, creds));
                } catch (err) {
                    throw new Error(redact((err as Error).message, secretsOf(creds)));
                }
            }
            return clients;
        };
        node.secrets = () => secretsOf(creds);
        node.explain = (error: unknown, ctx: ExplainContext = {}) => {
            let region: string | undefined;
            let endpoint: string | undefined;
            try {
                const c = node.getClients();
                region = c.region;
                endpoint = ctx.tableName && !ctx.streamName ? c.dynamodbEndpoint : c.kinesisEndpoint;
            } catch {
                region = def.region;
            }
            return explainAwsError(error, { region, endpoint, ...ctx, secrets: [...secretsOf(creds), ...(ctx.secrets ?? [])] });
        };
        node.register = (user: Node) => {
            users.add(user.id);
        };
        node.deregister = (user: Node) => {
            users.delete(user.id);
        };
        node.on('close', (done: () => void) => {
            // Users close before their config node; destroying here releases sockets on redeploy.
            if (clients) {
                clients.destroy();
                clients = undefined;
            }
            users.clear();
            done();
        });
    }

    RED.nodes.registerType('kinesis-config', KinesisConfig as unknown as Parameters<NodeAPI['nodes']['registerType']>[1], {
        credentials: {
            accessKeyId: { type: 'text' },
            secretAccessKey: { type: 'password' },
            sessionToken: { type: 'password' },
        },
    });

    /**
     * Test connection: the editor posts the settings being edited (credentials too, unless unchanged:
     * then the deployed node's stored credentials are used). Answers { ok, message, streams }.
     */
    RED.httpAdmin.post(
        '/kinesis-config/test',
        RED.auth.needsPermission('kinesis-config.write'),
        async (req: Request, res: Response) => {
            const body = (req.body ?? {}) as Partial<KinesisConfigDef> & { id?: string; credentials?: KinesisConfigCredentials };
            const sent = body.credentials ?? {};
            const stored = (body.id ? (RED.nodes.getCredentials(body.id) as KinesisConfigCredentials | undefined) : undefined) ?? {};
            const pick = (key: keyof KinesisConfigCredentials): string | undefined => {
                const v = sent[key];
                if (v === UNCHANGED || v === undefined) return stored[key];
                return v === '' ? undefined : v;
            };
            const creds: KinesisConfigCredentials = {
                accessKeyId: pick('accessKeyId'),
                secretAccessKey: pick('secretAccessKey'),
                sessionToken: pick('sessionToken'),
            };
            const secrets = secretsOf(creds);
            let clients: AwsClients | undefined;
            try {
                clients = createAwsClients({ ...connectionOptions(body, creds), maxAttempts: 1 });
                const result = await probeConnection(clients, secrets);
                res.json({ ok: result.ok, message: result.message, streams: result.streams, kind: result.kinesis.error?.kind });
            } catch (err) {
                const explained = explainAwsError(err, { region: body.region, secrets });
                res.json({ ok: false, message: explained.message, streams: [], kind: explained.kind });
            } finally {
                clients?.destroy();
            }
        },
    );
};
