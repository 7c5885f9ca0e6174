/**
 * `kinesis-config`: region, endpoints and credentials; owns the Kinesis and DynamoDB clients and
 * shares them with `kinesis-in` / `kinesis-out` (as core MQTT's broker node owns its connection).
 *
 * Like core MQTT it tells its users their status: when its settings cannot work (static mode
 * without keys, a bad endpoint URL or role ARN, …) every registered user gets a red status in a
 * few words and `getClients()` throws an Error that says what is wrong.
 */
import type { NodeAPI, Node, NodeDef } from 'node-red';
import type { Request, Response } from 'express';
import { createAwsClients, checkConnectionOptions, AwsClients, AwsConnectionOptions } from '../../lib/aws/clients';
import type { ConfigProblem, CredentialMode } from '../../lib/aws/credentials';
import { explainAwsError, ExplainContext, KinesisNodeError, redact, clipText } from '../../lib/aws/errors';
import { probeConnection } from '../../lib/aws/probe';
import { STATUS, shortStatus, type KinesisConfigNode } from '../shared/types';

interface KinesisConfigDef extends NodeDef {
    region?: string;
    kinesisEndpoint?: string;
    dynamodbEndpoint?: string;
    credentialMode?: CredentialMode;
    roleArn?: string;
    externalId?: string;
    roleSessionName?: string;
    stsEndpoint?: string;
    proxyUrl?: string;
}

interface KinesisConfigCredentials {
    accessKeyId?: string;
    secretAccessKey?: string;
    sessionToken?: string;
    proxyUsername?: string;
    proxyPassword?: string;
}

/** Settings + credentials → options for lib/aws (pure; also used by the Test-connection endpoint). */
function connectionOptions(def: Partial<KinesisConfigDef>, creds: KinesisConfigCredentials | undefined): AwsConnectionOptions {
    const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    return {
        region: str(def.region),
        kinesisEndpoint: str(def.kinesisEndpoint),
        dynamodbEndpoint: str(def.dynamodbEndpoint),
        credentialMode: def.credentialMode === 'static' ? 'static' : 'chain',
        accessKeyId: str(creds?.accessKeyId),
        secretAccessKey: str(creds?.secretAccessKey),
        sessionToken: str(creds?.sessionToken),
        roleArn: str(def.roleArn),
        externalId: str(def.externalId),
        roleSessionName: str(def.roleSessionName),
        stsEndpoint: str(def.stsEndpoint),
        proxyUrl: str(def.proxyUrl),
        proxyUsername: str(creds?.proxyUsername),
        proxyPassword: str(creds?.proxyPassword),
    };
}

function secretsOf(creds: KinesisConfigCredentials | undefined): string[] {
    return [creds?.accessKeyId, creds?.secretAccessKey, creds?.sessionToken, creds?.proxyPassword].filter((s): s is string => typeof s === 'string' && s !== '');
}

/** The placeholder the editor sends back for a password field that was not changed. */
const UNCHANGED = '__PWRD__';

/** Status catalog key for the first problem (a few words under each user node). */
const PROBLEM_STATUS: Record<ConfigProblem['code'], string> = {
    'bad-mode': 'badMode',
    'missing-access-key': 'missingKeys',
    'missing-secret-key': 'missingKeys',
    'bad-role-arn': 'badRoleArn',
    'bad-external-id': 'badExternalId',
    'bad-session-name': 'badSessionName',
    'bad-region': 'badRegion',
    'bad-endpoint': 'badEndpoint',
    'bad-proxy': 'badProxy',
};
const PROBLEM_STATUS_EN: Record<string, string> = {
    badMode: 'bad credential mode',
    missingKeys: 'missing access key',
    badRoleArn: 'bad role ARN',
    badExternalId: 'bad external ID',
    badSessionName: 'bad session name',
    badRegion: 'bad region',
    badEndpoint: 'bad endpoint URL',
    badProxy: 'bad proxy URL',
};

