/**
 * What a deploy does to kinesis-in's tracked messages (./tracking.ts keeps the copies; this judges them while
 * Node-RED stops and starts flows). Only between 'flows:stopping' and 'flows:started', and on those two events;
 * outside a deploy the tracker's hooks pay one boolean test per delivery and per completion.
 *
 * - Messages lost by a partial deploy (Modified Nodes / Modified Flows) that stops some nodes while kinesis-in
 *   keeps running: what a stopped node held (a function node's timers, a delay node's queue) is dropped without
 *   `done`, so its records would never finish and the shard's checkpoint would stay behind them for good. At
 *   'flows:stopping' the watch notes, for every tracked copy, the node object that holds it (RED.nodes.getNode);
 *   at 'flows:started' a copy whose node is no longer that object (stopped, replaced or removed) is lost, and its
 *   record goes to its owner's `lost` (kinesis-in sends it again).
 * - kinesis-in goes on sending while the deploy runs: copies delivered meanwhile are noted with the node object
 *   preDeliver names, and a message that goes nowhere meanwhile (Node-RED drops it, with no hook, when its
 *   destination is being replaced) is lost, not finished.
 * - So is a copy that a stopped node completes inside its close callback (Node-RED calls them synchronously right
 *   after 'flows:stopping'): a delay node clearing its queue calls done() for every message it held without
 *   sending it on — dropped, not processed.
 * - A deploy that stops kinesis-in itself: its close waits for in-flight records only while one can still finish.
 *   `allStranded(owner)` says whether every message of the owner is held only by node objects this deploy stopped
 *   that have finished closing (Node-RED's Node.close removes the 'input' handlers once every close callback
 *   called done), or was lost meanwhile. A node still running, or one whose close still runs (kinesis-out
 *   flushing its queue completes its messages before its close ends), is waited for. Asked by the close path only.
 * A node that cannot be looked up by id (inside a subflow instance) is not judged.
 */
import { HookEvent, Ids, Track, TrackOwner, eachId, removeId } from './track';

/** What the watch needs of the runtime (RED.events, RED.nodes.getNode). */
export interface RuntimeView {
    events: { on(event: string, fn: (...args: unknown[]) => void): unknown; removeListener(event: string, fn: (...args: unknown[]) => void): unknown };
    getNode(id: string): unknown;
}

/** A tracked copy and the node object that held it, or that it was delivered to, during this deploy. */
interface Holder {
    msgid: string;
    t: Track<unknown>;
    id: string;
    /** undefined: the message went nowhere, or was dropped at close, during the deploy (lost, no copy left). */
    node: unknown;
}

/** The tracker's side the watch works on: its messages, how one is finished, its preRoute hook (on only during a deploy). */
export interface Tracked {
    readonly tracks: ReadonlyMap<string, Track<unknown>>;
    finish(msgid: string, t: Track<unknown>): void;
    /** Adds (true) / removes (false) the hook that calls `routed` for every send of a tracked message. */
    watchRoutes?(on: boolean): void;
}

export class DeployWatch {
    /**
     * Between 'flows:stopping' and 'flows:started': copies delivered meanwhile are noted too (kinesis-in goes on
     * sending while other nodes stop; a copy routed to a node being stopped is dropped with it).
     */
    deploying = false;
    /**
     * From 'flows:stopping' to the next microtask: Node-RED calls the close callbacks of the nodes it stops
     * synchronously right after that event, and a node that completes a message there (a delay node clearing its
     * queue calls done() for each message) dropped it — a completion that needs no I/O, not the message processed.
     */
    closeCallbacks = false;
    /** From the last 'flows:stopping' to 'flows:started': each tracked copy with the node object that held it. */
    private holders: Holder[] = [];
    private readonly onStopping = (): void => {
        this.noteHolders();
        this.deploying = true;
        this.tracked.watchRoutes?.(true);
        this.closeCallbacks = true;
        queueMicrotask(() => {
            this.closeCallbacks = false;
        });
    };
    private readonly onStarted = (): void => {
        this.deploying = false;
        this.tracked.watchRoutes?.(false);
        this.dropLost();
    };

    constructor(private readonly runtime: RuntimeView, private readonly tracked: Tracked) {
        runtime.events.on('flows:stopping', this.onStopping);
        runtime.events.on('flows:started', this.onStarted);
    }

    dispose(): void {
        this.runtime.events.removeListener('flows:stopping', this.onStopping);
        this.runtime.events.removeListener('flows:started', this.onStarted);
        this.holders = [];
    }

    /** During a deploy: a copy delivered to `node` (judged at 'flows:started'). */
    delivered(msgid: string, t: Track<unknown>, id: string, node: unknown): void {
        this.holders.push({ msgid, t, id, node });
    }

    /**
     * During a deploy: a message that went nowhere (Node-RED drops one whose destination is being replaced, with no
     * hook) — lost, not finished; sent again once the new flows have started.
     */
    wentNowhere(msgid: string, t: Track<unknown>): void {
        t.lost = true;
        this.holders.push({ msgid, t, id: '', node: undefined });
    }

