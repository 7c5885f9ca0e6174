/**
 * Credential providers for the three modes of `kinesis-config`:
 * - `static`: access key id + secret (+ optional session token), from Node-RED's credential store;
 * - `chain`:  the SDK's default provider chain (env, shared profile, SSO, ECS / EC2 instance
 *             metadata — ThingsBoard's "credentials from the EC2 Instance Metadata Service");
 * - either one + `roleArn`: STS AssumeRole (optional ExternalId) on top. The temporary credentials
 *   are cached once per connection (shared by its Kinesis and DynamoDB clients) and refreshed
 *   `refreshBeforeMs` (5 min) before they expire.
 */
import { fromNodeProviderChain, fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

export type CredentialMode = 'static' | 'chain';

export interface CredentialOptions {
    credentialMode?: CredentialMode;
    accessKeyId?: string;
    secretAccessKey?: string;
    sessionToken?: string;
    /** Assume this role on top of the base credentials. */
    roleArn?: string;
    externalId?: string;
    roleSessionName?: string;
    /** 900–43200 seconds; default 3600. */
    roleDurationSeconds?: number;
    /** STS endpoint override (VPC endpoint, or a local stub in tests); empty = AWS_ENDPOINT_URL_STS / AWS. */
    stsEndpoint?: string;
    /** Refresh assumed-role credentials this long before they expire (default 5 minutes). */
    refreshBeforeMs?: number;
}

export const ROLE_ARN_PATTERN = /^arn:aws[a-zA-Z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
export const EXTERNAL_ID_PATTERN = /^[\w+=,.@:/-]{2,1224}$/;
export const SESSION_NAME_PATTERN = /^[\w+=,.@-]{2,64}$/;

/** Codes of configuration problems (catalog keys of the config node: `kinesis-config.problem.<code>`). */
export type ConfigProblemCode =
    | 'bad-mode'
    | 'missing-access-key'
    | 'missing-secret-key'
    | 'bad-role-arn'
    | 'bad-external-id'
    | 'bad-session-name'
    | 'bad-region'
    | 'bad-endpoint'
    | 'bad-proxy';

export interface ConfigProblem {
    code: ConfigProblemCode;
    /** English sentence fragment, e.g. "access key ID is missing". Never contains a secret. */
    message: string;
}

/** Problems with the credential settings, with codes; empty when they are usable. */
export function credentialProblems(opts: CredentialOptions): ConfigProblem[] {
    const problems: ConfigProblem[] = [];
    const mode = opts.credentialMode ?? 'chain';
    if (mode !== 'static' && mode !== 'chain') {
        problems.push({ code: 'bad-mode', message: `unknown credential mode "${String(mode)}" (use "static" or "chain")` });
    }
    if (mode === 'static') {
        if (!opts.accessKeyId?.trim()) problems.push({ code: 'missing-access-key', message: 'access key ID is missing (credentials: access key + secret)' });
        if (!opts.secretAccessKey?.trim()) problems.push({ code: 'missing-secret-key', message: 'secret access key is missing (credentials: access key + secret)' });
    }
    const roleArn = opts.roleArn?.trim();
    if (roleArn && !ROLE_ARN_PATTERN.test(roleArn)) {
        problems.push({ code: 'bad-role-arn', message: `role ARN "${roleArn}" must look like arn:aws:iam::123456789012:role/name` });
    }
    const externalId = opts.externalId?.trim();
    if (externalId && !EXTERNAL_ID_PATTERN.test(externalId)) {
        problems.push({ code: 'bad-external-id', message: 'external ID must be 2–1224 characters of letters, digits and +=,.@:/-' });
    }
    const session = opts.roleSessionName?.trim();
    if (session && !SESSION_NAME_PATTERN.test(session)) {
        problems.push({ code: 'bad-session-name', message: `role session name "${session}" must be 2–64 characters of letters, digits and +=,.@-` });
    }
    return problems;
}

/** Problems with the credential settings, in words; empty when they are usable. */
export function checkCredentialOptions(opts: CredentialOptions): string[] {
    return credentialProblems(opts).map((p) => p.message);
}

/** Marks errors raised while assuming the role, so they are explained as such (not as a Kinesis call). */
export const ASSUME_ROLE_SOURCE = 'sts:AssumeRole';

/**
 * One cached identity for all clients of a connection: refreshed when it expires within
 * `refreshBeforeMs`; concurrent callers share one refresh.
 */
export function sharedRefreshingProvider(
    provider: AwsCredentialIdentityProvider,
    refreshBeforeMs = 5 * 60_000,
    now: () => number = Date.now,
): AwsCredentialIdentityProvider {
    let current: AwsCredentialIdentity | undefined;
    let pending: Promise<AwsCredentialIdentity> | undefined;
    const fresh = (c: AwsCredentialIdentity) => !c.expiration || c.expiration.getTime() - now() > refreshBeforeMs;
    return async (props) => {
        if (current && fresh(current)) return current;
        if (!pending) {
            pending = provider(props)
                .then((c) => { current = c; return c; })
                .finally(() => { pending = undefined; });
        }
        return pending;
    };
}

/**
 * `stsHandler`: the request handler for STS (through the connection's proxy); the instance-metadata
 * and container credential providers of the chain never use it (they are not proxied).
 */
export function buildCredentialProvider(opts: CredentialOptions, region: string | undefined, stsHandler?: unknown): AwsCredentialIdentityProvider {
    const problems = checkCredentialOptions(opts);
    if (problems.length > 0) throw new Error(`AWS credentials: ${problems.join('; ')}`);
    const mode = opts.credentialMode ?? 'chain';
    let base: AwsCredentialIdentityProvider;
    if (mode === 'static') {
        const identity: AwsCredentialIdentity = {
            accessKeyId: opts.accessKeyId!.trim(),
            secretAccessKey: opts.secretAccessKey!.trim(),
            ...(opts.sessionToken?.trim() ? { sessionToken: opts.sessionToken.trim() } : {}),
        };
        base = async () => identity;
    } else {
        base = fromNodeProviderChain();
    }
    const roleArn = opts.roleArn?.trim();
    if (!roleArn) return base;
    const assume = fromTemporaryCredentials({
        masterCredentials: base,
        params: {
            RoleArn: roleArn,
            RoleSessionName: opts.roleSessionName?.trim() || `node-red-kinesis-${Date.now()}`,
            DurationSeconds: opts.roleDurationSeconds ?? 3600,
            ...(opts.externalId?.trim() ? { ExternalId: opts.externalId.trim() } : {}),
        },
        clientConfig: {
            ...(region ? { region } : {}),
            ...(opts.stsEndpoint?.trim() ? { endpoint: opts.stsEndpoint.trim() } : {}),
            ...(stsHandler ? { requestHandler: stsHandler as never } : {}),
            maxAttempts: 2,
        },
    });
    const tagged: AwsCredentialIdentityProvider = async (props) => {
        try {
            return await assume(props);
        } catch (err) {
            if (err && typeof err === 'object') {
                Object.assign(err, { $credentialSource: ASSUME_ROLE_SOURCE, $roleArn: roleArn });
            }
            throw err;
        }
    };
    return sharedRefreshingProvider(tagged, opts.refreshBeforeMs);
}
