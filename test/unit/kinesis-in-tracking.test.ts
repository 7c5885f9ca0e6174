/**
 * kinesis-in's message tracker (nodes/kinesis-in/tracking.ts, with deploy-watch.ts and track.ts) against fake hooks and a fake runtime view: hooks
 * only while tracking, completion, messages lost by a deploy, and the close path's judgement that every message
 * left is held only by nodes the deploy stopped that have finished closing (allStranded), and copies a stopped
 * node completes inside its close callback (dropped, not finished).
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { MessageTracker, Track, Hooks } from '../../nodes/kinesis-in/tracking';
import { waitFor } from '../helpers/stack';

describe('kinesis-in: message tracker (hooks only while tracking)', () => {
    function fakeHooks() {
        const fns = new Map<string, (ev: unknown) => unknown>();
        const hooks: Hooks = { add: (n, f) => { if (fns.has(n)) throw new Error('twice'); fns.set(n, f); }, remove: (n) => { fns.delete(n); } };
        const fire = (kind: string, ev: unknown) => { for (const [n, f] of fns) if (n.startsWith(`${kind}.`)) f(ev); };
        return { hooks, fns, fire };
    }

    it('registers the hooks with the first tracked message, finishes on the last completion, removes the hooks when idle', async () => {
        const { hooks, fns, fire } = fakeHooks();
        const tracker = new MessageTracker(hooks);
        assert.equal(fns.size, 0);
        const finished: Array<Track<string>> = [];
        const owner = { failOnCatch: true, finished: (t: Track<string>) => finished.push(t), lost: () => assert.fail('nothing lost') };
        const t = new Track<string>(owner, 'item', 'sh', 1, () => undefined);
        tracker.track('m1', t);
        assert.deepEqual([...fns.keys()].map((k) => k.split('.')[0]).sort(), ['onComplete', 'onReceive', 'preDeliver'], 'postReceive only when needed');
        fire('preDeliver', { msg: { _msgid: 'm1' }, destination: { id: 'a' } });
        fire('preDeliver', { msg: { _msgid: 'other' }, destination: { id: 'a' } });
        fire('onReceive', { msg: { _msgid: 'm1' }, destination: { id: 'a', node: { type: 'function' } } });
        fire('preDeliver', { msg: { _msgid: 'm1' }, destination: { id: 'c' } });
        fire('onReceive', { msg: { _msgid: 'm1', error: { message: 'caught it' } }, destination: { id: 'c', node: { type: 'catch' } } });
        fire('onComplete', { msg: { _msgid: 'm1' }, node: { id: 'a' } });
        assert.equal(finished.length, 0, 'the catch node still holds it');
        fire('onComplete', { msg: { _msgid: 'm1' }, node: { id: 'c' } });
        assert.equal(finished.length, 1);
        assert.deepEqual(finished[0].error, { message: 'caught it' }, 'failOnCatch: reaching Catch fails the record');
        await waitFor('hooks removed', () => fns.size === 0, 5000);
        tracker.track('m2', new Track<string>(owner, 'item2', 'sh', 1, () => undefined));
        assert.equal(fns.size, 3, 'registered again');
        tracker.dispose();
        assert.equal(fns.size, 0);
    });

    it('adds postReceive once a tracked message reaches a node without done, and completes it there', async () => {
        const { hooks, fns, fire } = fakeHooks();
        const tracker = new MessageTracker(hooks);
        const finished: Array<Track<string>> = [];
        const owner = { failOnCatch: false, finished: (t: Track<string>) => finished.push(t), lost: () => assert.fail('nothing lost') };
        tracker.track('m1', new Track<string>(owner, 'item', 'sh', 1, () => undefined));
        fire('preDeliver', { msg: { _msgid: 'm1' }, destination: { id: 'a' } });
        const a = { type: 'function', _expectedDoneCount: 1 };
        fire('onReceive', { msg: { _msgid: 'm1' }, destination: { id: 'a', node: a } });
        fire('postReceive', { msg: { _msgid: 'm1' }, destination: { id: 'a', node: a } });
        assert.equal(fns.size, 3, 'a node with done: no postReceive');
        // a sends it on to an old-style node b (no done): b finishes it when its handler returns
        fire('preDeliver', { msg: { _msgid: 'm1' }, destination: { id: 'b' } });
        fire('onComplete', { msg: { _msgid: 'm1' }, node: { id: 'a' } });
        const b = { type: 'legacy', _expectedDoneCount: 0 };
        fire('onReceive', { msg: { _msgid: 'm1' }, destination: { id: 'b', node: b } });
        assert.equal(fns.size, 4, 'postReceive added');
        assert.equal(finished.length, 0, 'b is handling it');
        fire('postReceive', { msg: { _msgid: 'm1' }, destination: { id: 'b', node: b } });
        assert.equal(finished.length, 1);
        assert.equal(finished[0].error, undefined);
        await waitFor('hooks removed', () => fns.size === 0, 5000);
        tracker.track('m2', new Track<string>(owner, 'item2', 'sh', 1, () => undefined));
        assert.equal(fns.size, 3, 'registered again without postReceive');
        tracker.dispose();
        assert.equal(fns.size, 0);
    });
    it('a deploy that stops the node holding a copy: that record is lost (sent again), the others finish as usual', () => {
        const { hooks, fire, fns } = fakeHooks();
        const events = new EventEmitter();
        const live = new Map<string, object>([['a', { v: 1 }], ['b', { v: 1 }], ['c', { v: 1 }]]);
        const tracker = new MessageTracker(hooks, { events, getNode: (id) => live.get(id) });
        const finished: string[] = [];
        const lost: string[] = [];
        const owner = { failOnCatch: false, finished: (t: Track<string>) => finished.push(t.item), lost: (t: Track<string>) => lost.push(t.item) };
        for (const m of ['m1', 'm2', 'm3', 'm4']) tracker.track(m, new Track<string>(owner, m, 'sh', 1, () => undefined));
        const into = (m: string, id: string): void => {
            fire('preDeliver', { msg: { _msgid: m }, destination: { id } });
            fire('onReceive', { msg: { _msgid: m }, destination: { id, node: { type: 'function' } } });
        };
        into('m1', 'a'); // inside a: a is replaced by the deploy → lost
        into('m2', 'b'); // inside b: b stays → finishes later
        fire('preDeliver', { msg: { _msgid: 'm3' }, destination: { id: 'a' } }); // on its way to a → lost
        into('m4', 'a'); // fanned out: one copy in a (lost), one in b (still running)
        into('m4', 'b');
        events.emit('flows:stopping', { type: 'nodes' });
        // kinesis-in goes on sending while the deploy runs: m8 is routed to the old a, m9 (later) to the new one
        const oldA = live.get('a');
        tracker.track('m8', new Track<string>(owner, 'm8', 'sh', 1, () => undefined));
        fire('preDeliver', { msg: { _msgid: 'm8' }, destination: { id: 'a', node: oldA } });
        live.set('a', { v: 2 }); // a stopped and started again: a new object with the same id
        // m10 went nowhere while the deploy ran (Node-RED found no destination: no delivery, no hook)
        const m10 = new Track<string>(owner, 'm10', 'sh', 1, () => undefined);
        tracker.track('m10', m10);
        tracker.sent('m10', m10 as Track<unknown>);
        assert.ok(!finished.includes('m10'), 'not finished while the deploy runs');
        tracker.track('m9', new Track<string>(owner, 'm9', 'sh', 1, () => undefined));
        fire('preDeliver', { msg: { _msgid: 'm9' }, destination: { id: 'a', node: live.get('a') } });
        events.emit('flows:started', { type: 'nodes' });
        assert.deepEqual(lost.sort(), ['m1', 'm10', 'm3', 'm8'], 'the copies a held, the one sent to it and the one that went nowhere during the deploy, are gone');
        fire('onReceive', { msg: { _msgid: 'm9' }, destination: { id: 'a', node: { type: 'function' } } });
        fire('onComplete', { msg: { _msgid: 'm9' }, node: { id: 'a' } });
        assert.ok(finished.includes('m9'), 'sent to the new a: finishes as usual');
        finished.splice(finished.indexOf('m9'), 1);
        fire('onComplete', { msg: { _msgid: 'm2' }, node: { id: 'b' } });
        assert.deepEqual(finished, ['m2']);
        fire('onComplete', { msg: { _msgid: 'm4' }, node: { id: 'b' } });
        assert.deepEqual(lost.sort(), ['m1', 'm10', 'm3', 'm4', 'm8'], 'm4 lost its copy in a: not finished when b is done with the other');
        assert.deepEqual(finished, ['m2']);
        // a message that entered the new a after the deploy completes normally; a deploy that replaces nothing loses nothing
        tracker.track('m5', new Track<string>(owner, 'm5', 'sh', 1, () => undefined));
        into('m5', 'a');
        events.emit('flows:stopping', { type: 'nodes' });
        events.emit('flows:started', { type: 'nodes' });
        fire('onComplete', { msg: { _msgid: 'm5' }, node: { id: 'a' } });
        assert.deepEqual(finished, ['m2', 'm5']);
        // removed node (getNode undefined after the deploy) → lost; a node never found by id (subflow inside) → not judged
        tracker.track('m6', new Track<string>(owner, 'm6', 'sh', 1, () => undefined));
        tracker.track('m7', new Track<string>(owner, 'm7', 'sh', 1, () => undefined));
        into('m6', 'c');
        into('m7', 'sub-1-inner');
        events.emit('flows:stopping', { type: 'nodes' });
        live.delete('c');
        events.emit('flows:started', { type: 'nodes' });
        assert.deepEqual(lost.sort(), ['m1', 'm10', 'm3', 'm4', 'm6', 'm8']);
        fire('onComplete', { msg: { _msgid: 'm7' }, node: { id: 'sub-1-inner' } });
        assert.deepEqual(finished, ['m2', 'm5', 'm7']);
        // outside a deploy, a message that goes nowhere (nothing wired) is finished at once
        const m11 = new Track<string>(owner, 'm11', 'sh', 1, () => undefined);
        tracker.track('m11', m11);
        tracker.sent('m11', m11 as Track<unknown>);
        assert.ok(finished.includes('m11'));
        tracker.dispose();
        assert.equal(events.listenerCount('flows:stopping') + events.listenerCount('flows:started'), 0, 'listeners removed');
    });
    /** A fake Node-RED node object: running (an 'input' handler) until `close()` removes it, as Node.close does. */
    function fakeNode(type: string) {
        const n = { type, _inputCallback: (() => undefined) as unknown, _inputCallbacks: null as unknown, _expectedDoneCount: 1 };
        return { node: n, close: () => { n._inputCallback = null; n._inputCallbacks = null; } };
    }

    /** A tracker over fake hooks and a fake runtime whose nodes (id → object) the test starts, stops and closes. */
    function deployWorld() {
        const { hooks, fire, fns } = fakeHooks();
        const events = new EventEmitter();
        const live = new Map<string, object>();
        const tracker = new MessageTracker(hooks, { events, getNode: (id) => live.get(id) });
        const finished: string[] = [];
        const lost: string[] = [];
        const owner = { failOnCatch: false, finished: (t: Track<string>) => finished.push(t.item), lost: (t: Track<string>) => lost.push(t.item) };
        const other = { failOnCatch: false, finished: (t: Track<string>) => finished.push(t.item), lost: (t: Track<string>) => lost.push(t.item) };
        const send = (m: string, o = owner): Track<string> => {
            const t = new Track<string>(o, m, 'sh', 1, () => undefined);
            tracker.track(m, t);
            return t;
        };
        const deliver = (m: string, id: string): void => fire('preDeliver', { msg: { _msgid: m }, destination: { id, node: live.get(id) } });
        const into = (m: string, id: string): void => {
            deliver(m, id);
            fire('onReceive', { msg: { _msgid: m }, destination: { id, node: live.get(id) } });
        };
        return { tracker, events, live, fire, fns, owner, other, finished, lost, send, deliver, into };
    }

    it('allStranded: false outside a deploy; true once every copy is at a node the deploy stopped that finished closing', () => {
        const w = deployWorld();
        const delay = fakeNode('delay');
        w.live.set('delay', delay.node);
        for (const m of ['m1', 'm2']) w.send(m);
        w.into('m1', 'delay');
        w.deliver('m2', 'delay'); // on its way: delivered later (or never) to a closed node
        assert.equal(w.tracker.allStranded(w.owner), false, 'outside a deploy nothing is judged');
        w.events.emit('flows:stopping', { type: 'full' });
        assert.equal(w.tracker.allStranded(w.owner), false, 'the delay node still runs (its flow not stopped yet)');
        w.live.delete('delay'); // Flow.stop: no longer the runtime's node of that id, its close called
        assert.equal(w.tracker.allStranded(w.owner), false, 'stopped, but its close has not finished (input handler still there)');
        delay.close(); // Node.close: every close callback done → 'input' handlers removed
        assert.equal(w.tracker.allStranded(w.owner), true, 'every copy is at a stopped node that finished closing');
        // a message that went nowhere during the deploy can never finish either
        const m3 = w.send('m3');
        w.tracker.sent('m3', m3 as Track<unknown>);
        assert.equal(w.tracker.allStranded(w.owner), true);
        w.events.emit('flows:started', { type: 'full' });
        assert.equal(w.tracker.allStranded(w.owner), false, 'after the deploy: not judged');
        assert.deepEqual(w.finished, [], 'nothing counted as finished');
        w.tracker.dispose();
    });

    it('allStranded: waits for a node whose close still runs (kinesis-out flushing), a node that runs on, a node not found by id', () => {
        const w = deployWorld();
        const delay = fakeNode('delay');
        const out = fakeNode('kinesis-out');
        const other = fakeNode('function');
        for (const [id, n] of [['delay', delay], ['out', out], ['other', other]] as const) w.live.set(id, n.node);
        for (const m of ['m1', 'm2', 'm3', 'm4']) w.send(m);
        w.into('m1', 'delay');
        w.into('m2', 'out');
        w.into('m3', 'delay'); // fanned out: one copy in the delay node, one in a node of another flow
        w.into('m3', 'other');
        w.into('m4', 'sub-1-inner'); // inside a subflow instance: not found by id
        w.events.emit('flows:stopping', { type: 'flows' });
        // the delay node and kinesis-out are stopped; 'other' (another flow) runs on
        w.live.delete('delay');
        w.live.delete('out');
        delay.close();
        assert.equal(w.tracker.allStranded(w.owner), false, 'kinesis-out is still closing (its queue waits for PutRecords)');
        w.fire('onComplete', { msg: { _msgid: 'm2' }, node: { id: 'out' } }); // PutRecords answered: done
        out.close();
        assert.deepEqual(w.finished, ['m2'], 'finished, checkpointed as usual');
        assert.equal(w.tracker.allStranded(w.owner), false, "m3's other copy is in a node that keeps running");
        w.fire('onComplete', { msg: { _msgid: 'm3' }, node: { id: 'other' } });
        assert.deepEqual(w.finished, ['m2'], 'm3 still has its copy in the closed delay node');
        assert.equal(w.tracker.allStranded(w.owner), false, 'm4 is at a node that was never found by id: not judged, waited for');
        w.fire('onComplete', { msg: { _msgid: 'm4' }, node: { id: 'sub-1-inner' } });
        assert.equal(w.tracker.allStranded(w.owner), true, 'what is left (m1, m3) is held only by the closed delay node');
        w.tracker.dispose();
    });

    it('allStranded: copies delivered during the deploy are judged by the node object they went to; other owners do not count', () => {
        const w = deployWorld();
        const step = fakeNode('function');
        const delay = fakeNode('delay');
        const elsewhere = fakeNode('function');
        w.live.set('step', step.node);
        w.live.set('delay', delay.node);
        w.live.set('elsewhere', elsewhere.node);
        w.send('m1');
        w.into('m1', 'step');
        w.send('x1', w.other); // another kinesis-in's message, in a node that runs on
        w.into('x1', 'elsewhere');
        w.events.emit('flows:stopping', { type: 'flows' });
        // 'step' runs on (not part of the deploy) and passes m1 to the delay node, which is being stopped
        w.deliver('m1', 'delay');
        w.fire('onComplete', { msg: { _msgid: 'm1' }, node: { id: 'step' } });
        w.live.delete('delay');
        assert.equal(w.tracker.allStranded(w.owner), false, 'the delay node has not finished closing');
        delay.close();
        assert.equal(w.tracker.allStranded(w.owner), true, 'm1 is on its way to a closed node');
        assert.equal(w.tracker.allStranded(w.other), false, "the other kinesis-in's message is in a running node");
        // a stopped node of a runtime without Node-RED's input-handler fields: never taken as closed
        const odd = { type: 'odd' };
        w.live.set('odd', odd);
        w.send('m2');
        w.into('m2', 'odd');
        w.live.delete('odd');
        assert.equal(w.tracker.allStranded(w.owner), false, 'a node without _inputCallback: waited for, as before');
        w.tracker.dispose();
    });
    it('a stopped node that completes a message inside its close callback (a delay node clearing its queue) dropped it: lost, not finished', async () => {
        const w = deployWorld();
        const delay = fakeNode('delay');
        const out = fakeNode('kinesis-out');
        const stays = fakeNode('function');
        for (const [id, n] of [['delay', delay], ['out', out], ['stays', stays]] as const) w.live.set(id, n.node);
        for (const m of ['m1', 'm2', 'm3', 'm4']) w.send(m);
        w.into('m1', 'delay');
        w.into('m2', 'out');
        w.into('m3', 'stays');
        w.into('m4', 'delay'); // fanned out: one copy in the delay node, one in kinesis-out
        w.into('m4', 'out');
        const complete = (m: string, id: string, node: object): void => w.fire('onComplete', { msg: { _msgid: m }, node: { id, node } });
        // Node-RED: 'flows:stopping', then, synchronously, each stopped node's close callbacks
        w.events.emit('flows:stopping', { type: 'flows' });
        w.live.delete('delay');
        complete('m1', 'delay', delay.node); // clearDelayList: done() for every queued message
        complete('m4', 'delay', delay.node);
        delay.close();
        complete('m3', 'stays', stays.node); // a node the deploy did not stop: an ordinary completion
        w.live.delete('out'); // kinesis-out's close starts a flush
        assert.deepEqual(w.finished, ['m3']);
        assert.equal(w.tracker.allStranded(w.owner), false, 'm2 and m4 wait in kinesis-out, still closing');
        await Promise.resolve(); // the close callbacks have returned
        complete('m2', 'out', out.node); // PutRecords answered: processed, not dropped
        assert.deepEqual(w.finished, ['m3', 'm2'], 'a completion after the close callbacks returned is a completion');
        assert.equal(w.tracker.allStranded(w.owner), false, "m4's copy in kinesis-out can still finish");
        complete('m4', 'out', out.node);
        out.close();
        assert.deepEqual(w.finished, ['m3', 'm2'], 'm4 lost its copy in the delay node: not finished');
        assert.equal(w.tracker.allStranded(w.owner), true, 'm1 and m4 were dropped: nothing left can finish');
        w.events.emit('flows:started', { type: 'flows' });
        assert.deepEqual(w.lost.sort(), ['m1', 'm4'], 'sent again when kinesis-in kept running');
        // outside a deploy a completion is a completion, whatever the node
        w.send('m5');
        w.into('m5', 'stays');
        complete('m5', 'stays', {});
        assert.deepEqual(w.finished, ['m3', 'm2', 'm5']);
        w.tracker.dispose();
    });
    it('a send during a deploy to a node the deploy took out (a stopped converter sending on while it closes): lost, not finished', async () => {
        const w = deployWorld();
        const conv = fakeNode('kinesis-convert');
        const next = fakeNode('file');
        for (const [id, n] of [['conv', conv], ['next', next]] as const) w.live.set(id, n.node);
        for (const m of ['m1', 'm2', 'm3']) w.send(m);
        w.into('m1', 'conv');
        w.into('m2', 'conv');
        w.into('m3', 'conv');
        const hooked = (kind: string): boolean => [...w.fns.keys()].some((k) => k.startsWith(`${kind}.`));
        assert.equal(hooked('preRoute'), false, 'no preRoute hook outside a deploy');
        // a send outside a deploy: routed and delivered as usual
        w.fire('preRoute', { msg: { _msgid: 'm1' }, destination: { id: 'next' } });
        w.into('m1', 'next');
        w.fire('onComplete', { msg: { _msgid: 'm1' }, node: { id: 'conv', node: conv.node } });
        w.fire('onComplete', { msg: { _msgid: 'm1' }, node: { id: 'next', node: next.node } });
        assert.deepEqual(w.finished, ['m1']);
        w.events.emit('flows:stopping', { type: 'full' });
        assert.equal(hooked('preRoute'), true, 'preRoute while the deploy runs');
        // Flow.stop: both nodes out of the runtime; the converter's close converts what it held and sends it on
        w.live.delete('conv');
        w.live.delete('next');
        await Promise.resolve(); // after the close callbacks returned: the converter's runner answered
        w.fire('preRoute', { msg: { _msgid: 'm2' }, destination: { id: 'next' } }); // Node-RED drops it: no preDeliver
        w.fire('onComplete', { msg: { _msgid: 'm2' }, node: { id: 'conv', node: conv.node } });
        assert.deepEqual(w.lost, ['m2'], 'the copy went nowhere: the record did not finish');
        // a destination that runs (another flow): an ordinary delivery
        const other = fakeNode('function');
        w.live.set('other', other.node);
        w.fire('preRoute', { msg: { _msgid: 'm3' }, destination: { id: 'other' } });
        w.into('m3', 'other');
        w.fire('onComplete', { msg: { _msgid: 'm3' }, node: { id: 'conv', node: conv.node } });
        w.fire('onComplete', { msg: { _msgid: 'm3' }, node: { id: 'other', node: other.node } });
        assert.deepEqual(w.finished, ['m1', 'm3'], 'delivered to a running node and completed there: finished');
        w.events.emit('flows:started', { type: 'full' });
        assert.equal(hooked('preRoute'), false, 'preRoute removed once the new flows started');
        assert.deepEqual(w.lost, ['m2']);
        w.tracker.dispose();
    });
});
