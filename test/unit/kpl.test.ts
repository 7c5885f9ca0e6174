import assert from 'node:assert/strict';
import { createHash } from 'crypto';
import type { _Record } from '@aws-sdk/client-kinesis';
import {
    aggregate,
    aggregatedSize,
    Aggregator,
    deaggregate,
    deaggregateAll,
    isAggregated,
    KPL_MAGIC,
    KPL_OVERHEAD,
    varintSize,
    type AggregateInput,
    type UserRecord,
} from '../../lib/kpl';

const MAGIC = [0xf3, 0x89, 0x9a, 0xc2];

/** magic ‖ pb ‖ md5(pb), built with node:crypto directly (independent of the encoder). */
function wrap(pb: number[] | Buffer): Buffer {
    const body = Buffer.from(pb);
    return Buffer.concat([Buffer.from(MAGIC), body, createHash('md5').update(body).digest()]);
}

/** Small deterministic PRNG (mulberry32) so random tests are reproducible. */
function rng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

function randomInputs(rand: () => number, n: number): AggregateInput[] {
    const out: AggregateInput[] = [];
    for (let i = 0; i < n; i++) {
        const dataLen = rand() < 0.05 ? Math.floor(rand() * 40000) : Math.floor(rand() * 300);
        const data = Buffer.alloc(dataLen);
        for (let j = 0; j < dataLen; j++) data[j] = Math.floor(rand() * 256);
        const pkChoice = rand();
        const partitionKey =
            pkChoice < 0.5 ? `shared-${Math.floor(rand() * 5)}` : pkChoice < 0.9 ? `distinct-${i}-${'x'.repeat(Math.floor(rand() * 200))}` : `ünï-${i}-🚀`;
        const r: AggregateInput = { data, partitionKey };
        const e = rand();
        if (e < 0.3) r.explicitHashKey = String(Math.floor(rand() * 4)) + '0000000000000000000000000000000000';
        else if (e < 0.5) r.explicitHashKey = `${BigInt(i) * 12345678901234567890n}`;
        out.push(r);
    }
    return out;
}

function outer(data: Uint8Array | undefined, extra: Partial<_Record> = {}): _Record {
    return {
        Data: data,
        PartitionKey: 'outer-pk',
        SequenceNumber: '49590338271490256608559692538361571095921575989136588898',
        ApproximateArrivalTimestamp: new Date(1700000000000),
        ...extra,
    };
}

function assertRaw(users: UserRecord[], data: Uint8Array): void {
    assert.equal(users.length, 1);
    const u = users[0];
    assert.equal(u.aggregated, false);
    assert.equal(u.subSequenceNumber, 0);
    assert.equal(u.partitionKey, 'outer-pk');
    assert.ok(Buffer.isBuffer(u.data));
    assert.ok(u.data.equals(Buffer.from(data)));
}

// The hand-made vector: two records, keys 'a' and 'b', explicit hash key '5' on the second.
const VECTOR_PB = [
    0x0a, 0x01, 0x61, // partition_key_table[0] = "a"
    0x0a, 0x01, 0x62, // partition_key_table[1] = "b"
    0x12, 0x01, 0x35, // explicit_hash_key_table[0] = "5"
    0x1a, 0x06, 0x08, 0x00, 0x1a, 0x02, 0x68, 0x69, // records[0] { pk 0, data "hi" }
    0x1a, 0x07, 0x08, 0x01, 0x10, 0x00, 0x1a, 0x01, 0x00, // records[1] { pk 1, ehk 0, data 00 }
];
const VECTOR_MD5 = 'dbab814899c534f292420a16098052e8'; // md5sum of the bytes above
const VECTOR_INPUT: AggregateInput[] = [
    { data: Buffer.from('hi'), partitionKey: 'a' },
    { data: Buffer.from([0]), partitionKey: 'b', explicitHashKey: '5' },
];

