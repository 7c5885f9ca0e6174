/**
 * Newline-delimited JSON frames over a pipe (runner ⇄ Node-RED). Every frame is one `JSON.stringify`
 * line, so a frame never contains a raw newline. Splitting is linear: each chunk is scanned once.
 */
export class LineReader {
    private buf = '';
    /** Longest line accepted; a longer one calls `onOverflow` and the reader drops input until the next newline. */
    constructor(private readonly onLine: (line: string) => void, private readonly maxLine = 512 * 1024 * 1024, private readonly onOverflow?: () => void) {}

    push(chunk: string): void {
        let start = 0;
        let nl = chunk.indexOf('\n');
        while (nl >= 0) {
            const line = this.buf ? this.buf + chunk.slice(start, nl) : chunk.slice(start, nl);
            this.buf = '';
            this.onLine(line);
            start = nl + 1;
            nl = chunk.indexOf('\n', start);
        }
        if (start < chunk.length) {
            this.buf += chunk.slice(start);
            if (this.buf.length > this.maxLine) {
                this.buf = '';
                this.onOverflow?.();
            }
        }
    }
}
