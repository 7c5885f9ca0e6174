import assert from 'node:assert/strict';
import { LineReader } from '../../lib/convert/runner/lines';

/** Feeds `bytes` to a reader in chunks of `size` bytes; returns what it reported, in order. */
function feed(bytes: Buffer, size: number, raws: (line: string) => number | void, maxLine?: number): string[] {
    const seen: string[] = [];
    const r = new LineReader(
        (line) => {
            seen.push(`line:${line}`);
            return raws(line);
        },
        maxLine,
        () => seen.push('overflow'),
        (raw) => seen.push(`raw:${raw.toString('utf8')}`),
    );
    for (let at = 0; at < bytes.length; at += size) r.push(bytes.subarray(at, at + size));
    return seen;
}

describe('convert runner pipe framing (LineReader, bytes)', function () {
    it('lines and announced raw blocks come out whole however the bytes are cut, multi-byte characters included', function () {
        const text = '{"a":"é€"}\n{"raw":9}\nxy\n😀zé\n\n{"b":2}\n';
        const bytes = Buffer.from(text);
        const rawLen = Buffer.byteLength('xy\n😀z'); // 9 bytes: newlines inside a raw block are data
        const expected = ['line:{"a":"é€"}', 'line:{"raw":9}', 'raw:xy\n😀z', 'line:é', 'line:', 'line:{"b":2}'];
        for (const size of [1, 2, 3, 5, 7, bytes.length]) {
            assert.deepEqual(feed(bytes, size, (l) => (l === '{"raw":9}' ? rawLen : undefined)), expected, `chunks of ${size}`);
        }
    });

    it('a raw block of 0 bytes is reported at once; a line longer than the limit is dropped up to its newline, once reported', function () {
        assert.deepEqual(feed(Buffer.from('z\nnext\n'), 2, (l) => (l === 'z' ? 0 : undefined)), ['line:z', 'raw:', 'line:next']);
        assert.deepEqual(feed(Buffer.from(`${'x'.repeat(40)}\nok\n`), 8, () => undefined, 16), ['overflow', 'line:ok']);
    });
});
