import assert from 'node:assert/strict';
import { explainAwsError, redact, toNodeError, KinesisNodeError } from '../../lib/aws/errors';

function awsError(name: string, message: string, httpStatusCode = 400, fault: 'client' | 'server' = 'client'): Error {
    return Object.assign(new Error(message), { name, $fault: fault, $metadata: { httpStatusCode } });
}

describe('lib/aws/errors', function () {
    describe('redact', function () {
        it('replaces every given secret, longest first', function () {
            const out = redact('key=AKIDLOCALTEST secret=s3cr3t/with+chars token=tok-1234 s3cr3t', ['s3cr3t', 's3cr3t/with+chars', 'tok-1234', 'AKIDLOCALTEST']);
            assert.equal(out, 'key=*** secret=*** token=*** ***');
        });
        it('hides access-key-shaped strings and echoed Credential= / security-token values even when not listed', function () {
            const out = redact('Credential=AKIAIOSFODNN7EXAMPLE/20200101/us-east-1/kinesis/aws4_request, ASIAY34FZKBOKMUTVV7A X-Amz-Security-Token=FwoGZXIvYXdzEBAaDH');
            assert.ok(!out.includes('AKIAIOSFODNN7EXAMPLE'), out);
            assert.ok(!out.includes('ASIAY34FZKBOKMUTVV7A'), out);
            assert.ok(!out.includes('FwoGZXIvYXdzEBAaDH'), out);
        });
        it('ignores empty and very short secrets (would shred the text)', function () {
            assert.equal(redact('a b c', ['', undefined, 'b']), 'a b c');
        });
    });

    describe('explainAwsError', function () {
        it('bad keys: UnrecognizedClientException → bad-credentials, in words, never the key', function () {
            const e = explainAwsError(awsError('UnrecognizedClientException', 'The security token included in the request is invalid. AKIDECHO'), { secrets: ['AKIDECHO'] });
            assert.equal(e.kind, 'bad-credentials');
            assert.match(e.message, /rejected the credentials/);
            assert.match(e.message, /access key ID and secret access key/);
            assert.equal(e.status, 'bad credentials');
            assert.ok(!e.message.includes('AKIDECHO'));
        });
        it('access denied names the IAM action and keeps the AWS reason, redacted', function () {
            const e = explainAwsError(awsError('AccessDeniedException', 'User: arn:aws:iam::123456789012:user/x is not authorized to perform: kinesis:ListStreams; sk=SECRETVALUE', 403),
                { action: 'kinesis:ListStreams', secrets: ['SECRETVALUE'] });
            assert.equal(e.kind, 'access-denied');
            assert.match(e.message, /the IAM policy must allow kinesis:ListStreams/);
            assert.match(e.message, /not authorized/);
            assert.ok(!e.message.includes('SECRETVALUE'));
        });
        it('stream not found names the stream and the region', function () {
            const e = explainAwsError(awsError('ResourceNotFoundException', 'Stream x under account 1 not found.'), { streamName: 'x', region: 'eu-west-1' });
            assert.equal(e.kind, 'not-found');
            assert.match(e.message, /stream "x" not found in region eu-west-1/);
            assert.equal(e.status, 'stream not found');
        });
        it('throttling is retryable', function () {
            const e = explainAwsError(awsError('ProvisionedThroughputExceededException', 'Rate exceeded'), { action: 'kinesis:PutRecords' });
            assert.equal(e.kind, 'throttled');
            assert.equal(e.retryable, true);
        });
        it('unknown host: points at the region name when going to AWS, at the URL with an endpoint', function () {
            const dns = Object.assign(new Error('getaddrinfo ENOTFOUND kinesis.eu-wst-1.amazonaws.com'), { code: 'ENOTFOUND' });
            const e = explainAwsError(dns, { region: 'eu-wst-1' });
            assert.equal(e.kind, 'unreachable');
            assert.match(e.message, /check the region name "eu-wst-1"/);
            const e2 = explainAwsError(dns, { endpoint: 'http://kinesis.example:4568' });
            assert.match(e2.message, /check the endpoint URL/);
        });
        it('a well-formed region with no DNS blames the network (offline, DNS or proxy), not the region name', function () {
            const dns = Object.assign(new Error('getaddrinfo ENOTFOUND kinesis.eu-west-1.amazonaws.com'), { code: 'ENOTFOUND' });
            const e = explainAwsError(dns, { region: 'eu-west-1' });
            assert.equal(e.kind, 'unreachable');
            assert.match(e.message, /cannot reach AWS in region eu-west-1: ENOTFOUND \(the host name cannot be resolved: offline, DNS or proxy problem\?\)/);
            assert.doesNotMatch(e.message, /check the region name/);
            const again = explainAwsError(Object.assign(new Error('getaddrinfo EAI_AGAIN kinesis.eu-wst-1.amazonaws.com'), { code: 'EAI_AGAIN' }), { region: 'eu-wst-1' });
            assert.match(again.message, /cannot be resolved: offline, DNS or proxy/);
            for (const region of ['us-gov-west-1', 'ap-southeast-5', 'cn-north-1', 'il-central-1']) {
                assert.match(explainAwsError(dns, { region }).message, /offline, DNS or proxy/, region);
            }
        });
        it('https:// on a plain HTTP port (EPROTO wrong version number) says to use http://', function () {
            const raw = 'write EPROTO 40E8C8F7A97F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:354:\n';
            const plain = Object.assign(new Error(raw), { code: 'EPROTO' });
            const wrapped = Object.assign(new Error('The pending stream has been canceled'), { code: 'ERR_HTTP2_STREAM_CANCEL', cause: plain });
            for (const err of [plain, wrapped]) {
                const e = explainAwsError(err, { endpoint: 'https://127.0.0.1:4568' });
                assert.equal(e.kind, 'unreachable');
                assert.equal(e.status, 'https on a plain port');
                assert.match(e.message, /^cannot reach https:\/\/127\.0\.0\.1:4568: the server there does not speak TLS \(https:\/\/\) — for a plain HTTP port use http:\/\//);
                assert.doesNotMatch(e.message, /SSL routines|openssl/);
            }
        });
        it('a server that is not Kinesis (Deserialization error … $response) is named as such, without the SDK hint', function () {
            const err = Object.assign(new Error('Deserialization error: to see the raw response, inspect the hidden field {error}.$response on this object.'),
                { name: 'SyntaxError', $response: { statusCode: 200 }, $metadata: { httpStatusCode: 200 } });
            const e = explainAwsError(err, { endpoint: 'http://127.0.0.1:1880' });
            assert.equal(e.kind, 'unreachable');
            assert.equal(e.status, 'not an AWS endpoint');
            assert.match(e.message, /the server at http:\/\/127\.0\.0\.1:1880 answered \(HTTP 200\), but not as the AWS API does/);
            assert.doesNotMatch(e.message, /\$response|hidden field/);
        });
        it('HTTP/2 (Kinesis on AWS) wrapping a DNS failure reports the cause, not ERR_HTTP2_STREAM_CANCEL', function () {
            const cause = Object.assign(new Error('getaddrinfo ENOTFOUND kinesis.eu-wst-1.amazonaws.com'), { code: 'ENOTFOUND' });
            const err = Object.assign(new Error('The pending stream has been canceled'), { code: 'ERR_HTTP2_STREAM_CANCEL', cause });
            const e = explainAwsError(err, { region: 'eu-wst-1' });
            assert.equal(e.code, 'ENOTFOUND');
            assert.equal(e.kind, 'unreachable');
            assert.match(e.message, /cannot reach AWS in region eu-wst-1: ENOTFOUND \(unknown host: check the region name "eu-wst-1"/);
        });
        it('an untrusted TLS certificate (self-signed local stack) is explained, with what to do', function () {
            const plain = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
            // HTTP/2 wraps it: "The pending stream has been canceled (caused by: self-signed certificate)"
            const wrapped = Object.assign(new Error('The pending stream has been canceled (caused by: self-signed certificate)'), { code: 'ERR_HTTP2_STREAM_CANCEL', cause: plain });
            for (const err of [plain, wrapped]) {
                const e = explainAwsError(err, { endpoint: 'https://127.0.0.1:4567' });
                assert.equal(e.kind, 'unreachable');
                assert.equal(e.status, 'untrusted certificate');
                assert.match(e.message, /cannot reach https:\/\/127\.0\.0\.1:4567: its TLS certificate is not trusted \(self-signed certificate\)/);
                assert.match(e.message, /use its http:\/\/ endpoint/);
                assert.match(e.message, /NODE_EXTRA_CA_CERTS/);
            }
            const expired = explainAwsError(Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' }), { region: 'eu-west-1' });
            assert.match(expired.message, /cannot reach AWS in region eu-west-1: its TLS certificate is not trusted \(certificate expired\)/);
        });
        it('a checkpoint from a deleted and recreated stream is named as such, with the way out', function () {
            const err = Object.assign(new Error('StartingSequenceNumber 49590338271490256608559692538361571095921575989136588898 used in GetShardIterator on shard shardId-000000000000 in stream telemetry under account 123456789012 is invalid because it did not come from this stream.'), { name: 'InvalidArgumentException', $metadata: { httpStatusCode: 400 } });
            const e = explainAwsError(err, { streamName: 'telemetry', action: 'kinesis:GetShardIterator' });
            assert.equal(e.status, 'stale checkpoint');
            assert.match(e.message, /checkpoint does not belong to this stream "telemetry" \(was the stream deleted and recreated/);
            assert.match(e.message, /delete the application's lease table/);
            const other = explainAwsError(Object.assign(new Error('1 validation error'), { name: 'InvalidArgumentException' }), {});
            assert.equal(other.status, 'invalid request');
        });
        it('connection refused at a local endpoint says nothing listens there', function () {
            const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
            const e = explainAwsError(err, { endpoint: 'http://127.0.0.1:9' });
            assert.equal(e.kind, 'unreachable');
            assert.match(e.message, /cannot reach http:\/\/127\.0\.0\.1:9/);
            assert.match(e.message, /nothing listens there/);
        });
        it('no credentials from the chain', function () {
            const e = explainAwsError(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }));
            assert.equal(e.kind, 'no-credentials');
        });
        it('assume-role failures are explained as such, not as the Kinesis action', function () {
            const err = Object.assign(awsError('AccessDenied', 'User: arn:aws:iam::1:user/u is not authorized to perform: sts:AssumeRole', 403),
                { $credentialSource: 'sts:AssumeRole', $roleArn: 'arn:aws:iam::123456789012:role/r' });
            const e = explainAwsError(err, { action: 'kinesis:ListStreams' });
            assert.equal(e.kind, 'access-denied');
            assert.match(e.message, /cannot assume role arn:aws:iam::123456789012:role\/r/);
            assert.match(e.message, /trust policy/);
            assert.ok(!e.message.includes('kinesis:ListStreams'));
            assert.equal(e.status, 'assume role denied');
        });
        it('a KinesisNodeError passes through (redacted again)', function () {
            const n = new KinesisNodeError({ kind: 'bad-config', code: 'AwsConfigError', message: 'x SECRETX', status: 'bad region', retryable: false });
            const e = explainAwsError(n, { secrets: ['SECRETX'] });
            assert.equal(e.kind, 'bad-config');
            assert.equal(e.message, 'x ***');
            assert.equal(toNodeError(n), n);
        });
    });
});
