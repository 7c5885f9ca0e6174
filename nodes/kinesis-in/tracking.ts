/**
 * Completion tracking of kinesis-in messages through Node-RED's message hooks (checkpointMode
 * 'complete'): a record is finished when no copy of its message is on its way or inside a node.
 * preDeliver (on its way to a node), onReceive (received, also the receives that are not sends: link
 * in, catch, complete nodes), onComplete (`done()`), postReceive for nodes without `done` (pre-1.0
 * style: completed when their handler returns). A node that sends a new message object with a new
 * _msgid ends the tracking there. `done(err)` anywhere marks the record failed; with `failOnCatch`,
 * so does its message reaching a Catch node (an error reported with the message, e.g. the http
 * request node's connection errors).
 *
 * Cost for other flows: the hooks are global to the runtime, so ONE set is shared by every kinesis-in
 * node of the runtime and it is registered only while a message is tracked (removed after 1 s with
 * nothing tracked). Each hook call starts with one Map lookup of the message id. postReceive is
 * added only once a tracked message reached a node without `done` (rare: most flows never pay it).
 *
 * Messages lost by a deploy: a partial deploy (Modified Nodes / Modified Flows) stops and replaces some
 * nodes while kinesis-in keeps running; what a stopped node held (a function node's timers, a delay
 * node's queue) is dropped without `done`, so its records would never finish and the shard's checkpoint
 * would stay behind them for good. At 'flows:stopping' the tracker notes, for every tracked copy, the node
 * object that holds it (RED.nodes.getNode); at 'flows:started' a copy whose node is no longer that object
 * (stopped, replaced or removed) is lost, and its record goes to its owner's `lost` (kinesis-in sends it
 * again). kinesis-in goes on sending while the deploy runs: copies delivered meanwhile are noted with the
 * node object preDeliver names, and a message that goes nowhere meanwhile (Node-RED drops it, with no hook,
 * when its destination is being replaced) is lost, not finished. So is a copy that a stopped node completes
 * inside its close callback (Node-RED calls them synchronously right after 'flows:stopping'): a delay node
 * clearing its queue calls done() for every message it held without sending it on — dropped, not processed
 * (before, its record was checkpointed: lost). Outside a deploy this costs one boolean test per delivery and
 * per completion. A node that cannot be looked up by id (inside a subflow instance) is not judged.
 *
 * A deploy that stops kinesis-in itself: its close waits for in-flight records only while one can still finish.
 * `allStranded(owner)` (between 'flows:stopping' and 'flows:started') says whether every message of the owner
 * is held only by node objects this deploy stopped that have finished closing (Node-RED's Node.close removes
 * the 'input' handlers once every close callback called done), or was lost meanwhile. A node still running,
 * or one whose close still runs (kinesis-out flushing its queue completes its messages before its close ends),
 * is waited for. Asked by the close path only (a scan of the tracked messages), never per message.
 */
import type { DoneCallback } from '../../lib/consumer/consumer';

export interface Hooks {
    add(name: string, fn: (ev: unknown) => unknown): void;
    remove(name: string): void;
}

/** What the tracker needs of the runtime to find messages lost by a deploy (RED.events, RED.nodes.getNode). */
export interface RuntimeView {
    events: { on(event: string, fn: (...args: unknown[]) => void): unknown; removeListener(event: string, fn: (...args: unknown[]) => void): unknown };
    getNode(id: string): unknown;
}

interface HookEvent {
    msg?: { _msgid?: string; error?: unknown };
    error?: unknown;
    node?: { id?: string; node?: unknown };
    destination?: { id?: string; node?: { _expectedDoneCount?: number; type?: string } };
}

/**
 * Node ids of one message's copies: none (undefined), one (a string: the usual case of a linear flow,
 * no array per message), or several.
 */
type Ids = string | string[] | undefined;

function addId(ids: Ids, id: string): Ids {
    if (ids === undefined) return id;
    if (typeof ids === 'string') return [ids, id];
    ids.push(id);
    return ids;
}

