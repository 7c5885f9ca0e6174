/**
 * One place that turns AWS SDK / network errors into words a user can act on, plus a short
 * status text. Every node uses it, so "stream not found", "access denied" etc. read the same
 * everywhere. Messages never contain credentials: pass the secrets to `redact` / `explainAwsError`.
 */

export type AwsErrorKind =
    | 'proxy'
    | 'not-found'
    | 'access-denied'
    | 'bad-credentials'
    | 'expired-credentials'
    | 'no-credentials'
    | 'throttled'
    | 'unreachable'
    | 'no-region'
    | 'invalid-argument'
    | 'in-use'
    | 'limit-exceeded'
    | 'expired-iterator'
    | 'conditional-check'
    | 'internal'
    | 'bad-config'
    | 'unknown';

export interface ExplainContext {
    /** e.g. 'kinesis:PutRecords' — named when access is denied. */
    action?: string;
    streamName?: string;
    tableName?: string;
    region?: string;
    /** Where the request went, when not AWS (a local endpoint). */
    endpoint?: string;
    /** Secret strings that must never appear in the result. */
    secrets?: Array<string | undefined>;
}

export interface ExplainedError {
    kind: AwsErrorKind;
    /** AWS error name / code (e.g. ResourceNotFoundException) or the network code. */
    code: string;
    /** A sentence a user can act on. */
    message: string;
    /** Status text, a few words. */
    status: string;
    /** True when retrying later may succeed (throttling, network, 5xx). */
    retryable: boolean;
}

const NETWORK_CODES = new Set([
    'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
    'EPIPE', 'ECONNABORTED', 'TimeoutError', 'RequestTimeout', 'NetworkingError',
]);

/** Node.js (OpenSSL) codes of a TLS certificate that is not trusted. */
const TLS_CODES = new Set([
    'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'UNABLE_TO_GET_ISSUER_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED', 'CERT_REJECTED',
]);

function tlsReason(code: string, raw: string): string {
    if (code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN' || /self[- ]signed/i.test(raw)) return 'self-signed certificate';
    if (code === 'CERT_HAS_EXPIRED' || /expired/i.test(raw)) return 'certificate expired';
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /does not match/i.test(raw)) return 'certificate issued for another host name';
    return 'unknown certificate authority';
}

const THROTTLE_CODES = new Set([
    'ProvisionedThroughputExceededException', 'ThrottlingException', 'Throttling', 'TooManyRequestsException',
    'RequestLimitExceeded', 'SlowDown', 'KMSThrottlingException', 'RequestThrottled', 'RequestThrottledException',
]);

const BAD_CREDENTIAL_CODES = new Set([
    'UnrecognizedClientException', 'InvalidSignatureException', 'SignatureDoesNotMatch', 'InvalidClientTokenId',
    'IncompleteSignatureException', 'MissingAuthenticationTokenException', 'MissingAuthenticationToken',
    'AuthFailure', 'InvalidAccessKeyId',
]);

const EXPIRED_CODES = new Set(['ExpiredTokenException', 'ExpiredToken', 'RequestExpired', 'TokenRefreshRequired']);

/**
 * Replaces every given secret with ***, and also anything shaped like an AWS access key ID
 * (AKIA…/ASIA…) or a `Credential=` / `X-Amz-Security-Token=` value that a service echoes.
 */
