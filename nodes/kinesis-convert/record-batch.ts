/**
 * Record batches (uplink): a message shaped as kinesis-in's batch output — `msg.payload` an array and
 * `msg.kinesis.records` (one metadata object per record) an array of the same length — is converted
 * record by record and answered with one message (DESIGN.md "kinesis-convert", record batches).
 * No Node-RED import: the node hands in how to emit.
 */
import { ConvertError } from '../../lib/convert';
import type { UplinkEntity } from '../../lib/convert';

export interface RecordBatchShape {
    payloads: unknown[];
    records: unknown[];
}

/**
 * The batch in `msg` when it is one; undefined when `msg` is a single record; a ConvertError (kind
 * `input`) when `msg.kinesis.records` is there but does not match `msg.payload`.
 */
export function recordBatchOf(msg: { payload?: unknown; kinesis?: unknown }): RecordBatchShape | ConvertError | undefined {
    const k = msg.kinesis as { records?: unknown } | undefined;
    if (!k || typeof k !== 'object' || k.records === undefined) return undefined;
    const records = k.records;
    const payloads = msg.payload;
    if (!Array.isArray(records)) return new ConvertError('input', 'msg.kinesis.records is not an array (a record batch has one metadata object per entry of msg.payload)');
    if (!Array.isArray(payloads) || payloads.length !== records.length) {
        const n = Array.isArray(payloads) ? `an array of ${payloads.length}` : typeof payloads;
        return new ConvertError('input', `msg.kinesis.records has ${records.length} entries but msg.payload is ${n}: a record batch needs one payload per record`);
    }
    return { payloads, records };
}

/** What a finished record batch sends: the converted results, and the failed records with the summary error. */
export interface BatchResult {
    /** Every result of the converted records in record order (empty: nothing to send). */
    entities: UplinkEntity[];
    /** The failed records, if any: their indexes, errors and a summary error for the message. */
    failed?: { index: number[]; errors: ConvertError[]; summary: ConvertError };
}

/**
 * Collects the outcome of each record of one batch message; calls `finish` once every record has one
 * (results in record order whatever order the outcomes arrive in).
 */
export class RecordBatchJoin<P> {
    private readonly entities: Array<UplinkEntity[] | undefined>;
    private readonly errors: Array<ConvertError | undefined>;
    private left: number;
    private failures = 0;

    constructor(
        readonly parent: P,
        readonly size: number,
        private readonly finish: (join: RecordBatchJoin<P>, result: BatchResult) => void,
    ) {
        this.entities = new Array(size);
        this.errors = new Array(size);
        this.left = size;
    }

    ok(index: number, entities: UplinkEntity[]): void {
        if (this.entities[index] !== undefined || this.errors[index] !== undefined) return;
        this.entities[index] = entities;
        this.settle();
    }

    failed(index: number, err: ConvertError): void {
        if (this.entities[index] !== undefined || this.errors[index] !== undefined) return;
        this.errors[index] = err;
        this.failures++;
        this.settle();
    }

    private settle(): void {
        if (--this.left > 0) return;
        const entities: UplinkEntity[] = [];
        for (const e of this.entities) if (e) for (let k = 0; k < e.length; k++) entities.push(e[k]);
        if (!this.failures) return this.finish(this, { entities });
        const index: number[] = [];
        const errors: ConvertError[] = [];
        for (let i = 0; i < this.size; i++) {
            const err = this.errors[i];
            if (err) {
                index.push(i);
                errors.push(err);
            }
        }
        const first = errors[0];
        const summary = new ConvertError(first.kind, `${errors.length} of ${this.size} records failed; record ${index[0]}: ${first.message}`, { line: first.line, column: first.column });
        this.finish(this, { entities, failed: { index, errors, summary } });
    }
}