    /**
     * During a deploy: a node (any node: kinesis-in, or one a stopped node's close still lets send, as kinesis-convert
     * sends what it converts while closing) sends a tracked message to `to`. When `to` is not the runtime's node now
     * (stopped by the deploy, not started again yet), Node-RED drops that copy with no further hook: the message went
     * nowhere, and the sender's done() that follows must not finish the record.
     */
    routed(msgid: string, t: Track<unknown>, to: string): void {
        if (!this.deploying) return;
        const node = this.runtime.getNode(to);
        if (node === undefined || node === null) this.wentNowhere(msgid, t);
    }

    /**
     * A completion inside the close callbacks of a deploy (see closeCallbacks) by a node the deploy stopped: the
     * copy was dropped, not finished — the record is lost (sent again after the deploy, or read again after the
     * restart), as if it had gone nowhere. False (an ordinary completion) for a node that is still the runtime's.
     */
    droppedAtClose(msgid: string, t: Track<unknown>, e: HookEvent): boolean {
        const at = e.node?.id;
        const node = e.node?.node;
        if (at === undefined || node === undefined || this.runtime.getNode(at) === node) return false;
        const rest = removeId(t.active, at);
        if (rest === false) return false;
        t.active = rest;
        this.wentNowhere(msgid, t);
        return true;
    }

    /**
     * True when no message of `owner` still tracked can finish: every copy is held by a node object noted in
     * this deploy that was stopped (no longer the runtime's node of its id) and has finished closing, or the
     * message went nowhere / was dropped at close during the deploy (`lost`, no copy left). False outside a
     * deploy, and for a copy at a node that runs on, whose close still runs, or that was never found by id
     * (inside a subflow instance: not judged).
     */
    allStranded(owner: TrackOwner<never>): boolean {
        if (!this.deploying) return false;
        const runtime = this.runtime;
        // the node objects noted for each of the owner's messages, by node id
        const noted = new Map<Track<unknown>, Map<string, unknown>>();
        for (const h of this.holders) {
            if (h.node === undefined || h.t.owner !== (owner as unknown)) continue;
            let at = noted.get(h.t);
            if (at === undefined) noted.set(h.t, (at = new Map()));
            at.set(h.id, h.node);
        }
        const gone = (t: Track<unknown>, ids: Ids): boolean => {
            if (ids === undefined) return true;
            const at = noted.get(t);
            if (at === undefined) return false;
            for (const id of eachId(ids)) {
                const node = at.get(id);
                if (node === undefined || runtime.getNode(id) === node || !closed(node)) return false;
            }
            return true;
        };
        for (const t of this.tracked.tracks.values()) {
            if (t.owner !== (owner as unknown)) continue;
            // no copy anywhere: finished at once, unless it went nowhere or was dropped at close (lost)
            if (t.transit === undefined && t.active === undefined && !t.lost) return false;
            if (!gone(t, t.transit) || !gone(t, t.active)) return false;
        }
        return true;
    }

    /** 'flows:stopping': which node object holds each tracked copy (nodes not found by id are left out). */
    private noteHolders(): void {
        const runtime = this.runtime;
        const holders: Holder[] = [];
        const note = (msgid: string, t: Track<unknown>, ids: Ids): void => {
            for (const id of eachId(ids)) {
                const node = runtime.getNode(id);
                if (node !== undefined && node !== null) holders.push({ msgid, t, id, node });
            }
        };
        for (const [msgid, t] of this.tracked.tracks) {
            note(msgid, t, t.transit);
            note(msgid, t, t.active);
        }
        this.holders = holders;
    }

    /** 'flows:started': copies whose node was stopped by the deploy are gone; their records are lost. */
    private dropLost(): void {
        const runtime = this.runtime;
        const tracks = this.tracked.tracks;
        const holders = this.holders;
        this.holders = [];
        if (holders.length === 0) return;
        const touched = new Map<string, Track<unknown>>();
        for (const h of holders) {
            const t = h.t;
            if (tracks.get(h.msgid) !== t) continue;
            if (h.node === undefined) {
                touched.set(h.msgid, t); // went nowhere, or dropped at close, during the deploy
                continue;
            }
            if (runtime.getNode(h.id) === h.node) continue;
            // the copy at h.id: on its way there (never delivered) or inside it (never completed)
            const inTransit = removeId(t.transit, h.id);
            if (inTransit !== false) t.transit = inTransit;
            else {
                const inNode = removeId(t.active, h.id);
                if (inNode === false) continue; // it moved on meanwhile
                t.active = inNode;
            }
            t.lost = true;
            touched.set(h.msgid, t);
        }
        for (const [msgid, t] of touched) if (t.transit === undefined && t.active === undefined && tracks.get(msgid) === t) this.tracked.finish(msgid, t);
    }
}

/**
 * A node object that finished closing: Node-RED's Node.close removes its 'input' handlers (`_inputCallback`,
 * `_inputCallbacks` null) once every close callback called done. A runtime without these fields: never closed
 * (waited for, as before).
 */
function closed(node: unknown): boolean {
    if (typeof node !== 'object' || node === null || !('_inputCallback' in node)) return false;
    const n = node as { _inputCallback?: unknown; _inputCallbacks?: unknown };
    return (n._inputCallback === null || n._inputCallback === undefined) && (n._inputCallbacks === null || n._inputCallbacks === undefined);
}