/** Removes one `id`; returns the new value, or `false` when it was not there. */
function removeId(ids: Ids, id: string | undefined): Ids | false {
    if (ids === undefined || id === undefined) return false;
    if (typeof ids === 'string') return ids === id ? undefined : false;
    const n = ids.length;
    const i = ids[n - 1] === id ? n - 1 : ids.indexOf(id);
    if (i < 0) return false;
    ids.splice(i, 1);
    return ids.length === 0 ? undefined : ids.length === 1 ? ids[0] : ids;
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

const IDLE_REMOVE_MS = 1000;

/** The message hooks of one runtime, shared by its kinesis-in nodes. */
export class MessageTracker {
    private readonly tracks = new Map<string, Track<unknown>>();
    private registered = false;
    /** postReceive is registered (with the others) once a tracked message reached a node without `done`. */
    private postReceive = false;
    private idleTimer: NodeJS.Timeout | undefined;
    private readonly label = `kinesisIn${Math.random().toString(36).slice(2, 10)}`;
    /**
     * From the last 'flows:stopping' to 'flows:started': each tracked copy with the node object that held it
     * or that it was delivered to meanwhile; `node` undefined: a message that went nowhere meanwhile.
     */
    private holders: Array<{ msgid: string; t: Track<unknown>; id: string; node: unknown }> = [];
    /**
     * Between 'flows:stopping' and 'flows:started': copies delivered meanwhile are noted too (kinesis-in goes on
     * sending while other nodes stop; a copy routed to a node being stopped is dropped with it).
     */
    private deploying = false;
    /**
     * From 'flows:stopping' to the next microtask: Node-RED calls the close callbacks of the nodes it stops
     * synchronously right after that event, and a node that completes a message there (a delay node clearing its
     * queue calls done() for each message) dropped it — a completion that needs no I/O, not the message processed.
     */
    private closeCallbacks = false;
    private readonly onStopping = (): void => {
        this.noteHolders();
        this.deploying = true;
        this.closeCallbacks = true;
        queueMicrotask(() => {
            this.closeCallbacks = false;
        });
    };
    private readonly onStarted = (): void => {
        this.deploying = false;
        this.dropLost();
    };

    constructor(private readonly hooks: Hooks, private readonly runtime?: RuntimeView) {
        runtime?.events.on('flows:stopping', this.onStopping);
        runtime?.events.on('flows:started', this.onStarted);
    }

    /** Messages tracked now (all nodes). */
    get size(): number {
        return this.tracks.size;
    }

    /** True while the hooks are registered (tests: the cost for other flows). */
    get hooksRegistered(): boolean {
        return this.registered;
    }

    /** Tracks a message about to be sent (call before node.send). */
    track<T>(msgid: string, t: Track<T>): void {
        this.tracks.set(msgid, t as Track<unknown>);
        if (!this.registered) this.register();
    }

    /** After node.send: a message that went nowhere is finished at once. */
    sent(msgid: string, t: Track<unknown>): void {
        if (t.transit !== undefined || t.active !== undefined || this.tracks.get(msgid) !== t) return;
        if (this.deploying) {
            // while a deploy runs, Node-RED drops a message whose destination is being replaced (no delivery,
            // no hook): not finished — lost, sent again once the new flows have started
            t.lost = true;
            this.holders.push({ msgid, t, id: '', node: undefined });
            return;
        }
        this.finish(msgid, t);
    }

    /** Forgets the messages of one owner (its node closed); nothing is called for them. */
    forget(owner: TrackOwner<never>): void {
        for (const [id, t] of this.tracks) if (t.owner === (owner as unknown)) this.tracks.delete(id);
        if (this.tracks.size === 0) this.scheduleIdle();
    }

    private finish(id: string, t: Track<unknown>): void {
        this.tracks.delete(id);
        if (this.tracks.size === 0) this.scheduleIdle();
        if (t.lost) t.owner.lost(t);
        else t.owner.finished(t);
    }

    /**
     * True when no message of `owner` still tracked can finish: every copy is held by a node object noted in
     * this deploy that was stopped (no longer the runtime's node of its id) and has finished closing, or the
     * message went nowhere / was dropped at close during the deploy (`lost`, no copy left). False outside a deploy, and for a copy at a node that runs on,
     * whose close still runs, or that was never found by id (inside a subflow instance: not judged).
     */
    allStranded(owner: TrackOwner<never>): boolean {
        const runtime = this.runtime;
        if (!runtime || !this.deploying) return false;
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
            for (const id of typeof ids === 'string' ? [ids] : ids) {
                const node = at.get(id);
                if (node === undefined || runtime.getNode(id) === node || !closed(node)) return false;
            }
            return true;
        };
        for (const t of this.tracks.values()) {
            if (t.owner !== (owner as unknown)) continue;
            // no copy anywhere: finished at once, unless it went nowhere or was dropped at close (lost: sent, droppedAtClose)
            if (t.transit === undefined && t.active === undefined && !t.lost) return false;
            if (!gone(t, t.transit) || !gone(t, t.active)) return false;
        }
        return true;
    }

    /**
     * A completion inside the close callbacks of a deploy (see closeCallbacks) by a node the deploy stopped: the
     * copy was dropped, not finished — the record is lost (sent again after the deploy, or read again after the
     * restart), as if it had gone nowhere. False (an ordinary completion) for a node that is still the runtime's.
     */
    private droppedAtClose(msgid: string, t: Track<unknown>, e: HookEvent): boolean {
        const at = e.node?.id;
        const node = e.node?.node;
        if (at === undefined || node === undefined || !this.runtime || this.runtime.getNode(at) === node) return false;
        const rest = removeId(t.active, at);
        if (rest === false) return false;
        t.active = rest;
        t.lost = true;
        this.holders.push({ msgid, t, id: '', node: undefined });
        return true;
    }

    /** 'flows:stopping': which node object holds each tracked copy (nodes not found by id are left out). */
    private noteHolders(): void {
        const runtime = this.runtime;
        if (!runtime) return;
        const holders: MessageTracker['holders'] = [];
        const note = (msgid: string, t: Track<unknown>, ids: Ids): void => {
            if (ids === undefined) return;
            for (const id of typeof ids === 'string' ? [ids] : ids) {
                const node = runtime.getNode(id);
                if (node !== undefined && node !== null) holders.push({ msgid, t, id, node });
            }
        };
        for (const [msgid, t] of this.tracks) {
            note(msgid, t, t.transit);
            note(msgid, t, t.active);
        }
        this.holders = holders;
    }

    /** 'flows:started': copies whose node was stopped by the deploy are gone; their records are lost. */
    private dropLost(): void {
        const runtime = this.runtime;
        const holders = this.holders;
        this.holders = [];
        if (!runtime || holders.length === 0) return;
        const touched = new Map<string, Track<unknown>>();
        for (const h of holders) {
            const t = h.t;
            if (this.tracks.get(h.msgid) !== t) continue;
            if (h.node === undefined) {
                touched.set(h.msgid, t); // went nowhere during the deploy (see sent)
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
        for (const [msgid, t] of touched) if (t.transit === undefined && t.active === undefined && this.tracks.get(msgid) === t) this.finish(msgid, t);
    }

    private scheduleIdle(): void {
        if (!this.registered || this.idleTimer) return;
        this.idleTimer = setTimeout(() => {
            this.idleTimer = undefined;
            if (this.tracks.size === 0) this.unregister();
        }, IDLE_REMOVE_MS);
        this.idleTimer.unref?.();
    }

    private register(): void {
        const tracks = this.tracks;
        const l = this.label;
        // preDeliver, not onSend: only deliveries to nodes that exist (a wire to a disabled node is not one)
        this.hooks.add(`preDeliver.${l}`, (ev: unknown) => {
            const e = ev as HookEvent;
            const t = tracks.get(e.msg?._msgid as string);
            if (t === undefined) return;
            const to = e.destination?.id;
            if (to === undefined) return;
            t.transit = addId(t.transit, to);
            // during a deploy: the node object it goes to (judged at 'flows:started')
            if (this.deploying && e.destination?.node) this.holders.push({ msgid: e.msg!._msgid as string, t, id: to, node: e.destination.node });
        });
        // every receive counts, also those not made by a send (link in, catch, complete nodes)
        this.hooks.add(`onReceive.${l}`, (ev: unknown) => {
            const e = ev as HookEvent;
            const t = tracks.get(e.msg?._msgid as string);
            if (t === undefined) return;
            const d = e.destination;
            const at = d?.id;
            if (at === undefined) return;
            const rest = removeId(t.transit, at);
            if (rest !== false) t.transit = rest;
            t.active = addId(t.active, at);
            // a node without `done` (pre-1.0 style): completed when its handler returned (postReceive,
            // added now: this runs before the handler, and postReceive is looked up after it)
            if (d?.node?._expectedDoneCount === 0 && !this.postReceive) this.addPostReceive();
            if (t.error === undefined && t.owner.failOnCatch && d?.node?.type === 'catch') {
                t.error = e.msg?.error ?? new Error('reached a Catch node');
            }
        });
        this.hooks.add(`onComplete.${l}`, (ev: unknown) => {
            const e = ev as HookEvent;
            const id = e.msg?._msgid as string;
            const t = tracks.get(id);
            if (t === undefined) return;
            if (this.closeCallbacks && this.droppedAtClose(id, t, e)) return;
            if (e.error && t.error === undefined) t.error = e.error;
            const rest = removeId(t.active, e.node?.id);
            if (rest === false) return;
            t.active = rest;
            if (rest === undefined && t.transit === undefined) this.finish(id, t);
        });
        this.registered = true;
    }

    private addPostReceive(): void {
        const tracks = this.tracks;
        this.postReceive = true;
        this.hooks.add(`postReceive.${this.label}`, (ev: unknown) => {
            const e = ev as HookEvent;
            if (e.destination?.node?._expectedDoneCount !== 0) return;
            const id = e.msg?._msgid as string;
            const t = tracks.get(id);
            if (t === undefined) return;
            const rest = removeId(t.active, e.destination.id);
            if (rest === false) return;
            t.active = rest;
            if (rest === undefined && t.transit === undefined) this.finish(id, t);
        });
    }

    private unregister(): void {
        if (!this.registered) return;
        this.registered = false;
        for (const h of ['preDeliver', 'onReceive', 'onComplete']) this.hooks.remove(`${h}.${this.label}`);
        if (this.postReceive) this.hooks.remove(`postReceive.${this.label}`);
        this.postReceive = false;
    }

    /** Removes the hooks now (no node left). */
    dispose(): void {
        this.runtime?.events.removeListener('flows:stopping', this.onStopping);
        this.runtime?.events.removeListener('flows:started', this.onStarted);
        this.holders = [];
        if (this.idleTimer) clearTimeout(this.idleTimer);
        this.idleTimer = undefined;
        this.tracks.clear();
        this.unregister();
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

const trackers = new WeakMap<Hooks, { tracker: MessageTracker; users: number }>();

/**
 * The shared tracker of a runtime's hooks; `release()` when the node closes. `runtime` (RED.events and
 * RED.nodes.getNode, when the runtime has them) lets it find messages lost by a deploy.
 */
export function acquireTracker(hooks: Hooks, runtime?: RuntimeView): { tracker: MessageTracker; release(): void } {
    let e = trackers.get(hooks);
    if (!e) {
        e = { tracker: new MessageTracker(hooks, runtime), users: 0 };
        trackers.set(hooks, e);
    }
    e.users++;
    const entry = e;
    let released = false;
    return {
        tracker: entry.tracker,
        release() {
            if (released) return;
            released = true;
            if (--entry.users === 0) {
                entry.tracker.dispose();
                trackers.delete(hooks);
            }
        },
    };
}

/**
 * Node-RED's message hooks: RED.hooks (Node-RED ≥ 2); where an embedding runtime leaves it out (the
 * test helper's mock runtime), the hooks module the running runtime has loaded.
 */
export function findHooks(RED: unknown): Hooks | undefined {
    const h = (RED as { hooks?: Hooks }).hooks;
    if (h && typeof h.add === 'function') return h;
    // the @node-red/util whose `util` is this runtime's RED.util (there may be several Node-REDs loaded)
    const util = (RED as { util?: unknown }).util;
    for (const key of Object.keys(require.cache)) {
        if (!/[\\/]@node-red[\\/]util[\\/]index\.js$/.test(key)) continue;
        const m = require.cache[key]?.exports as { util?: unknown; hooks?: Hooks } | undefined;
        if (m && m.util === util && m.hooks && typeof m.hooks.add === 'function') return m.hooks;
    }
    return undefined;
}

/** RED.events and RED.nodes.getNode, when the runtime has them (the test helper's mock runtime may not). */
export function findRuntimeView(RED: unknown): RuntimeView | undefined {
    const r = RED as { events?: Partial<RuntimeView['events']>; nodes?: { getNode?: (id: string) => unknown } };
    const events = r.events;
    const getNode = r.nodes?.getNode;
    if (!events || typeof events.on !== 'function' || typeof events.removeListener !== 'function' || typeof getNode !== 'function') return undefined;
    return { events: events as RuntimeView['events'], getNode: (id) => getNode.call(r.nodes, id) };
}
