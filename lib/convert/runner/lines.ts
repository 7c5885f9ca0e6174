/**
 * Newline-delimited JSON frames over a pipe (runner ⇄ Node-RED), read as bytes. Every frame is one
 * `JSON.stringify` line, so a frame never contains a raw newline; a line is split at the byte 0x0A
 * (never inside a UTF-8 sequence: their bytes are ≥ 0x80) and decoded once, as a whole. Splitting is
 * linear: each chunk is scanned once.
 *
 * A frame may announce a raw block that follows its line (Node-RED → runner only: the batch, its header
 * and its text, sent without a second round of JSON escaping): `onLine` returns its length in BYTES and
 * the next that many bytes go to `onRaw` as one Buffer (a view of the chunk when it lies in one).
 */
export class LineReader {
    /** Bytes of the current line that came in earlier chunks. */
    private parts: Buffer[] = [];
    private partBytes = 0;
    private rawLeft = 0;
    private rawParts: Buffer[] = [];
    private dropping = false;
    /** Longest line accepted (bytes); a longer one calls `onOverflow` and the reader drops input until the next newline. */
    constructor(
        private readonly onLine: (line: string) => number | void,
        private readonly maxLine = 512 * 1024 * 1024,
        private readonly onOverflow?: () => void,
        private readonly onRaw?: (raw: Buffer) => void,
    ) {}

    push(chunk: Buffer): void {
        let start = 0;
        const len = chunk.length;
        while (start < len) {
            if (this.rawLeft > 0) {
                const take = Math.min(this.rawLeft, len - start);
                this.rawParts.push(start === 0 && take === len ? chunk : chunk.subarray(start, start + take));
                start += take;
                this.rawLeft -= take;
                if (this.rawLeft === 0) this.flushRaw();
                continue;
            }
            const nl = chunk.indexOf(0x0a, start);
            if (nl < 0) {
                if (!this.dropping) {
                    this.parts.push(start === 0 ? chunk : chunk.subarray(start));
                    this.partBytes += len - start;
                    if (this.partBytes > this.maxLine) {
                        this.parts = [];
                        this.partBytes = 0;
                        this.dropping = true;
                        this.onOverflow?.();
                    }
                }
                return;
            }
            let line: string;
            if (this.dropping) {
                this.dropping = false;
                start = nl + 1;
                continue;
            }
            if (this.partBytes) {
                this.parts.push(chunk.subarray(start, nl));
                line = Buffer.concat(this.parts, this.partBytes + nl - start).toString('utf8');
                this.parts = [];
                this.partBytes = 0;
            } else {
                line = chunk.toString('utf8', start, nl);
            }
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
        this.onRaw?.(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    }
}