export function redact(text: string, secrets: Array<string | undefined> = []): string {
    let out = text;
    // longest first, so a secret containing another one is replaced whole
    const list = secrets.filter((s): s is string => !!s && s.length >= 4).sort((a, b) => b.length - a.length);
    for (const s of list) out = out.split(s).join('***');
    out = out.replace(/\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}\b/g, '***');
    out = out.replace(/(Credential=)[^/\s,"']+/gi, '$1***');
    out = out.replace(/(X-Amz-Security-Token[=:]\s*)[^\s&,"']+/gi, '$1***');
    return out;
}

interface ErrorLike {
    name?: string;
    code?: string;
    Code?: string;
    message?: string;
    $fault?: string;
    $metadata?: { httpStatusCode?: number };
    cause?: unknown;
    errors?: unknown[];
    /** Set by lib/aws/credentials when assuming the role failed. */
    $credentialSource?: string;
    $roleArn?: string;
    /** The raw HTTP response the SDK keeps when it could not parse the answer. */
    $response?: unknown;
    /** AwsConfigError's details. */
    problems?: Array<{ code: string; message: string }>;
}

function errorCode(err: ErrorLike): string {
    // HTTP/2 (Kinesis' default handler) wraps the socket error: report the cause (ENOTFOUND, ECONNREFUSED…)
    if (typeof err.code === 'string' && err.code.startsWith('ERR_HTTP2') && err.cause && typeof err.cause === 'object') {
        const inner = errorCode(err.cause as ErrorLike);
        if (inner !== 'Error') return inner;
    }
    const candidates = [err.name, err.code, err.Code];
    for (const c of candidates) {
        if (typeof c === 'string' && c !== '' && c !== 'Error') return c;
    }
    if (Array.isArray(err.errors)) {
        for (const inner of err.errors) {
            const c = errorCode((inner ?? {}) as ErrorLike);
            if (c !== 'Error') return c;
        }
    }
    if (err.cause && typeof err.cause === 'object') {
        const c = errorCode(err.cause as ErrorLike);
        if (c !== 'Error') return c;
    }
    return 'Error';
}

/**
 * A region name made of AWS's partition prefixes and compass directions (eu-west-1, us-gov-east-1,
 * ap-southeast-5, cn-north-1): a DNS failure for it is the network's, not a typo. Linear-time regex.
 */
const REGION_SHAPE = /^(?:us|eu|ap|sa|ca|me|af|il|mx|cn)(?:-gov|-iso[a-z]?)?-(?:east|west|north|south|central|northeast|southeast|northwest|southwest)-\d{1,2}$/;
function isKnownRegionShape(region: string): boolean {
    return region.length <= 30 && REGION_SHAPE.test(region);
}

function where(ctx: ExplainContext): string {
    if (ctx.endpoint) return `at ${ctx.endpoint}`;
    return ctx.region ? `in region ${ctx.region}` : 'in the configured region';
}

export function explainAwsError(error: unknown, ctx: ExplainContext = {}): ExplainedError {
    if (error instanceof KinesisNodeError) {
        // already explained (e.g. getClients() refusing unusable settings): keep it, redact again
        return { kind: error.kind, code: error.code, message: redact(error.message, ctx.secrets), status: error.status, retryable: error.retryable };
    }
    const err = (error && typeof error === 'object' ? error : { message: String(error) }) as ErrorLike;
    const code = errorCode(err);
    const raw = redact(String(err.message ?? code), ctx.secrets);
    const status = err.$metadata?.httpStatusCode;
    const action = ctx.action ? ` (${ctx.action})` : '';
    const build = (kind: AwsErrorKind, message: string, statusText: string, retryable: boolean): ExplainedError => ({
        kind,
        code,
        message: redact(message, ctx.secrets),
        status: statusText,
        retryable,
    });

    if (code === 'AwsConfigError') {
        return build('bad-config', raw, configStatus(err.problems), false);
    }
    if (code === 'ProxyError') {
        // lib/aws/proxy.ts: the proxy, not AWS, is the problem (its message names the proxy without user name or password)
        const auth = /authentication/.test(raw);
        const via = err.$credentialSource === 'sts:AssumeRole' ? ' (while assuming the role)' : '';
        return build('proxy', `${raw}${via}`, auth ? 'proxy auth failed' : 'proxy problem', !auth);
    }
    if (err.$credentialSource === 'sts:AssumeRole') {
        const role = err.$roleArn ? ` ${err.$roleArn}` : '';
        if (BAD_CREDENTIAL_CODES.has(code)) {
            return build('bad-credentials', `cannot assume role${role}: AWS rejected the base credentials (${code}) — check the access key ID and secret access key, or the environment's credentials`, 'bad credentials', false);
        }
        if (EXPIRED_CODES.has(code)) {
            return build('expired-credentials', `cannot assume role${role}: the base credentials have expired (${code})`, 'credentials expired', false);
        }
        if (code === 'AccessDenied' || code === 'AccessDeniedException' || status === 403) {
            return build('access-denied', `cannot assume role${role} (sts:AssumeRole denied): the role's trust policy must allow these credentials, with the External ID it expects — ${raw}`, 'assume role denied', false);
        }
        if (code === 'RegionDisabledException') {
            return build('access-denied', `cannot assume role${role}: STS is not activated in this region — ${raw}`, 'STS region disabled', false);
        }
        if (code === 'MalformedPolicyDocument' || code === 'PackedPolicyTooLarge' || code === 'ValidationError') {
            return build('invalid-argument', `cannot assume role${role}: ${raw}`, 'assume role failed', false);
        }
        if (!NETWORK_CODES.has(code) && !/getaddrinfo|ECONNREFUSED|socket hang up/i.test(raw) && code !== 'CredentialsProviderError') {
            return build('unknown', `cannot assume role${role}: ${code}: ${raw}`, 'assume role failed', false);
        }
    }

    if (code === 'ResourceNotFoundException' || code === 'ResourceNotFound') {
        if (ctx.tableName && !ctx.streamName) {
            return build('not-found', `DynamoDB table "${ctx.tableName}" not found ${where(ctx)}: ${raw}`, 'table not found', false);
        }
        const what = ctx.streamName ? `stream "${ctx.streamName}"` : 'resource';
        return build('not-found', `${what} not found ${where(ctx)} — check the stream name and region (${raw})`, 'stream not found', false);
    }
    if (code === 'AccessDeniedException' || code === 'AccessDenied' || code === 'UnauthorizedOperation' || status === 403 && !BAD_CREDENTIAL_CODES.has(code)) {
        const perm = ctx.action ? `the IAM policy must allow ${ctx.action}` : 'the IAM policy lacks a permission';
        return build('access-denied', `access denied${action}: ${perm} — ${raw}`, 'access denied', false);
    }
    if (BAD_CREDENTIAL_CODES.has(code)) {
        return build('bad-credentials', `AWS rejected the credentials (${code}): check the access key ID and secret access key, or the profile/role in use`, 'bad credentials', false);
    }
    if (EXPIRED_CODES.has(code)) {
        return build('expired-credentials', `the AWS credentials have expired (${code}): refresh the session token or use a role`, 'credentials expired', false);
    }
    if (code === 'CredentialsProviderError' || /Could not load credentials/i.test(raw)) {
        return build('no-credentials', `no AWS credentials found: set access keys in the config node, or provide them through the environment, a profile or instance metadata (${raw})`, 'no credentials', false);
    }
    if (/Region is missing/i.test(raw) || code === 'Region is missing') {
        return build('no-region', 'no AWS region configured: set a region in the config node or AWS_REGION', 'no region', false);
    }
    if (THROTTLE_CODES.has(code) || status === 429) {
        return build('throttled', `throughput exceeded${action} — retrying with backoff; add shards or slow the producer if it persists`, 'throttled, retrying', true);
    }
    if (code === 'ExpiredIteratorException') {
        return build('expired-iterator', `shard iterator expired: ${raw}`, 'iterator expired', true);
    }
    if (code === 'ConditionalCheckFailedException') {
        return build('conditional-check', `conditional write failed: ${raw}`, 'lease changed', true);
    }
    if (code === 'ResourceInUseException') {
        return build('in-use', `resource in use: ${raw}`, 'resource in use', true);
    }
    if (code === 'LimitExceededException') {
        return build('limit-exceeded', `AWS limit exceeded${action}: ${raw}`, 'limit exceeded', true);
    }
    if (code === 'InvalidArgumentException' && /did not come from this stream|encodes shardId-\d+, while it was used/i.test(raw)) {
        // AWS: "StartingSequenceNumber … used in GetShardIterator on shard … is invalid because it did not come from this stream."
        return build(
            'invalid-argument',
            `the lease table's checkpoint does not belong to this stream${ctx.streamName ? ` "${ctx.streamName}"` : ''} (was the stream deleted and recreated under the same name?): ` +
                'delete the application\'s lease table in DynamoDB (or use another application name) to read it from the configured start position',
            'stale checkpoint',
            false,
        );
    }
    if (code === 'ValidationException' || code === 'InvalidArgumentException' || code === 'SerializationException') {
        return build('invalid-argument', `invalid request${action}: ${raw}`, 'invalid request', false);
    }
    if (TLS_CODES.has(code) || /self[- ]signed certificate|unable to verify the first certificate|unable to get local issuer certificate|certificate has expired|Hostname\/IP does not match certificate/i.test(raw)) {
        const target = ctx.endpoint ?? (ctx.region ? `AWS in region ${ctx.region}` : 'AWS');
        return build(
            'unreachable',
            `cannot reach ${target}: its TLS certificate is not trusted (${tlsReason(code, raw)}). For a local stack use its http:// endpoint; ` +
                'otherwise make Node.js trust the certificate authority (NODE_EXTRA_CA_CERTS=<file>.pem when starting Node-RED)',
            'untrusted certificate',
            true,
        );
    }
    if (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long|unknown protocol/i.test(raw)) {
        // https:// on a port that speaks plain HTTP (e.g. kinesis-local's plain port)
        const target = ctx.endpoint ?? (ctx.region ? `AWS in region ${ctx.region}` : 'AWS');
        return build(
            'unreachable',
            `cannot reach ${target}: the server there does not speak TLS (https://) — for a plain HTTP port use http:// in the endpoint URL`,
            'https on a plain port',
            false,
        );
    }
    if (/^Deserialization error/i.test(raw) || (err.$response !== undefined && /\$response/.test(raw))) {
        // an answer that is not the AWS JSON protocol: a web server, proxy or other service at that URL
        const target = ctx.endpoint ?? (ctx.region ? `AWS in region ${ctx.region}` : 'AWS');
        const http = status !== undefined ? ` (HTTP ${status})` : '';
        return build(
            'unreachable',
            `the server at ${target} answered${http}, but not as the AWS API does: is the endpoint URL that of Kinesis / DynamoDB (not another service, a proxy or a web page)?`,
            'not an AWS endpoint',
            false,
        );
    }
    if (NETWORK_CODES.has(code) || code.startsWith('ERR_HTTP2') || /getaddrinfo|ECONNREFUSED|socket hang up|connect ETIMEDOUT/i.test(raw)) {
        const target = ctx.endpoint ?? (ctx.region ? `AWS in region ${ctx.region}` : 'AWS');
        let hint = '';
        if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || /getaddrinfo/i.test(raw)) {
            if (ctx.endpoint) hint = ' (unknown host: check the endpoint URL)';
            else if (code === 'EAI_AGAIN' || (ctx.region !== undefined && isKnownRegionShape(ctx.region))) {
                hint = ' (the host name cannot be resolved: offline, DNS or proxy problem?)';
            } else hint = ` (unknown host: check the region name${ctx.region ? ` "${ctx.region}"` : ''} — is it a region where Kinesis exists?)`;
        } else if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(raw)) {
            hint = ctx.endpoint ? ' (nothing listens there: is the local stack or endpoint running?)' : '';
        } else if (code === 'TimeoutError' || code === 'ETIMEDOUT' || code === 'RequestTimeout') {
            hint = ' (no answer in time: check the network, proxy or firewall)';
        }
        const via = err.$credentialSource === 'sts:AssumeRole' ? ' while assuming the role (STS)' : '';
        return build('unreachable', `cannot reach ${target}${via}: ${code}${hint}`, 'unreachable', true);
    }
    if (err.$fault === 'server' || (status !== undefined && status >= 500) || code === 'InternalFailure' || code === 'ServiceUnavailable' || code === 'InternalServerError') {
        return build('internal', `AWS service error${action}: ${code} ${raw}`, 'AWS error, retrying', true);
    }
    return build('unknown', `${code}${action}: ${raw}`, code.length <= 24 ? code : 'error', false);
}

function configStatus(problems: Array<{ code: string }> | undefined): string {
    const first = problems?.[0]?.code;
    switch (first) {
        case 'missing-access-key':
        case 'missing-secret-key': return 'missing access key';
        case 'bad-role-arn': return 'bad role ARN';
        case 'bad-external-id': return 'bad external ID';
        case 'bad-session-name': return 'bad session name';
        case 'bad-region': return 'bad region';
        case 'bad-endpoint': return 'bad endpoint URL';
        case 'bad-proxy': return 'bad proxy URL';
        default: return 'config error';
    }
}

/** An Error whose message is already explained and redacted; carries the classification. */
export class KinesisNodeError extends Error {
    readonly kind: AwsErrorKind;
    readonly code: string;
    readonly status: string;
    readonly retryable: boolean;
    constructor(explained: ExplainedError) {
        super(explained.message);
        this.name = 'KinesisNodeError';
        this.kind = explained.kind;
        this.code = explained.code;
        this.status = explained.status;
        this.retryable = explained.retryable;
    }
}

export function toNodeError(error: unknown, ctx: ExplainContext = {}): KinesisNodeError {
    if (error instanceof KinesisNodeError) return error;
    return new KinesisNodeError(explainAwsError(error, ctx));
}

/**
 * Clips an error text to about `max` characters (default 1 kB) on one line: what error messages, `msg.error`
 * and log lines may carry. Looks at no more than `max` + 1 characters of the input (cost bounded, linear).
 */
export function clipText(text: string, max = 1024): string {
    const s = text.length > max ? text.slice(0, max) : text;
    let out = '';
    let space = false;
    for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c === 10 || c === 13 || c === 9) {
            if (!space) out += ' ';
            space = true;
            continue;
        }
        space = false;
        out += s[i];
    }
    return text.length > max ? `${out.slice(0, max - 1)}…` : out;
}