// Aggregated records produced by other implementations of the format (published test data of the
// KPL-format aggregation libraries), so interop is checked against bytes this code did not produce.
const INTEROP_VECTORS: Array<{ name: string; base64: string; records: Array<[string, string | undefined, string]> }> = [
    {
        name: 'one record, no explicit hash key',
        base64: '84mawgoFa2V5LTAaJQgAGiFUZXN0aW5nIEtQTCBBZ2dyZWdhdGVkIFJlY29yZCAxLTBlW2Hfd6iL1WkMbznr8jc2',
        records: [['key-0', undefined, 'Testing KPL Aggregated Record 1-0']],
    },
    {
        name: 'three records sharing one partition key',
        base64: '84mawgoCcDEaGAgAGhQwMTIzNDU2Nzg5MDEyMzQ1NjdfQRoYCAAaFDAxMjM0NTY3ODkwMTIzNDU2N19CGhgIABoUMDEyMzQ1Njc4OTAxMjM0NTY3X0NHjL02iyRk3D+kO2UC2X6u',
        records: [
            ['p1', undefined, '012345678901234567_A'],
            ['p1', undefined, '012345678901234567_B'],
            ['p1', undefined, '012345678901234567_C'],
        ],
    },
    {
        name: 'four records with distinct partition and explicit hash keys',
        base64:
            '84mawgokZmMwM2RkODgtM2U3OS00NDhhLWIwMWEtN2NmMWJkNDdiNzg0CiRjYWU0MWIxYy1lYTYxLTQz' +
            'ZjItOTBiZS1iODc1NWViZjg4ZTIKJGQ0OTA2OTBjLWU3NGQtNGRiMi1hM2M4LWQ4ZjJmMTg0ZmQyMwokYzkyNGJjMDktYjg1ZS00N2' +
            'YxLWIzMmUtMzM2NTIyZWU1M2M4EiYzODQ4NjQ5NTg2NzUwODM5OTA3ODE1OTcyMzg0NjA1MTgwNzAyMBInMTkzNzg3NjAwMDM3Njgx' +
            'NzA2OTUyMTQzMzU3MDcxOTE2MzUyNjA0EicyNjY4ODA0MzY5NjQ5MzI0MjQyNjU0NjY5MTY3MzQwNjg2ODQ0MzkSJzMzOTYwNjYwMD' +
            'k0Mjk2NzM5MTg1NDYwMzU1MjQwMjAyMTg0NzI5MhomCAAQABogUkVDT1JEIDIyIHBlZW9iaGN6YnpkbXNrYm91cGd5cQoaJggBEAEa' +
            'IFJFQ09SRCAyMyB1c3dreGZ0eHJvZXVzc2N4c2pobm8KGiYIAhACGiBSRUNPUkQgMjQgY2FzZWhkZ2l2ZmF4ZXVzdGx5c3p5ChomCA' +
            'MQAxogUkVDT1JEIDI1IG52ZmZ2cG11b2dkb3BqaGFtZXZyawpRwVPQ3go0yp4Y6kvM0q3V',
        records: [
            ['fc03dd88-3e79-448a-b01a-7cf1bd47b784', '38486495867508399078159723846051807020', 'RECORD 22 peeobhczbzdmskboupgyq\n'],
            ['cae41b1c-ea61-43f2-90be-b8755ebf88e2', '193787600037681706952143357071916352604', 'RECORD 23 uswkxftxroeusscxsjhno\n'],
            ['d490690c-e74d-4db2-a3c8-d8f2f184fd23', '266880436964932424265466916734068684439', 'RECORD 24 casehdgivfaxeustlyszy\n'],
            ['c924bc09-b85e-47f1-b32e-336522ee53c8', '339606600942967391854603552402021847292', 'RECORD 25 nvffvpmuogdopjhamevrk\n'],
        ],
    },
];

