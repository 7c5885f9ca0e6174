/**
 * Newline-delimited JSON frames over a pipe (runner ⇄ Node-RED). Every frame is one `JSON.stringify`
 * line, so a frame never contains a raw newline. Splitting is linear: each chunk is scanned once.
 *
 * A frame may announce a raw block that follows its line (Node-RED → runner only: the batch text, sent
 * without a second round of JSON escaping): `onLine` returns its length in UTF-16 code units and the
 * next that many code units go to `onRaw` as one string, newlines and all. The stream must be decoded
 * with `setEncoding('utf8')` (whole characters per chunk), so lengths counted on both sides agree.
 */
export class LineReader {
    private buf = '';
    private rawLeft = 0;
    private rawParts: string[] = [];
    /** Longest line accepted; a longer one calls `onOverflow` and the reader drops input until the next newline. */
    constructor(
        private readonly onLine: (line: string) => number | void,
        private readonly maxLine = 512 * 1024 * 1024,
        private readonly onOverflow?: () => void,
        private readonly onRaw?: (text: string) => void,
    ) {}

    push(chunk: string): void {
        let start = 0;
        const len = chunk.length;
        while (start < len) {
            if (this.rawLeft > 0) {
                const take = Math.min(this.rawLeft, len - start);
                this.rawParts.push(start === 0 && take === len ? chunk : chunk.slice(start, start + take));
                start += take;
                this.rawLeft -= take;
                if (this.rawLeft === 0) this.flushRaw();
                continue;
            }
            const nl = chunk.indexOf('\n', start);
            if (nl < 0) {
                this.buf += start === 0 ? chunk : chunk.slice(start);
                if (this.buf.length > this.maxLine) {
                    this.buf = '';
                    this.onOverflow?.();
                }
                return;
            }
            const line = this.buf ? this.buf + chunk.slice(start, nl) : chunk.slice(start, nl);
            this.buf = '';
            start = nl + 1;
            const raw = this.onLine(line);
            if (typeof raw === 'number' && raw >= 0 && this.onRaw) {
                this.rawLeft = raw;
                if (raw === 0) this.flushRaw();
            }
        }
    }

    private flushRaw(): void {
        const parts = this.rawParts;
        this.rawParts = [];
        this.onRaw?.(parts.length === 1 ? parts[0] : parts.join(''));
    }
}