export = function (RED: NodeAPI): void {
    /** RED._ with an English fallback (the test helper's RED._ returns the key). */
    const t = (key: string, fallback: string, params?: Record<string, unknown>): string => {
        const s = RED._(key, params as never);
        return typeof s === 'string' && s !== key && s !== '' ? s : fallback;
    };

    function configError(problems: ConfigProblem[], name: string): KinesisNodeError {
        const statusKey = PROBLEM_STATUS[problems[0].code];
        const list = problems.map((p) => p.message).join('; ');
        const message = t('kinesis-config.errors.unusable', `AWS connection "${name}" cannot work: ${list}`, { name, problems: list });
        return new KinesisNodeError({
            kind: 'bad-config',
            code: 'AwsConfigError',
            message,
            status: t(`kinesis-config.status.${statusKey}`, PROBLEM_STATUS_EN[statusKey]),
            retryable: false,
        });
    }

    function KinesisConfig(this: KinesisConfigNode, def: KinesisConfigDef) {
        RED.nodes.createNode(this, def);
        const node = this;
        const creds = (node.credentials ?? {}) as KinesisConfigCredentials;
        const users = new Map<string, Node>();
        const options = connectionOptions(def, creds);
        const label = def.name || def.region || node.id;
        const problems = checkConnectionOptions(options);
        const unusable = problems.length > 0 ? configError(problems, label) : undefined;
        let clients: AwsClients | undefined;

        // once in the log, when a node first uses it (an unused config node stays quiet); no secret can
        // be in it: the problems name settings, never values of credentials
        let warned = false;
        const warnOnce = () => {
            if (unusable && !warned) {
                warned = true;
                node.warn(redact(unusable.message, secretsOf(creds)));
            }
        };

        node.getClients = () => {
            if (unusable) {
                warnOnce();
                throw unusable;
            }
            if (!clients) {
                try {
                    clients = createAwsClients(options);
                } catch (err) {
                    throw new KinesisNodeError(explainAwsError(err, { region: def.region, secrets: secretsOf(creds) }));
                }
            }
            return clients;
        };
        node.secrets = () => secretsOf(creds);
        node.explain = (error: unknown, ctx: ExplainContext = {}) => {
            let region: string | undefined;
            let endpoint: string | undefined;
            if (!unusable) {
                try {
                    const c = node.getClients();
                    region = c.region;
                    endpoint = ctx.tableName && !ctx.streamName ? c.dynamodbEndpoint : c.kinesisEndpoint;
                } catch {
                    region = def.region;
                }
            }
            return explainAwsError(error, { region, endpoint, ...ctx, secrets: [...secretsOf(creds), ...(ctx.secrets ?? [])] });
        };
        node.register = (user: Node) => {
            users.set(user.id, user);
            if (unusable) {
                warnOnce();
                user.status(STATUS.error(shortStatus(unusable.status)));
            }
        };
        let closing: (() => void) | undefined;
        node.deregister = (user: Node) => {
            users.delete(user.id);
            if (closing && users.size === 0) closing();
        };
        node.on('close', (done: () => void) => {
            // Node-RED closes every node at once: users still flushing (kinesis-out) or checkpointing and
            // releasing leases (kinesis-in) need the clients, so they are destroyed once the last user has
            // deregistered, or after 14 s (Node-RED gives up on a close after 15 s).
            const release = () => {
                if (!closing) return;
                closing = undefined;
                clearTimeout(guard);
                if (clients) {
                    clients.destroy();
                    clients = undefined;
                }
                users.clear();
                done();
            };
            closing = release;
            const guard = setTimeout(release, 14_000);
            if (users.size === 0) release();
        });
    }

    RED.nodes.registerType('kinesis-config', KinesisConfig as unknown as Parameters<NodeAPI['nodes']['registerType']>[1], {
        credentials: {
            accessKeyId: { type: 'text' },
            secretAccessKey: { type: 'password' },
            sessionToken: { type: 'password' },
            proxyUsername: { type: 'text' },
            proxyPassword: { type: 'password' },
        },
    });

    /**
     * Test connection: the editor posts the settings being edited (credentials too; a password left
     * unchanged comes as `__PWRD__` and is taken from the deployed node's credential store).
     * Answers { ok, message, streams, kind, dynamodb } — never a secret.
     */
    RED.httpAdmin.post(
        '/kinesis-config/test',
        RED.auth.needsPermission('kinesis-config.write'),
        async (req: Request, res: Response) => {
            const body = (req.body && typeof req.body === 'object' ? { ...req.body } : {}) as Partial<KinesisConfigDef> & { id?: string; credentials?: KinesisConfigCredentials };
            // the editor sends ${ENV_VAR} as typed; the deployed node would see it substituted. The values
            // taken from the environment are never echoed: the reply shows ${NAME} wherever one appears.
            const fromEnv = new Map<string, string>();
            for (const key of ['region', 'kinesisEndpoint', 'dynamodbEndpoint', 'roleArn', 'externalId', 'roleSessionName', 'stsEndpoint', 'proxyUrl'] as const) {
                const v = body[key];
                if (typeof v === 'string') {
                    body[key] = v.replace(/\$\{(\w+)\}/g, (_m, name: string) => {
                        const value = process.env[name] ?? '';
                        if (value) fromEnv.set(value, `\${${name}}`);
                        return value;
                    }) as never;
                }
            }
            const sent = (body.credentials && typeof body.credentials === 'object' ? body.credentials : {}) as KinesisConfigCredentials;
            // only a deployed kinesis-config node's own credentials can be reused
            const deployed = typeof body.id === 'string' && body.id ? RED.nodes.getNode(body.id) : null;
            const stored = (deployed && deployed.type === 'kinesis-config'
                ? (RED.nodes.getCredentials(body.id!) as KinesisConfigCredentials | undefined)
                : undefined) ?? {};
            const pick = (key: keyof KinesisConfigCredentials): string | undefined => {
                const v = sent[key];
                if (v === UNCHANGED || v === undefined || v === null) return stored[key];
                return typeof v === 'string' && v.trim() !== '' ? v : undefined;
            };
            const creds: KinesisConfigCredentials = {
                accessKeyId: pick('accessKeyId'),
                secretAccessKey: pick('secretAccessKey'),
                sessionToken: pick('sessionToken'),
                proxyUsername: pick('proxyUsername'),
                proxyPassword: pick('proxyPassword'),
            };
            const secrets = secretsOf(creds);
            const reply = (r: { ok: boolean; message: string; streams: string[]; kind?: string; dynamodb?: unknown }) => {
                res.json({ ...r, message: clipText(hideEnvValues(redact(r.message, secrets), fromEnv)) });
            };
            const options = { ...connectionOptions(body, creds), maxAttempts: 1 };
            const problems = checkConnectionOptions(options);
            if (problems.length > 0) {
                reply({ ok: false, message: `These settings cannot work: ${problems.map((p) => p.message).join('; ')}.`, streams: [], kind: 'bad-config' });
                return;
            }
            let clients: AwsClients | undefined;
            try {
                clients = createAwsClients(options);
                const result = await probeConnection(clients, secrets);
                reply({
                    ok: result.ok,
                    message: result.message,
                    streams: result.streams,
                    kind: result.kinesis.error?.kind,
                    dynamodb: { ok: result.dynamodb.ok, tables: result.dynamodb.tables, kind: result.dynamodb.error?.kind },
                });
            } catch (err) {
                const explained = explainAwsError(err, { region: typeof body.region === 'string' ? body.region : undefined, secrets });
                reply({ ok: false, message: explained.message, streams: [], kind: explained.kind });
            } finally {
                clients?.destroy();
            }
        },
    );
};

/** Replaces every environment value (and its URL-encoded form) in a text by the `${NAME}` it came from, longest first. */
function hideEnvValues(text: string, fromEnv: Map<string, string>): string {
    let out = text;
    for (const [value, name] of [...fromEnv].sort((a, b) => b[0].length - a[0].length)) {
        if (value.length < 2) continue;
        out = out.split(value).join(name);
        const enc = encodeURIComponent(value);
        if (enc !== value) out = out.split(enc).join(name);
    }
    return out;
}
