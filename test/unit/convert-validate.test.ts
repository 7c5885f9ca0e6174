import assert from 'node:assert/strict';
import { normaliseUplink, normaliseDownlink, OutputError } from '../../lib/convert/validate';
import { applyToRegistry, UpdateOnlyKeysFilter, UnknownEntityError, Registry } from '../../lib/convert/registry';

const NOW = 1_700_000_000_000;

describe('convert validation (ThingsBoard rules)', function () {
    describe('uplink', function () {
        it('a device with defaults: deviceType "default", telemetry object timestamped now, attributes {}', function () {
            assert.deepEqual(normaliseUplink({ deviceName: 'd1', telemetry: { t: 1 } }, NOW), [
                { deviceName: 'd1', deviceType: 'default', telemetry: [{ ts: NOW, values: { t: 1 } }], attributes: {} },
            ]);
        });

        it('exactly one of deviceName / assetName', function () {
            assert.throws(() => normaliseUplink({ telemetry: { t: 1 } }, NOW), /must contain deviceName or assetName/);
            assert.throws(() => normaliseUplink({ deviceName: 'd', assetName: 'a', assetType: 'x' }, NOW), /both deviceName and assetName/);
            assert.throws(() => normaliseUplink({ deviceName: '' }, NOW), /deviceName is empty/);
            assert.throws(() => normaliseUplink({ deviceName: { a: 1 } }, NOW), /deviceName must be a string/);
            assert.deepEqual(normaliseUplink({ deviceName: 42 }, NOW)[0].deviceName, '42');
        });

        it('assets need assetType; labels, customer and group are kept', function () {
            assert.throws(() => normaliseUplink({ assetName: 'a1' }, NOW), /assetType is required/);
            assert.deepEqual(normaliseUplink({ assetName: 'a1', assetType: 'building', assetLabel: 'HQ', customerName: 'c', groupName: 'g' }, NOW), [
                { assetName: 'a1', assetType: 'building', assetLabel: 'HQ', customerName: 'c', groupName: 'g', telemetry: [], attributes: {} },
            ]);
            assert.equal(normaliseUplink({ deviceName: 'd', deviceLabel: 'L' }, NOW)[0].deviceLabel, 'L');
        });

        it('telemetry as {ts, values}, as an array of either form, ts as numeric string', function () {
            const r = normaliseUplink({ deviceName: 'd', telemetry: [{ ts: 1000, values: { a: 1 } }, { b: 2 }, { ts: '2000', values: { c: 3 } }] }, NOW);
            assert.deepEqual(r[0].telemetry, [{ ts: 1000, values: { a: 1 } }, { ts: NOW, values: { b: 2 } }, { ts: 2000, values: { c: 3 } }]);
            assert.deepEqual(normaliseUplink({ deviceName: 'd', telemetry: { ts: 5, values: { a: 1 } } }, NOW)[0].telemetry, [{ ts: 5, values: { a: 1 } }]);
            assert.throws(() => normaliseUplink({ deviceName: 'd', telemetry: { ts: 'soon', values: {} } }, NOW), /ts must be a number/);
            assert.throws(() => normaliseUplink({ deviceName: 'd', telemetry: { ts: 1, values: 3 } }, NOW), /values must be an object/);
            assert.throws(() => normaliseUplink({ deviceName: 'd', telemetry: [1] }, NOW), /telemetry\[0\] must be an object/);
            assert.throws(() => normaliseUplink({ deviceName: 'd', telemetry: 'hot' }, NOW), /telemetry must be an object/);
        });

        it('numeric strings cast, nulls skipped, booleans and nested JSON kept, empty entries dropped', function () {
            const r = normaliseUplink({ deviceName: 'd', telemetry: { a: '22', b: '-1.5', c: 'x12', d: null, e: true, f: { g: 1 }, h: [1, 2], i: '007', j: '12345678901234567890' }, attributes: { k: null, l: '3' } }, NOW)[0];
            assert.deepEqual(r.telemetry[0].values, { a: 22, b: -1.5, c: 'x12', e: true, f: { g: 1 }, h: [1, 2], i: 7, j: '12345678901234567890' });
            assert.deepEqual(r.attributes, { l: 3 });
            assert.deepEqual(normaliseUplink({ deviceName: 'd', telemetry: { a: null } }, NOW)[0].telemetry, []);
        });

        it('"__proto__" keys are dropped and refused as names (no prototype changes on the host)', function () {
            const parsed = JSON.parse('{"deviceName":"d","attributes":{"__proto__":{"polluted":1},"a":1},"telemetry":{"__proto__":{"x":1},"t":2}}');
            const [e] = normaliseUplink(parsed, NOW);
            assert.deepEqual(Object.keys(e.attributes), ['a']);
            assert.equal(Object.getPrototypeOf(e.attributes), Object.prototype);
            assert.equal((e.attributes as Record<string, unknown>).polluted, undefined);
            assert.deepEqual(e.telemetry[0].values, { t: 2 });
            assert.throws(() => normaliseUplink({ deviceName: '__proto__' }, NOW), /not allowed/);
        });

        it('attributes must be an object', function () {
            assert.throws(() => normaliseUplink({ deviceName: 'd', attributes: [1] }, NOW), /attributes must be an object/);
            assert.throws(() => normaliseUplink({ deviceName: 'd', attributes: 'x' }, NOW), /attributes must be an object/);
        });

        it('null / undefined / primitive results give nothing; arrays give one entity each; non-object elements fail', function () {
            for (const v of [null, undefined, 1, 'x', true]) assert.deepEqual(normaliseUplink(v, NOW), []);
            assert.deepEqual(normaliseUplink([], NOW), []);
            assert.equal(normaliseUplink([{ deviceName: 'a' }, { assetName: 'b', assetType: 't' }], NOW).length, 2);
            assert.throws(() => normaliseUplink([{ deviceName: 'a' }, 'oops'], NOW), (e: unknown) => e instanceof OutputError && /result\[1\] must be an object/.test(e.message));
            assert.throws(() => normaliseUplink([{ deviceName: 'a' }, null], NOW), /result\[1\]/);
        });
    });

    describe('downlink', function () {
        it('valid JSON / TEXT / BINARY records; metadata values become strings, nulls skipped', function () {
            assert.deepEqual(normaliseDownlink({ contentType: 'JSON', data: '{"a":1}', metadata: { streamName: 's', partitionKey: 12, flag: true, none: null } }), [
                { contentType: 'JSON', data: '{"a":1}', metadata: { streamName: 's', partitionKey: '12', flag: 'true' } },
            ]);
            assert.deepEqual(normaliseDownlink({ contentType: 'TEXT', data: 'hi' }), [{ contentType: 'TEXT', data: 'hi', metadata: {} }]);
            assert.deepEqual(normaliseDownlink([{ contentType: 'BINARY', data: 'AQID' }, { contentType: 'TEXT', data: '' }]), [{ contentType: 'BINARY', data: 'AQID', metadata: {} }]);
        });

        it('rejects unknown content types, non-string data, bad base64, nested metadata, non-object elements', function () {
            assert.throws(() => normaliseDownlink({ contentType: 'XML', data: 'x' }), /Unknown downlink content type "XML"/);
            assert.throws(() => normaliseDownlink({ data: 'x' }), /contentType is required/);
            assert.throws(() => normaliseDownlink({ contentType: 'JSON', data: { a: 1 } }), /data must be a string \(use JSON.stringify/);
            assert.throws(() => normaliseDownlink({ contentType: 'JSON' }), /data is required/);
            assert.throws(() => normaliseDownlink({ contentType: 'BINARY', data: 'not base64!' }), /must be base64/);
            assert.throws(() => normaliseDownlink({ contentType: 'TEXT', data: 'x', metadata: { a: { b: 1 } } }), /metadata.a must be a string, number or boolean/);
            assert.throws(() => normaliseDownlink([{ contentType: 'TEXT', data: 'x' }, 3]), /result\[1\] must be an object/);
            for (const v of [null, undefined, 'x', 5]) assert.deepEqual(normaliseDownlink(v), []);
        });
    });

    describe('registry and updateOnlyKeys', function () {
        it('creates entries with type, times, attributes and latest telemetry; updates activity later', function () {
            const reg = { devices: {} as Registry, assets: {} as Registry };
            const [e] = normaliseUplink({ deviceName: 'kitchen', deviceType: 'thermostat', attributes: { fw: '1.0' }, telemetry: [{ ts: 10, values: { t: 20 } }, { ts: 5, values: { t: 19, h: 40 } }] }, NOW);
            assert.equal(applyToRegistry(reg, e, NOW, true), true);
            assert.deepEqual(reg.devices.kitchen, {
                name: 'kitchen', type: 'thermostat', entityType: 'DEVICE', createdTime: NOW, lastActivityTime: NOW,
                attributes: { fw: 1 }, telemetry: { t: { ts: 10, value: 20 }, h: { ts: 5, value: 40 } }, // '1.0' cast to a number
            });
            const [again] = normaliseUplink({ deviceName: 'kitchen', deviceType: 'other', telemetry: { ts: 20, values: { t: 21 } } }, NOW + 1);
            assert.equal(applyToRegistry(reg, again, NOW + 1, true), false);
            assert.equal(reg.devices.kitchen.type, 'thermostat'); // type is set when created only
            assert.equal(reg.devices.kitchen.createdTime, NOW);
            assert.equal(reg.devices.kitchen.lastActivityTime, NOW + 1);
            assert.deepEqual(reg.devices.kitchen.telemetry.t, { ts: 20, value: 21 });
            const [asset] = normaliseUplink({ assetName: 'hq', assetType: 'building' }, NOW);
            applyToRegistry(reg, asset, NOW, true);
            assert.equal(reg.assets.hq.entityType, 'ASSET');
        });

        it('unknown entities fail when creation is not allowed', function () {
            const reg = { devices: { known: { name: 'known', type: 't', entityType: 'DEVICE', createdTime: 1, lastActivityTime: 1, attributes: {}, telemetry: {} } } as Registry, assets: {} };
            const [unknown] = normaliseUplink({ deviceName: 'stranger' }, NOW);
            assert.throws(() => applyToRegistry(reg, unknown, NOW, false), (e: unknown) => e instanceof UnknownEntityError && /device "stranger" is not in the registry/.test(e.message));
            assert.equal(reg.devices.stranger, undefined);
            const [known] = normaliseUplink({ deviceName: 'known', telemetry: { a: 1 } }, NOW);
            assert.equal(applyToRegistry(reg, known, NOW, false), false);
            assert.equal(reg.devices.known.telemetry.a.value, 1);
        });

        it('updateOnlyKeys drops listed keys whose value did not change for that entity', function () {
            const f = new UpdateOnlyKeysFilter(['fw', 'serial']);
            const first = normaliseUplink({ deviceName: 'd', attributes: { fw: '1', other: 1 }, telemetry: { serial: 'A', t: 1 } }, NOW)[0];
            f.apply(first);
            assert.deepEqual(first.attributes, { fw: 1, other: 1 });
            const second = normaliseUplink({ deviceName: 'd', attributes: { fw: '1', other: 1 }, telemetry: { serial: 'A', t: 1 } }, NOW)[0];
            f.apply(second);
            assert.deepEqual(second.attributes, { other: 1 });
            assert.deepEqual(second.telemetry[0].values, { t: 1 });
            const otherDevice = normaliseUplink({ deviceName: 'e', attributes: { fw: '1' } }, NOW)[0];
            f.apply(otherDevice);
            assert.deepEqual(otherDevice.attributes, { fw: 1 });
            const changed = normaliseUplink({ deviceName: 'd', attributes: { fw: '2' }, telemetry: { serial: 'A' } }, NOW)[0];
            f.apply(changed);
            assert.deepEqual(changed.attributes, { fw: 2 });
            assert.deepEqual(changed.telemetry, []);
        });
    });
});
