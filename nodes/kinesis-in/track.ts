/**
 * One kinesis-in message as the completion tracking sees it (./tracking.ts): where its copies are (node ids a
 * copy is on its way to, node ids holding one), and whom to tell when none is left. Shared by the tracker's
 * hooks and by what a deploy does to the copies (./deploy-watch.ts).
 */
import type { DoneCallback } from '../../lib/consumer/consumer';

/** What the message hooks hand the tracker (the fields it reads). */
export interface HookEvent {
    msg?: { _msgid?: string; error?: unknown };
    error?: unknown;
    node?: { id?: string; node?: unknown };
    destination?: { id?: string; node?: { _expectedDoneCount?: number; type?: string } };
}

/**
 * Node ids of one message's copies: none (undefined), one (a string: the usual case of a linear flow,
 * no array per message), or several.
 */
export type Ids = string | string[] | undefined;

export function addId(ids: Ids, id: string): Ids {
    if (ids === undefined) return id;
    if (typeof ids === 'string') return [ids, id];
    ids.push(id);
    return ids;
}

/** Removes one `id`; returns the new value, or `false` when it was not there. */
export function removeId(ids: Ids, id: string | undefined): Ids | false {
    if (ids === undefined || id === undefined) return false;
    if (typeof ids === 'string') return ids === id ? undefined : false;
    const n = ids.length;
    const i = ids[n - 1] === id ? n - 1 : ids.indexOf(id);
    if (i < 0) return false;
    ids.splice(i, 1);
    return ids.length === 0 ? undefined : ids.length === 1 ? ids[0] : ids;
}

/** The node ids of `ids`, one by one. */
export function eachId(ids: Ids): readonly string[] {
    return ids === undefined ? [] : typeof ids === 'string' ? [ids] : ids;
}

/** Where the copies of one message are, and what to call when none is left. */
export class Track<T = unknown> {
    /** Sent to these node ids, not yet received. */
    transit: Ids = undefined;
    /** Received by these node ids, not yet completed. */
    active: Ids = undefined;
    error: unknown = undefined;
    /** A copy was dropped by a deploy that stopped the node holding it. */
    lost = false;
    constructor(
        readonly owner: TrackOwner<T>,
        readonly item: T,
        readonly shardId: string,
        readonly attempt: number,
        readonly done: DoneCallback,
    ) {}
}

export interface TrackOwner<T> {
    readonly failOnCatch: boolean;
    /** Called once when no copy of the message is left (t.error set when it failed). */
    finished(t: Track<T>): void;
    /** Called instead of `finished` when a copy was dropped by a deploy (t.lost): the record did not finish. */
    lost(t: Track<T>): void;
}
