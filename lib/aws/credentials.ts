/**
 * Credential providers for the three modes of `kinesis-config`:
 * - `static`: access key id + secret (+ optional session token), from Node-RED's credential store;
 * - `chain`:  the SDK's default provider chain (env, shared profile, SSO, ECS / EC2 instance
 *             metadata — ThingsBoard's "credentials from the EC2 Instance Metadata Service");
 * - either one + `roleArn`: STS AssumeRole (optional ExternalId) on top, refreshed by the SDK
 *   before the temporary credentials expire.
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
    /** STS endpoint override (VPC endpoint, or a local stub in tests). */
    stsEndpoint?: string;
}

export const ROLE_ARN_PATTERN = /^arn:aws[a-zA-Z-]*:iam::\d{12}:role\/[\w+=,.@\/-]+$/;

/** Problems with the credential settings, in words; empty when they are usable. */
export function checkCredentialOptions(opts: CredentialOptions): string[] {
    const problems: string[] = [];
    const mode = opts.credentialMode ?? 'chain';
    if (mode !== 'static' && mode !== 'chain') problems.push(`unknown credential mode "${String(mode)}"`);
    if (mode === 'static') {
        if (!opts.accessKeyId?.trim()) problems.push('access key ID is missing');
        if (!opts.secretAccessKey?.trim()) problems.push('secret access key is missing');
    }
    if (opts.roleArn?.trim() && !ROLE_ARN_PATTERN.test(opts.roleArn.trim())) {
        problems.push('role ARN must look like arn:aws:iam::123456789012:role/name');
    }
    if (opts.externalId !== undefined && opts.externalId !== '' && !/^[\w+=,.@:\/-]{2,1224}$/.test(opts.externalId)) {
        problems.push('external ID must be 2–1224 characters of letters, digits and +=,.@:/-');
    }
    return problems;
}

export function buildCredentialProvider(opts: CredentialOptions, region: string | undefined): AwsCredentialIdentityProvider {
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
    return fromTemporaryCredentials({
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
        },
    });
}
