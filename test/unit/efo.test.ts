/** Pure logic of the EFO module; the registration flow against a scripted client (AWS-only errors). */
import assert from 'node:assert/strict';
import {
    DescribeStreamConsumerCommand,
    KinesisClient,
    RegisterStreamConsumerCommand,
} from '@aws-sdk/client-kinesis';
import { backoffDelay, checkConsumerName, ensureStreamConsumer, streamNameFromArn } from '../../lib/consumer/efo';

const STREAM_ARN = 'arn:aws:kinesis:us-east-1:123456789012:stream/my-thingsboard';
const CONSUMER_ARN = `${STREAM_ARN}/consumer/app:1700000000`;

function awsError(name: string, message = name): Error {
    return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

/** A client answering Describe/Register from scripts; records the calls. */
function scripted(describe: Array<() => unknown>, register: Array<() => unknown> = []): { client: KinesisClient; calls: string[] } {
    const calls: string[] = [];
    const send = async (cmd: unknown): Promise<unknown> => {
        if (cmd instanceof DescribeStreamConsumerCommand) {
            calls.push('describe');
            const step = describe.shift();
            if (!step) throw new Error('unexpected DescribeStreamConsumer');
            return step();
        }
        if (cmd instanceof RegisterStreamConsumerCommand) {
            calls.push('register');
            const step = register.shift();
            if (!step) throw new Error('unexpected RegisterStreamConsumer');
            return step();
        }
        throw new Error(`unexpected command ${(cmd as object).constructor.name}`);
    };
    return { client: { send } as unknown as KinesisClient, calls };
}

const missing = (): never => {
    throw awsError('ResourceNotFoundException', 'Consumer app not found');
};
const status = (s: string) => () => ({ ConsumerDescription: { ConsumerStatus: s, ConsumerARN: CONSUMER_ARN } });

describe('EFO (unit)', function () {
    it('validates consumer names like AWS does', function () {
        assert.equal(checkConsumerName('my-thingsboard'), undefined);
        assert.equal(checkConsumerName('a.b_c-D9'), undefined);
        assert.equal(checkConsumerName('x'.repeat(128)), undefined);
        assert.match(checkConsumerName('')!, /empty/);
        assert.match(checkConsumerName('x'.repeat(129))!, /129 characters/);
        assert.match(checkConsumerName('has space')!, /only letters, digits/);
        assert.match(checkConsumerName('ümlaut')!, /only letters, digits/);
    });

    it('finds the stream name in stream and consumer ARNs', function () {
        assert.equal(streamNameFromArn(STREAM_ARN), 'my-thingsboard');
        assert.equal(streamNameFromArn(CONSUMER_ARN), 'my-thingsboard');
        assert.equal(streamNameFromArn('not-an-arn'), undefined);
    });

    it('backs off exponentially with jitter, within the cap', function () {
        assert.equal(backoffDelay(0, 1000, 10_000, () => 0), 500);
        assert.equal(backoffDelay(0, 1000, 10_000, () => 1), 1000);
        assert.equal(backoffDelay(2, 1000, 10_000, () => 1), 4000);
        assert.equal(backoffDelay(10, 1000, 10_000, () => 1), 10_000);
        assert.equal(backoffDelay(10, 1000, 10_000, () => 0), 5_000);
        for (let a = 0; a < 50; a++) {
            const d = backoffDelay(a, 1000, 10_000);
            assert.ok(d >= 500 && d <= 10_000, String(d));
        }
    });

    it('registers a missing consumer and polls until ACTIVE', async function () {
        const { client, calls } = scripted([missing, status('CREATING'), status('CREATING'), status('ACTIVE')], [
            () => ({ Consumer: { ConsumerStatus: 'CREATING', ConsumerARN: CONSUMER_ARN } }),
        ]);
        assert.equal(await ensureStreamConsumer(client, STREAM_ARN, 'app', { pollMs: 1 }), CONSUMER_ARN);
        assert.deepEqual(calls, ['describe', 'register', 'describe', 'describe', 'describe']);
    });

    it('ResourceInUse on register (another worker registered it) describes again', async function () {
        const { client, calls } = scripted([missing, status('ACTIVE')], [() => {
            throw awsError('ResourceInUseException');
        }]);
        assert.equal(await ensureStreamConsumer(client, STREAM_ARN, 'app', { pollMs: 1 }), CONSUMER_ARN);
        assert.deepEqual(calls, ['describe', 'register', 'describe']);
    });

    it('LimitExceeded on register backs off and tries again', async function () {
        const { client, calls } = scripted([missing, missing, status('ACTIVE')], [
            () => {
                throw awsError('LimitExceededException', 'Rate exceeded');
            },
            () => ({ Consumer: { ConsumerStatus: 'CREATING', ConsumerARN: CONSUMER_ARN } }),
        ]);
        assert.equal(await ensureStreamConsumer(client, STREAM_ARN, 'app', { pollMs: 1 }), CONSUMER_ARN);
        assert.deepEqual(calls, ['describe', 'register', 'describe', 'register', 'describe']);
    });

    it('explains access denied, naming the action', async function () {
        const { client } = scripted([() => {
            throw awsError('AccessDeniedException', 'not authorized to perform: kinesis:DescribeStreamConsumer');
        }]);
        await assert.rejects(ensureStreamConsumer(client, STREAM_ARN, 'app'), (err: Error & { kind?: string }) => {
            assert.equal(err.kind, 'access-denied');
            assert.match(err.message, /allow kinesis:DescribeStreamConsumer/);
            return true;
        });
    });

    it('can be aborted while polling', async function () {
        const ac = new AbortController();
        const { client } = scripted([missing, ...Array.from({ length: 100 }, () => status('CREATING'))], [
            () => ({ Consumer: { ConsumerStatus: 'CREATING', ConsumerARN: CONSUMER_ARN } }),
        ]);
        const p = ensureStreamConsumer(client, STREAM_ARN, 'app', { pollMs: 60_000, signal: ac.signal });
        setTimeout(() => ac.abort(), 20);
        await assert.rejects(p, { name: 'AbortError' });
    });
});
