import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { InputError, isConverterResult, payloadRecords, resolveRecords } from '../../lib/producer/input';
import { characterCount, checkExplicitHashKey, checkPartitionKey, checkRecord, generatePartitionKey, streamNameOf, streamTarget } from '../../lib/producer/records';

/** What the tutorial's downlink encoder returns for the shared attribute version = v.0.11. */
const SEED_RESULT = {
    contentType: 'JSON',
    data: JSON.stringify({ devName: 'kitchen_thermostat', version: 'v.0.11' }),
    metadata: { streamName: 'tb-test-downlink', partitionKey: '123' },
};

describe('producer input shapes (unit)', function () {
    it('Buffer as is, string as UTF-8, objects/arrays/numbers/booleans as JSON', function () {
        const buf = Buffer.from([0, 1, 255]);
        assert.equal(payloadRecords(buf)[0].data, buf);
        assert.equal(payloadRecords(new Uint8Array([7, 8]))[0].data.toString('hex'), '0708');
        assert.equal(payloadRecords('héllo')[0].data.toString('hex'), Buffer.from('héllo', 'utf8').toString('hex'));
        assert.equal(payloadRecords({ a: 1, b: [true, null] })[0].data.toString(), '{"a":1,"b":[true,null]}');
        assert.equal(payloadRecords([1, 'x'])[0].data.toString(), '[1,"x"]');
        assert.equal(payloadRecords(42)[0].data.toString(), '42');
        assert.equal(payloadRecords(false)[0].data.toString(), 'false');
        assert.equal(payloadRecords('')[0].data.length, 0);
    });

    it('rejects empty and unserialisable payloads in words', function () {
        assert.throws(() => payloadRecords(undefined), (e: Error) => e instanceof InputError && /msg.payload is empty/.test(e.message));
        assert.throws(() => payloadRecords(null), /msg.payload is empty/);
        const circular: Record<string, unknown> = {};
        circular.self = circular;
        assert.throws(() => payloadRecords(circular), /cannot be written as JSON/);
        assert.throws(() => payloadRecords({ n: 1n }), /cannot be written as JSON/);
    });

    it('the seed downlink result: JSON data as UTF-8, stream and key from its metadata', function () {
        const [r] = resolveRecords(SEED_RESULT, { streamName: '', partitionKey: undefined });
        assert.equal(r.streamName, 'tb-test-downlink');
        assert.equal(r.partitionKey, '123');
        assert.deepEqual(JSON.parse(Buffer.from(r.data).toString('utf8')), { devName: 'kitchen_thermostat', version: 'v.0.11' });
    });

    it('TEXT and BINARY results; BINARY is base64; empty data is skipped; arrays give several records', function () {
        const out = payloadRecords([
            { contentType: 'TEXT', data: 'on', metadata: { partitionKey: 'a' } },
            { contentType: 'BINARY', data: Buffer.from([1, 2, 250]).toString('base64'), metadata: {} },
            { contentType: 'JSON', data: '', metadata: {} },
            { contentType: 'json', data: { x: 1 } },
        ]);
        assert.deepEqual(out.map((r) => r.data.toString('hex')), [Buffer.from('on').toString('hex'), '0102fa', Buffer.from('{"x":1}').toString('hex')]);
        assert.deepEqual(out[0].metadata, { partitionKey: 'a' });
        assert.deepEqual(payloadRecords({ contentType: 'TEXT', data: null }), []);
    });

    it('rejects bad converter results in words', function () {
        assert.throws(() => payloadRecords({ contentType: 'BINARY', data: 'not base64!' }), /BINARY data is not valid base64/);
        assert.throws(() => payloadRecords({ contentType: 'XML', data: '<a/>' }), /unknown downlink content type "XML"/);
        assert.throws(() => payloadRecords([SEED_RESULT, 'x']), /msg.payload\[1\] is not a converter result/);
        assert.ok(isConverterResult(SEED_RESULT));
        assert.ok(!isConverterResult({ data: 1 }));
        assert.ok(!isConverterResult([SEED_RESULT]));
    });

    it('precedence: node setting → result metadata → msg.metadata → generated', function () {
        const payload = [
            { contentType: 'TEXT', data: 'a', metadata: { streamName: 'from-result', partitionKey: 'rk', explicitHashKey: '7' } },
            { contentType: 'TEXT', data: 'b', metadata: {} },
        ];
        const msgMetadata = { streamName: 'from-msg', partitionKey: 'mk', explicitHashKey: '9' };
        const node = resolveRecords(payload, { streamName: 'node-stream', partitionKey: 'nk', explicitHashKey: '5', msgMetadata });
        assert.deepEqual(node.map((r) => [r.streamName, r.partitionKey, r.explicitHashKey]), [['node-stream', 'nk', '5'], ['node-stream', 'nk', '5']]);
        const byMeta = resolveRecords(payload, { streamName: '', partitionKey: undefined, msgMetadata });
        assert.deepEqual(byMeta.map((r) => [r.streamName, r.partitionKey, r.explicitHashKey]), [['from-result', 'rk', '7'], ['from-msg', 'mk', '9']]);
        const none = resolveRecords('x', {});
        assert.equal(none[0].streamName, '');
        assert.match(none[0].partitionKey, /^[0-9a-f-]{36}$/);
        assert.equal(none[0].explicitHashKey, undefined);
        const numeric = resolveRecords('x', { streamName: 's', partitionKey: 123 });
        assert.equal(numeric[0].partitionKey, '123');
    });

    it('generated keys: random by default, MD5 hex of the data with "hash"', function () {
        const a = resolveRecords('same', {});
        const b = resolveRecords('same', {});
        assert.notEqual(a[0].partitionKey, b[0].partitionKey);
        const h = resolveRecords('same', { keyGeneration: 'hash' });
        assert.equal(h[0].partitionKey, createHash('md5').update('same').digest('hex'));
        assert.equal(generatePartitionKey('hash', Buffer.from('same')), h[0].partitionKey);
    });

    it('record checks', function () {
        assert.equal(characterCount('a😀é'), 3);
        assert.equal(checkPartitionKey('x'.repeat(256)), undefined);
        assert.match(checkPartitionKey('x'.repeat(257))!, /257 characters/);
        assert.match(checkPartitionKey(5)!, /must be a string/);
        assert.equal(checkExplicitHashKey('340282366920938463463374607431768211455'), undefined);
        assert.match(checkExplicitHashKey('340282366920938463463374607431768211456')!, /larger than 2\^128−1/);
        assert.match(checkRecord({ streamName: 'bad name', data: Buffer.from('x'), partitionKey: 'k' }, 100)!, /stream name "bad name" is not valid/);
    });

    describe('partition key rules (issue 14 part 6): "" and non-text keys are errors, never a random key', function () {
        it('an empty key from any source fails in words naming the source', function () {
            assert.throws(() => resolveRecords('x', { streamName: 's', partitionKey: '', partitionKeySource: 'msg.deviceId' }), (e: Error) => e instanceof InputError && /msg\.deviceId is an empty string/.test(e.message));
            assert.throws(() => resolveRecords('x', { streamName: 's', msgMetadata: { partitionKey: '' } }), /msg\.metadata\.partitionKey is an empty string/);
            assert.throws(() => resolveRecords({ contentType: 'TEXT', data: 'a', metadata: { partitionKey: '' } }, { streamName: 's' }), /metadata\.partitionKey is an empty string/);
        });
        it('objects, arrays, Buffers and NaN fail; numbers and booleans become their text', function () {
            for (const [v, words] of [[{ id: 1 }, 'of type object'], [['a'], 'an array'], [Buffer.from('k'), 'a Buffer'], [NaN, 'NaN']] as const) {
                assert.throws(() => resolveRecords('x', { streamName: 's', partitionKey: v, partitionKeySource: 'msg.key' }), (e: Error) => e instanceof InputError && e.message.includes(words), String(v));
            }
            assert.equal(resolveRecords('x', { streamName: 's', partitionKey: 42 })[0].partitionKey, '42');
            assert.equal(resolveRecords('x', { streamName: 's', partitionKey: false })[0].partitionKey, 'false');
            assert.equal(resolveRecords('x', { streamName: 's', msgMetadata: { partitionKey: 7n } })[0].partitionKey, '7');
        });
        it('undefined and null mean "not set": the next source, else a generated key', function () {
            assert.equal(resolveRecords('x', { streamName: 's', partitionKey: null, msgMetadata: { partitionKey: 'mk' } })[0].partitionKey, 'mk');
            assert.match(resolveRecords('x', { streamName: 's', partitionKey: undefined, msgMetadata: { partitionKey: null } })[0].partitionKey, /^[0-9a-f-]{36}$/);
        });
    });

    it('stream ARNs: accepted in the canonical form, clipped in words otherwise', function () {
        const arn = 'arn:aws:kinesis:eu-west-1:123456789012:stream/orders';
        assert.equal(checkRecord({ streamName: arn, data: Buffer.from('x'), partitionKey: 'k' }, 100), undefined);
        assert.equal(checkRecord({ streamName: 'arn:aws-cn:kinesis:cn-north-1:123456789012:stream/a.b_c-d', data: Buffer.from('x'), partitionKey: 'k' }, 100), undefined);
        assert.match(checkRecord({ streamName: 'arn:aws:kinesis:eu-west-1:12345:stream/orders', data: Buffer.from('x'), partitionKey: 'k' }, 100)!, /stream ARN .* is not valid/);
        const long = checkRecord({ streamName: `arn:${'x'.repeat(5000)}`, data: Buffer.from('x'), partitionKey: 'k' }, 100)!;
        assert.ok(long.length < 400, 'clipped');
        assert.equal(streamNameOf(arn), 'orders');
        assert.deepEqual(streamTarget(arn), { StreamARN: arn });
        assert.deepEqual(streamTarget('orders'), { StreamName: 'orders' });
    });
});