describe('lib/kpl (KPL aggregated-record format)', function () {
    describe('encoding', function () {
        it('produces the hand-computed bytes of a tiny aggregate', function () {
            const expected = Buffer.concat([Buffer.from(MAGIC), Buffer.from(VECTOR_PB), Buffer.from(VECTOR_MD5, 'hex')]);
            const got = aggregate(VECTOR_INPUT);
            assert.equal(got.toString('hex'), expected.toString('hex'));
            assert.equal(aggregatedSize(VECTOR_INPUT), expected.length);
        });

        it('deduplicates keys into the tables', function () {
            const one = aggregate([{ data: Buffer.from('x'), partitionKey: 'same-key' }]);
            const three = aggregate([
                { data: Buffer.from('x'), partitionKey: 'same-key' },
                { data: Buffer.from('y'), partitionKey: 'same-key' },
                { data: Buffer.from('z'), partitionKey: 'same-key' },
            ]);
            // each extra record: tag + len + {08 00 1a 01 x} = 7 bytes, no extra key
            assert.equal(three.length - one.length, 14);
            assert.equal(three.indexOf('same-key'), three.lastIndexOf('same-key'));
        });

        it('aggregate([]) is magic + empty protobuf + md5 of nothing, and deaggregates to no records', function () {
            const empty = aggregate([]);
            assert.equal(empty.toString('hex'), 'f3899ac2' + 'd41d8cd98f00b204e9800998ecf8427e');
            assert.equal(empty.length, KPL_OVERHEAD);
            assert.equal(aggregatedSize([]), KPL_OVERHEAD);
            assert.equal(isAggregated(empty), true);
            assert.deepEqual(deaggregate(outer(empty)), []);
        });

        it('KPL_MAGIC is the 4 magic bytes and changing the export does not affect the codec', function () {
            assert.deepEqual([...KPL_MAGIC], MAGIC);
            const copy = Buffer.from(KPL_MAGIC);
            KPL_MAGIC[0] = 0;
            try {
                assert.equal(isAggregated(aggregate(VECTOR_INPUT)), true);
                assert.equal(aggregate(VECTOR_INPUT)[0], 0xf3);
            } finally {
                copy.copy(KPL_MAGIC);
            }
        });

        it('rejects bad input with a TypeError', function () {
            assert.throws(() => aggregate([{ data: 'text' as unknown as Uint8Array, partitionKey: 'k' }]), TypeError);
            assert.throws(() => aggregate([{ data: Buffer.from('x'), partitionKey: 5 as unknown as string }]), TypeError);
            assert.throws(
                () => aggregate([{ data: Buffer.from('x'), partitionKey: 'k', explicitHashKey: 7 as unknown as string }]),
                TypeError,
            );
            assert.throws(() => aggregate([null as unknown as AggregateInput]), TypeError);
        });

        it('treats an empty explicit hash key as none', function () {
            const a = aggregate([{ data: Buffer.from('x'), partitionKey: 'k', explicitHashKey: '' }]);
            assert.ok(a.equals(aggregate([{ data: Buffer.from('x'), partitionKey: 'k' }])));
        });

        it('varintSize matches the protobuf varint length at every 7-bit boundary', function () {
            for (let bits = 0; bits <= 53; bits++) {
                const v = 2 ** bits;
                const expect = (x: number) => Math.max(1, Math.ceil(x.toString(2).length / 7)); // bit length / 7
                assert.equal(varintSize(v - 1), expect(v - 1), `2^${bits}-1`);
                assert.equal(varintSize(v), expect(v), `2^${bits}`);
            }
            assert.equal(varintSize(0), 1);
            assert.equal(varintSize(127), 1);
            assert.equal(varintSize(128), 2);
            assert.equal(varintSize(2 ** 31), 5);
            assert.equal(varintSize(2 ** 35), 6);
        });
    });

    describe('decoding', function () {
        it('deaggregates the hand-made vector', function () {
            const ts = new Date(1700000000000);
            const users = deaggregate(outer(wrap(VECTOR_PB), { ApproximateArrivalTimestamp: ts }));
            assert.equal(users.length, 2);
            assert.equal(users[0].data.toString(), 'hi');
            assert.equal(users[0].partitionKey, 'a');
            assert.equal(users[0].explicitHashKey, undefined);
            assert.equal('explicitHashKey' in users[0], false);
            assert.equal(users[1].data.toString('hex'), '00');
            assert.equal(users[1].partitionKey, 'b');
            assert.equal(users[1].explicitHashKey, '5');
            users.forEach((u, i) => {
                assert.equal(u.aggregated, true);
                assert.equal(u.subSequenceNumber, i);
                assert.equal(u.sequenceNumber, '49590338271490256608559692538361571095921575989136588898');
                assert.equal(u.approximateArrivalTimestamp, ts);
            });
        });

        it('round-trips many records with shared and distinct keys and explicit hash keys', function () {
            const rand = rng(42);
            for (let round = 0; round < 20; round++) {
                const inputs = randomInputs(rand, 1 + Math.floor(rand() * 300));
                const agg = aggregate(inputs);
                assert.equal(isAggregated(agg), true);
                const users = deaggregate(outer(agg));
                assert.equal(users.length, inputs.length);
                users.forEach((u, i) => {
                    assert.equal(u.aggregated, true);
                    assert.equal(u.subSequenceNumber, i);
                    assert.equal(u.partitionKey, inputs[i].partitionKey);
                    assert.equal(u.explicitHashKey, inputs[i].explicitHashKey);
                    assert.ok(u.data.equals(inputs[i].data), `record ${i} data`);
                });
            }
        });

        it('gives data views that share the outer buffer (no copy)', function () {
            const agg = aggregate(VECTOR_INPUT);
            const users = deaggregate(outer(agg));
            assert.equal(users[0].data.buffer, agg.buffer);
        });

        it('accepts Data as a plain Uint8Array view with an offset (as the SDK may return it)', function () {
            const agg = aggregate(VECTOR_INPUT);
            const big = new Uint8Array(agg.length + 10);
            big.set(agg, 7);
            const view = big.subarray(7, 7 + agg.length);
            assert.equal(isAggregated(view), true);
            const users = deaggregate(outer(view));
            assert.deepEqual(users.map((u) => u.data.toString('hex')), ['6869', '00']);
        });

        it('accepts the tables after the records (any field order)', function () {
            const pb = [0x1a, 0x05, 0x08, 0x00, 0x1a, 0x01, 0x41, 0x0a, 0x01, 0x6b];
            const users = deaggregate(outer(wrap(pb)));
            assert.equal(users.length, 1);
            assert.equal(users[0].partitionKey, 'k');
            assert.equal(users[0].data.toString(), 'A');
        });

        it('skips tags and unknown fields of every wire type', function () {
            const tag = [0x0a, 0x01, 0x74, 0x12, 0x01, 0x76]; // Tag { key "t", value "v" }
            const record = [
                0x08, 0x00,
                0x22, tag.length, ...tag, // tags (4)
                0x78, 0x96, 0x01, // field 15 varint 150
                0x79, 1, 2, 3, 4, 5, 6, 7, 8, // field 15 fixed64
                0x7d, 1, 2, 3, 4, // field 15 fixed32
                0x7a, 0x02, 0xff, 0xff, // field 15 length-delimited
                0x7b, 0x08, 0x01, 0x13, 0x10, 0x02, 0x14, 0x7c, // group 15 { 1: 1, group 2 { 2: 2 } }
                0x1a, 0x02, 0x6f, 0x6b,
                0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, // ehk index 0 as a 10-byte varint
            ];
            const pb = [
                0xa0, 0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, // field 100 varint 2^64−1
                0x0a, 0x02, 0x70, 0x6b,
                0x12, 0x01, 0x39,
                0xa3, 0x06, 0xa4, 0x06, // empty group 100
                0x1a, record.length, ...record,
                0x0d, 0, 0, 0, 0, // field 1 with wire type 5: a wrong wire type is an unknown field
            ];
            const users = deaggregate(outer(wrap(pb)));
            assert.equal(users.length, 1);
            assert.equal(users[0].aggregated, true);
            assert.equal(users[0].partitionKey, 'pk');
            assert.equal(users[0].explicitHashKey, '9');
            assert.equal(users[0].data.toString(), 'ok');
        });

        it('reads large varints (non-canonical 10-byte index) and rejects an 11-byte varint', function () {
            const big0 = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
            const ok = [0x0a, 0x01, 0x6b, 0x1a, 4 + big0.length, 0x08, ...big0, 0x1a, 0x01, 0x41];
            assert.equal(deaggregate(outer(wrap(ok)))[0].aggregated, true);
            const big11 = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
            const bad = [0x0a, 0x01, 0x6b, 0x1a, 4 + big11.length, 0x08, ...big11, 0x1a, 0x01, 0x41];
            assertRaw(deaggregate(outer(wrap(bad))), wrap(bad));
        });

        it('passes through a record whose length varint is above 2^31', function () {
            // partition key string claiming 2^32 bytes
            const pb = [0x0a, 0x80, 0x80, 0x80, 0x80, 0x10, 0x6b];
            const data = wrap(pb);
            assert.equal(isAggregated(data), false);
            assertRaw(deaggregate(outer(data)), data);
        });

        it('passes through an index above 2^31 or out of the table', function () {
            const cases: Array<[string, number[]]> = [
                ['partition key index out of range', [0x0a, 0x01, 0x6b, 0x1a, 0x05, 0x08, 0x01, 0x1a, 0x01, 0x41]],
                ['partition key index 2^35', [0x0a, 0x01, 0x6b, 0x1a, 0x09, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x1a, 0x01, 0x41]],
                ['no partition key table', [0x1a, 0x05, 0x08, 0x00, 0x1a, 0x01, 0x41]],
                ['explicit hash key index out of range', [0x0a, 0x01, 0x6b, 0x12, 0x01, 0x31, 0x1a, 0x07, 0x08, 0x00, 0x10, 0x01, 0x1a, 0x01, 0x41]],
                ['explicit hash key index without table', [0x0a, 0x01, 0x6b, 0x1a, 0x07, 0x08, 0x00, 0x10, 0x00, 0x1a, 0x01, 0x41]],
                ['missing partition key index', [0x0a, 0x01, 0x6b, 0x1a, 0x03, 0x1a, 0x01, 0x41]],
                ['missing data', [0x0a, 0x01, 0x6b, 0x1a, 0x02, 0x08, 0x00]],
                ['end group without start', [0x0a, 0x01, 0x6b, 0x0c]],
                ['unterminated group', [0x0a, 0x01, 0x6b, 0x0b, 0x08, 0x01]],
                ['mismatched end group', [0x0b, 0x14]],
                ['wire type 6', [0x0e]],
                ['wire type 7', [0x0f]],
                ['field number 0', [0x00, 0x00]],
                ['record length past its parent', [0x0a, 0x01, 0x6b, 0x1a, 0x10, 0x08, 0x00]],
                ['nested data length past the record', [0x0a, 0x01, 0x6b, 0x1a, 0x05, 0x08, 0x00, 0x1a, 0x03, 0x41, 0x0a, 0x01]],
                ['truncated fixed64', [0x09, 1, 2, 3]],
                ['truncated fixed32', [0x0d, 1, 2]],
            ];
            for (const [name, pb] of cases) {
                const data = wrap(pb);
                assert.equal(isAggregated(data), false, name);
                assertRaw(deaggregate(outer(data)), data);
            }
        });

        it('passes through deeply nested groups without overflowing the stack', function () {
            const depth = 10000;
            const pb = [...new Array(depth).fill(0x0b), ...new Array(depth).fill(0x0c)];
            const data = wrap(pb);
            assert.equal(isAggregated(data), false);
            assertRaw(deaggregate(outer(data)), data);
        });

        it('passes through a record with an MD5 mismatch', function () {
            const data = aggregate(VECTOR_INPUT);
            data[data.length - 1] ^= 1;
            assert.equal(isAggregated(data), false);
            assertRaw(deaggregate(outer(data)), data);
            const data2 = aggregate(VECTOR_INPUT);
            data2[6] ^= 0x20; // protobuf byte changed, digest kept
            assert.equal(isAggregated(data2), false);
            assertRaw(deaggregate(outer(data2)), data2);
        });

        it('passes through a record with the wrong magic', function () {
            for (let i = 0; i < 4; i++) {
                const data = aggregate(VECTOR_INPUT);
                data[i] ^= 0x01;
                assert.equal(isAggregated(data), false);
                assertRaw(deaggregate(outer(data)), data);
            }
        });

        it('passes through plain JSON, empty and missing data', function () {
            const json = Buffer.from('{"temperature":42}');
            assert.equal(isAggregated(json), false);
            assertRaw(deaggregate(outer(json)), json);
            assertRaw(deaggregate(outer(new Uint8Array(0))), Buffer.alloc(0));
            assertRaw(deaggregate(outer(undefined)), Buffer.alloc(0));
            assert.equal(isAggregated(Buffer.from(MAGIC)), false);
            assert.equal(isAggregated(undefined as unknown as Uint8Array), false);
            assert.equal(isAggregated('f3899ac2' as unknown as Uint8Array), false);
            // not what the SDK gives, but must not throw either
            assertRaw(deaggregate(outer('text' as unknown as Uint8Array)), Buffer.from('text'));
            const agg = aggregate(VECTOR_INPUT);
            const ab = agg.buffer.slice(agg.byteOffset, agg.byteOffset + agg.length);
            assert.equal(deaggregate(outer(ab as unknown as Uint8Array)).length, 2);
            assertRaw(deaggregate(outer({} as unknown as Uint8Array)), Buffer.alloc(0));
        });

        it('keeps raw record fields: sequence number, arrival time, explicit hash key if present', function () {
            const ts = new Date(1);
            const [u] = deaggregate({ ...outer(Buffer.from('x'), { ApproximateArrivalTimestamp: ts }), ExplicitHashKey: '77' } as _Record);
            assert.equal(u.sequenceNumber, '49590338271490256608559692538361571095921575989136588898');
            assert.equal(u.approximateArrivalTimestamp, ts);
            assert.equal(u.explicitHashKey, '77');
            const [v] = deaggregate(outer(Buffer.from('x')));
            assert.equal('explicitHashKey' in v, false);
        });

        it('never throws and falls back to raw when truncated at every offset', function () {
            const rand = rng(7);
            const agg = aggregate(randomInputs(rand, 12).map((r) => ({ ...r, data: r.data.subarray(0, 50) })));
            for (let cut = 0; cut < agg.length; cut++) {
                const data = agg.subarray(0, cut);
                assert.equal(isAggregated(data), false, `cut ${cut}`);
                assertRaw(deaggregate(outer(data)), data);
            }
        });

        it('never throws on truncated or corrupt protobuf with a valid MD5; results are raw or a valid prefix', function () {
            const rand = rng(11);
            const inputs = randomInputs(rand, 10).map((r) => ({ ...r, data: r.data.subarray(0, 40) }));
            const pb = aggregate(inputs).subarray(4, -16);
            let prefixes = 0;
            for (let cut = 0; cut <= pb.length; cut++) {
                const data = wrap(pb.subarray(0, cut));
                const users = deaggregate(outer(data));
                if (users.length === 1 && !users[0].aggregated) {
                    assertRaw(users, data);
                } else {
                    prefixes++;
                    assert.equal(isAggregated(data), true);
                    users.forEach((u, i) => {
                        assert.equal(u.partitionKey, inputs[i].partitionKey);
                        assert.ok(u.data.equals(inputs[i].data));
                    });
                }
            }
            assert.ok(prefixes >= inputs.length, 'cuts at record boundaries decode as a shorter aggregate');
            // random corruption
            for (let round = 0; round < 2000; round++) {
                const bad = Buffer.from(pb);
                const flips = 1 + Math.floor(rand() * 4);
                for (let f = 0; f < flips; f++) bad[Math.floor(rand() * bad.length)] = Math.floor(rand() * 256);
                const data = wrap(bad);
                const users = deaggregate(outer(data));
                assert.equal(isAggregated(data), users.length !== 1 || users[0].aggregated);
                for (const u of users) assert.ok(Buffer.isBuffer(u.data));
            }
        });

        it('deaggregateAll flattens a batch in order', function () {
            const batch = [outer(Buffer.from('raw1')), outer(aggregate(VECTOR_INPUT)), outer(Buffer.from('raw2'))];
            const all = deaggregateAll(batch);
            assert.deepEqual(all.map((u) => [u.data.toString('hex'), u.subSequenceNumber, u.aggregated]), [
                ['72617731', 0, false],
                ['6869', 0, true],
                ['00', 1, true],
                ['72617732', 0, false],
            ]);
        });
    });

    describe('interop with other implementations of the format', function () {
        for (const v of INTEROP_VECTORS) {
            it(`decodes and re-encodes byte-exact: ${v.name}`, function () {
                const bytes = Buffer.from(v.base64, 'base64');
                assert.equal(isAggregated(bytes), true);
                const users = deaggregate(outer(bytes));
                assert.deepEqual(
                    users.map((u) => [u.partitionKey, u.explicitHashKey, u.data.toString()]),
                    v.records,
                );
                const inputs = v.records.map(([partitionKey, explicitHashKey, data]) => ({ partitionKey, explicitHashKey, data: Buffer.from(data) }));
                assert.equal(aggregate(inputs).toString('hex'), bytes.toString('hex'));
                assert.equal(aggregatedSize(inputs), bytes.length);
            });
        }
    });

    describe('sizes and the incremental Aggregator', function () {
        it('aggregatedSize equals aggregate(...).length for random inputs', function () {
            const rand = rng(3);
            for (let round = 0; round < 50; round++) {
                const inputs = randomInputs(rand, Math.floor(rand() * 200));
                assert.equal(aggregatedSize(inputs), aggregate(inputs).length);
            }
        });

        it('sizeWith/wouldFit predict the size after add, and build/reset/count work', function () {
            const rand = rng(5);
            const a = new Aggregator();
            const inputs = randomInputs(rand, 300);
            for (const r of inputs) {
                const predicted = a.sizeWith(r);
                assert.equal(a.wouldFit(r, predicted), true);
                assert.equal(a.wouldFit(r, predicted - 1), false);
                a.add(r);
                assert.equal(a.size(), predicted);
            }
            assert.equal(a.count, inputs.length);
            assert.equal(a.firstPartitionKey, inputs[0].partitionKey);
            const built = a.build();
            assert.equal(built.length, a.size());
            assert.ok(built.equals(aggregate(inputs)));
            a.reset();
            assert.equal(a.count, 0);
            assert.equal(a.size(), KPL_OVERHEAD);
            assert.equal(a.firstPartitionKey, undefined);
            a.add(VECTOR_INPUT[1]);
            assert.equal(a.firstExplicitHashKey, '5');
            a.reset();
            for (const r of VECTOR_INPUT) a.add(r);
            assert.ok(a.build().equals(aggregate(VECTOR_INPUT)));
        });

        it('fills up to a limit exactly (a producer loop)', function () {
            const rand = rng(9);
            const limit = 50 * 1024;
            const a = new Aggregator();
            const batches: Buffer[] = [];
            const inputs = randomInputs(rand, 500);
            for (const r of inputs) {
                if (a.count > 0 && !a.wouldFit(r, limit)) {
                    batches.push(a.build());
                    a.reset();
                }
                a.add(r);
            }
            batches.push(a.build());
            const back = batches.flatMap((b) => deaggregate(outer(b)));
            assert.equal(back.length, inputs.length);
            for (const b of batches) if (deaggregate(outer(b)).length > 1) assert.ok(b.length <= limit);
            back.forEach((u, i) => assert.ok(u.data.equals(inputs[i].data)));
        });

        it('round-trips a 1 MiB payload (3-byte lengths)', function () {
            const data = Buffer.alloc(1024 * 1024 - 100, 7);
            const agg = aggregate([{ data, partitionKey: 'big' }]);
            const [u] = deaggregate(outer(agg));
            assert.equal(u.aggregated, true);
            assert.ok(u.data.equals(data));
        });
    });
});
