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
 * What a deploy does to tracked messages (a stopped node's copies, messages sent while it runs, a stopped node's
 * completions inside its close, kinesis-in's own drain on close) is judged by ./deploy-watch.ts; the hooks here
 * pay one boolean test per delivery and per completion for it. A message's copies: ./track.ts.
 */
import { DeployWatch, RuntimeView } from './deploy-watch';
import { HookEvent, Track, TrackOwner, addId, removeId } from './track';

export { Track, TrackOwner, RuntimeView };

export interface Hooks {
    add(name: string, fn: (ev: unknown) => unknown): void;
    remove(name: string): void;
}

const IDLE_REMOVE_MS = 1000;

/** The message hooks of one runtime, shared by its kinesis-in nodes. */
export class MessageTracker {
    private readonly tracks = new Map<string, Track<unknown>>();
    private registered = false;
    /** postReceive is registered (with the others) once a tracked message reached a node without `done`. */
    private postReceive = false;
    /** preRoute is registered (with the others) only while a deploy runs: see `watchRoutes`. */
    private preRoute = false;
    private idleTimer: NodeJS.Timeout | undefined;
    private readonly label = `kinesisIn${Math.random().toString(36).slice(2, 10)}`;
    /** What a deploy does to the tracked messages (./deploy-watch.ts); undefined without a runtime view. */
    private readonly deploy: DeployWatch | undefined;

    constructor(private readonly hooks: Hooks, runtime?: RuntimeView) {
        this.deploy = runtime
            ? new DeployWatch(runtime, { tracks: this.tracks, finish: (id, t) => this.finish(id, t), watchRoutes: (on) => this.watchRoutes(on) })
            : undefined;
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
        // while a deploy runs, Node-RED drops a message whose destination is being replaced (no delivery, no hook)
        if (this.deploy?.deploying) this.deploy.wentNowhere(msgid, t);
        else this.finish(msgid, t);
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
     * True when no message of `owner` still tracked can finish (./deploy-watch.ts `allStranded`: every copy held
     * only by nodes this deploy stopped that finished closing, or lost meanwhile). False outside a deploy.
     */
    allStranded(owner: TrackOwner<never>): boolean {
        return this.deploy?.allStranded(owner) ?? false;
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
        const deploy = this.deploy;
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
            if (deploy?.deploying && e.destination?.node) deploy.delivered(e.msg!._msgid as string, t, to, e.destination.node);
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
            if (deploy?.closeCallbacks && deploy.droppedAtClose(id, t, e)) return;
            if (e.error && t.error === undefined) t.error = e.error;
            const rest = removeId(t.active, e.node?.id);
            if (rest === false) return;
            t.active = rest;
            if (rest === undefined && t.transit === undefined) this.finish(id, t);
        });
        this.registered = true;
        if (deploy?.deploying) this.watchRoutes(true);
    }

    /**
     * While a deploy runs (and a message is tracked): preRoute, where a send by any node names its destination.
     * Node-RED drops a message whose destination the deploy has taken out of the runtime, with no further hook —
     * e.g. what a stopped kinesis-convert converts and sends on while it closes, to a next node stopped with it.
     * The send is followed by the sender's done(): without this the record would count as finished.
     */
    private watchRoutes(on: boolean): void {
        const deploy = this.deploy;
        if (on && this.registered && !this.preRoute && deploy) {
            const tracks = this.tracks;
            this.preRoute = true;
            this.hooks.add(`preRoute.${this.label}`, (ev: unknown) => {
                const e = ev as HookEvent;
                const id = e.msg?._msgid as string;
                const t = tracks.get(id);
                if (t === undefined) return;
                const to = e.destination?.id;
                if (to !== undefined) deploy.routed(id, t, to);
            });
        } else if (!on && this.preRoute) {
            this.preRoute = false;
            this.hooks.remove(`preRoute.${this.label}`);
        }
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
        this.watchRoutes(false);
    }

    /** Removes the hooks now (no node left). */
    dispose(): void {
        this.deploy?.dispose();
        if (this.idleTimer) clearTimeout(this.idleTimer);
        this.idleTimer = undefined;
        this.tracks.clear();
        this.unregister();
    }
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
