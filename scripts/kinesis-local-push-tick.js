'use strict';
/**
 * Preloaded into kinesis-local by the benchmark only (`node --require scripts/kinesis-local-push-tick.js …`,
 * KINESIS_LOCAL_PUSH_TICK_MS=n): kinesis-local (kinesis-mock built with Scala.js) serves SubscribeToShard by
 * looking at the shard once a SECOND (`fs2.Stream` tick of `1.second` in SubscribeToShardRequest's
 * subscriptionStream) and pushing what is new. That tick, not the reader, sets the put → event latency
 * (0–1 s, median ~500 ms, whoever reads); real Kinesis pushes records as they arrive. This preload rewrites
 * that one duration in the code as it is compiled (`1` SECONDS → `n` MILLISECONDS) so the EFO latency
 * benchmark measures the client, not the mock. Nothing else of kinesis-local changes.
 *
 * It fails the server's start, loudly, when the text it rewrites is not found exactly once inside that
 * function (another kinesis-local build): a benchmark must not silently measure the stock tick.
 */
const Module = require('node:module');
const path = require('node:path');

const ms = Number(process.env.KINESIS_LOCAL_PUSH_TICK_MS);
if (!Number.isInteger(ms) || ms < 1 || ms > 1000) {
    throw new Error(`kinesis-local-push-tick: KINESIS_LOCAL_PUSH_TICK_MS must be an integer 1…1000, got ${JSON.stringify(process.env.KINESIS_LOCAL_PUSH_TICK_MS)}`);
}

const FUNCTION = 'function $p_Lkinesis_mock_api_SubscribeToShardRequest__subscriptionStream__';
// java.util.concurrent.TimeUnit$: xy NANOSECONDS, AD MICROSECONDS, Ir MILLISECONDS, nz SECONDS (constructor order)
const STOCK = 'new $c_s_concurrent_duration_package$DurationInt(1);\n    var unit = $m_ju_concurrent_TimeUnit$().nz;';
const FAST = `new $c_s_concurrent_duration_package$DurationInt(${ms});\n    var unit = $m_ju_concurrent_TimeUnit$().Ir;`;

/** The source with the tick rewritten; throws when the function or its one tick is not where expected. */
function rewrite(source) {
    const start = source.indexOf(FUNCTION);
    if (start < 0 || source.indexOf(FUNCTION, start + 1) >= 0) throw new Error('kinesis-local-push-tick: SubscribeToShard subscriptionStream not found once in kinesis-local');
    const end = source.indexOf('\nfunction ', start + FUNCTION.length);
    const body = source.slice(start, end < 0 ? source.length : end);
    const at = body.indexOf(STOCK);
    if (at < 0 || body.indexOf(STOCK, at + 1) >= 0) throw new Error('kinesis-local-push-tick: the 1-second tick not found once in subscriptionStream (another kinesis-local build?)');
    return source.slice(0, start + at) + FAST + source.slice(start + at + STOCK.length);
}

const compile = Module.prototype._compile;
let done = false;
Module.prototype._compile = function pushTickCompile(content, filename) {
    if (!done && path.basename(filename) === 'main.js' && path.basename(path.dirname(filename)) === 'kinesis-local') {
        done = true;
        Module.prototype._compile = compile;
        return compile.call(this, rewrite(content), filename);
    }
    return compile.call(this, content, filename);
};

module.exports = { rewrite };
