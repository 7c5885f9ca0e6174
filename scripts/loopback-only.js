'use strict';
/**
 * Preloaded into kinesis-local (`node --require scripts/loopback-only.js …`): it listens on 0.0.0.0
 * (hard-coded, no setting), so every `server.listen()` in that process is made to bind loopback only
 * — a developer's local stack takes any credentials and must not be reachable from the network.
 * LOCAL_STACK_HOST overrides the address (default 127.0.0.1).
 */
const net = require('node:net');

const HOST = process.env.LOCAL_STACK_HOST || '127.0.0.1';
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function loopbackListen(...args) {
    const first = args[0];
    if (first && typeof first === 'object' && first.path === undefined && first.fd === undefined && first._handle === undefined && first.handle === undefined) {
        args[0] = { ...first, host: HOST }; // listen({port, host, …})
    } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
        if (typeof args[1] === 'string') args[1] = HOST; // listen(port, host, …)
        else args.splice(1, 0, HOST); // listen(port[, backlog][, cb])
    }
    return listen.apply(this, args);
};
